"""The dashboard on a 390 px wide phone: no sideways scrolling, and every control within reach."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import TandemProcess, login, screenshot

PHONE = (390, 844)


def _within_width(page: Page, test_id: str) -> None:
    box = page.get_by_test_id(test_id).bounding_box()
    assert box is not None, f"{test_id} is not rendered"
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE[0], f"{test_id} sticks out: {box}"


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE[0], f"the page is {width} px wide on a {PHONE[0]} px screen"


def test_the_dashboard_fits_a_phone_and_its_controls_work(browser, tandem: TandemProcess) -> None:
    ids = tandem.member_ids()
    page = login(browser, tandem, "ada@example.com", viewport=PHONE)
    page.locator("[data-testid^='member-row-']").first.wait_for()
    expect(page.get_by_test_id("connection-indicator")).to_have_attribute(
        "data-state", "live", timeout=10_000
    )
    _no_sideways_scroll(page)
    for test_id in (
        "org-switcher",
        "nav-dashboard",
        "connection-indicator",
        "logout",
        "invite-button",
        "members-filter",
        "members-role-filter",
        f"member-row-{ids['katherine@example.com']}",
    ):
        expect(page.get_by_test_id(test_id)).to_be_visible()
        _within_width(page, test_id)
    expect(page.get_by_test_id("kpi-open")).to_be_visible()
    for test_id in ("kpi-open", "kpi-projects", "chart-burndown", "chart-assignees"):
        _within_width(page, test_id)
    screenshot(page, "dashboard-phone-top")
    page.get_by_test_id("members-filter").scroll_into_view_if_needed()
    screenshot(page, "dashboard-phone")

    # A role changes from the phone, and comes back through the live table.
    katherine = ids["katherine@example.com"]
    select = page.get_by_test_id(f"role-select-{katherine}")
    select.scroll_into_view_if_needed()
    _within_width(page, f"role-select-{katherine}")
    select.select_option("Admin")
    expect(page.get_by_test_id(f"member-role-{katherine}")).to_have_attribute(
        "data-role", "Admin", timeout=5_000
    )
    # Ada is the only Owner: her own role is shown but not offered.
    expect(page.get_by_test_id(f"role-select-{ids['ada@example.com']}")).to_be_disabled()

    # The invite dialog opens within the screen and creates a link.
    page.get_by_test_id("invite-button").click()
    dialog = page.get_by_test_id("invite-dialog")
    expect(dialog).to_be_visible()
    _within_width(page, "invite-dialog")
    dialog.get_by_test_id("invite-email").fill("rosalind@example.com")
    dialog.get_by_test_id("invite-submit").click()
    expect(dialog.get_by_test_id("invite-link")).to_be_visible()
    _within_width(page, "invite-link")
    page.keyboard.press("Escape")
    _no_sideways_scroll(page)
    page.context.close()
