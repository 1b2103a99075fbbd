"""Login, signup and invite pages, and deep links that must survive a reload."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import DEMO_PASSWORD, GLOBEX, TandemProcess, login, screenshot


def new_page(browser) -> Page:
    return browser.new_context(viewport={"width": 1280, "height": 800}).new_page()


def test_login_shows_an_error_for_a_bad_password_and_signs_in_with_the_right_one(
    browser, demo_server: TandemProcess
) -> None:
    page = new_page(browser)
    page.goto(demo_server.url + "/login")
    page.get_by_test_id("login-email").fill("ada@example.com")
    screenshot(page, "login")

    page.get_by_test_id("login-password").fill("not-her-password")
    page.get_by_test_id("login-submit").click()
    error = page.get_by_test_id("login-error")
    expect(error).to_be_visible()
    wrong_password = error.inner_text()
    assert wrong_password.strip()
    expect(page).to_have_url(re.compile(r"/login$"))
    assert page.evaluate("localStorage.getItem('tandem.accessToken')") is None

    # An unknown email gets the very same answer: the page does not tell who has an account.
    page.get_by_test_id("login-email").fill("nobody@example.com")
    page.get_by_test_id("login-submit").click()
    expect(error).to_have_text(wrong_password)

    page.get_by_test_id("login-email").fill("ada@example.com")
    page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url("**/dashboard")
    expect(page.get_by_test_id("org-name")).to_have_text("Acme Robotics")
    expect(page.get_by_test_id("login-error")).to_have_count(0)
    page.context.close()


def test_signup_errors_then_a_new_account_creates_its_organization(
    browser, demo_server: TandemProcess
) -> None:
    page = new_page(browser)
    page.goto(demo_server.url + "/signup")
    page.get_by_test_id("signup-name").fill("Dorothy Vaughan")
    page.get_by_test_id("signup-email").fill("dorothy@example.com")
    screenshot(page, "signup")

    # Too short a password is refused by the form itself; a taken email by the server.
    page.get_by_test_id("signup-password").fill("short")
    page.get_by_test_id("signup-submit").click()
    assert page.get_by_test_id("signup-password").evaluate("el => el.validity.tooShort")
    expect(page).to_have_url(re.compile(r"/signup$"))
    page.get_by_test_id("signup-email").fill("ada@example.com")
    page.get_by_test_id("signup-password").fill("a-good-password")
    page.get_by_test_id("signup-submit").click()
    expect(page.get_by_test_id("signup-error")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/signup$"))

    page.get_by_test_id("signup-email").fill("dorothy@example.com")
    page.get_by_test_id("signup-submit").click()
    page.wait_for_url("**/dashboard")
    # A new account is in no organization: the dashboard offers to create one.
    expect(page.get_by_test_id("no-org")).to_be_visible()
    page.get_by_test_id("create-org-name").fill("Langley Computing")
    page.get_by_test_id("create-org-submit").click()
    expect(page.get_by_test_id("org-name")).to_have_text("Langley Computing")
    rows = page.locator("[data-testid^='member-row-']")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Dorothy Vaughan")
    expect(rows.first.locator("[data-role]")).to_have_attribute("data-role", "Owner")
    page.context.close()


def test_deep_links_work_on_reload(browser, demo_server: TandemProcess) -> None:
    url = demo_server.url
    # Not signed in: the dashboard sends you to log in, and back afterwards.
    page = new_page(browser)
    page.goto(url + "/dashboard?sort=email&dir=desc")
    page.wait_for_url(re.compile(r"/login\?next="))
    page.get_by_test_id("login-email").fill("grace@example.com")
    page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(re.compile(r"/dashboard\?sort=email&dir=desc$"))
    emails = page.locator("[data-testid^='member-row-'] td.col-email")
    expect(emails.first).to_have_text("tim@example.com")

    # A reload of the deep link keeps the page, the session and the view.
    page.reload()
    expect(page).to_have_url(re.compile(r"/dashboard\?sort=email&dir=desc$"))
    expect(emails.first).to_have_text("tim@example.com")
    assert emails.all_inner_texts() == sorted(emails.all_inner_texts(), reverse=True)
    expect(page.get_by_test_id("sort-email").locator("xpath=..")).to_have_attribute(
        "aria-sort", "descending"
    )

    # An unknown page inside the app says so (and is still the app, with its header).
    page.goto(url + "/no-such-page")
    expect(page.get_by_test_id("not-found")).to_be_visible()
    expect(page.get_by_test_id("org-switcher")).to_be_visible()
    page.context.close()

    # Invite links: a bad one says so on load and on reload; a good one shows its offer.
    page = new_page(browser)
    page.goto(url + "/invite/x")
    expect(page.get_by_test_id("invite-error")).to_be_visible()
    page.reload()
    expect(page.get_by_test_id("invite-error")).to_be_visible()
    with demo_server.api("hank@example.com") as hank:
        token = hank.post(
            f"/api/orgs/{GLOBEX}/invites", json={"email": "annie@example.com", "role": "Guest"}
        ).json()["invite"]["token"]
    page.goto(f"{url}/invite/{token}")
    expect(page.get_by_test_id("invite-org")).to_have_text("Globex Corporation")
    page.reload()
    expect(page.get_by_test_id("invite-role")).to_have_text("Guest")
    expect(page.get_by_test_id("invite-login")).to_be_visible()
    page.context.close()

    # Signed in, logging out ends the session: the dashboard asks to log in again.
    page = login(browser, demo_server, "alan@example.com")
    page.get_by_test_id("logout").click()
    page.wait_for_url(re.compile(r"/login"))
    page.goto(url + "/dashboard")
    page.wait_for_url(re.compile(r"/login\?next="))
    page.context.close()
