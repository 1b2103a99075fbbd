"""The project page, live for three people in three browsers: Ada (the Owner) edits the description
and the status and adds a member, and Grace's page shows each within 2 s; a task moved to the last
column changes Grace's counters; Barbara, a Guest taken off the project, is told she no longer has
access; archiving the project makes Grace's open board read-only. It fits a 390 px phone."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.conftest import TandemProcess, login, screenshot

ROVER = "p_demorover"  # Grace leads it; Linus contributes; Barbara (a Guest) only views it
LIVE_MS = 2_000
COUNTERS_MS = 3_000  # the counters go out at most once a second
PHONE = (390, 844)


def open_project(browser: Any, tandem: TandemProcess, email: str, *, viewport=(1280, 900)) -> Page:
    """Signs `email` in, opens Rover's page and waits until it is loaded and live."""
    page = login(browser, tandem, email, viewport=viewport)
    page.goto(f"{tandem.url}/projects/{ROVER}")
    page.get_by_test_id("project-page").wait_for(timeout=10_000)
    expect(page.get_by_test_id("connection-indicator")).to_have_attribute(
        "data-state", "live", timeout=10_000
    )
    return page


def member(page: Page, user_id: str):
    return page.locator(f"[data-testid='project-member'][data-user-id='{user_id}']")


def a_task_not_done(tandem: TandemProcess) -> tuple[str, str]:
    """A task of Rover outside its last column, and that column's name."""
    with tandem.api("ada@example.com") as api:
        r = api.get(f"/api/projects/{ROVER}/board")
        r.raise_for_status()
        columns = r.json()["columns"]
    last = columns[-1]["name"]
    task = next(t["id"] for c in columns[:-1] for t in c["tasks"])
    return task, last


def test_the_project_page_is_live_for_the_others(browser, tandem: TandemProcess) -> None:
    ids = tandem.member_ids()
    # The projects list opens the page by the project's name; its board stays one click away.
    ada = login(browser, tandem, "ada@example.com")
    ada.goto(f"{tandem.url}/projects")
    item = ada.locator(f"[data-testid='project-item'][data-project-id='{ROVER}']")
    expect(item.get_by_test_id("project-board-link")).to_have_attribute(
        "href", f"/projects/{ROVER}/board"
    )
    item.get_by_test_id("project-link").click()
    ada.wait_for_url(f"**/projects/{ROVER}")
    ada.get_by_test_id("project-page").wait_for(timeout=10_000)
    expect(ada.get_by_test_id("project-page")).to_have_attribute("data-can-manage", "true")
    grace = open_project(browser, tandem, "grace@example.com")
    barbara = open_project(browser, tandem, "barbara@example.com")
    expect(barbara.get_by_test_id("project-page")).to_have_attribute("data-can-manage", "false")
    expect(barbara.get_by_test_id("project-description-edit")).to_have_count(0)
    expect(barbara.get_by_test_id("project-member-remove")).to_have_count(0)
    expect(ada.get_by_test_id("connection-indicator")).to_have_attribute(
        "data-state", "live", timeout=10_000
    )

    # The description, in Markdown rendered safely.
    ada.get_by_test_id("project-description-edit").click()
    ada.get_by_test_id("project-description-input").fill(
        "Reach the **ridge** by spring <img src=x onerror=alert(1)>"
    )
    ada.get_by_test_id("project-description-save").click()
    text = grace.get_by_test_id("project-description-text")
    expect(text).to_contain_text("Reach the ridge by spring", timeout=LIVE_MS)
    expect(text.locator("strong", has_text="ridge")).to_be_visible()
    expect(text.locator("img, [onerror]")).to_have_count(0)

    # The status.
    ada.get_by_test_id("project-status").select_option("on_hold")
    expect(grace.get_by_test_id("project-status-pill")).to_have_text("On hold", timeout=LIVE_MS)
    expect(barbara.get_by_test_id("project-status")).to_have_text("On hold", timeout=LIVE_MS)

    # A member.
    margaret = ids["margaret@example.com"]
    ada.get_by_test_id("project-add-person").select_option(margaret)
    ada.get_by_test_id("project-add-role").select_option("Contributor")
    ada.get_by_test_id("project-add-submit").click()
    expect(member(grace, margaret)).to_have_attribute("data-role", "Contributor", timeout=LIVE_MS)
    member(ada, margaret).get_by_test_id("project-member-role").select_option("Viewer")
    expect(member(grace, margaret)).to_have_attribute("data-role", "Viewer", timeout=LIVE_MS)

    # A task moved to the last column on the board: the counters follow.
    done_before = int(grace.get_by_test_id("project-done").inner_text())
    task_id, last = a_task_not_done(tandem)
    with tandem.api("linus@example.com") as api:
        api.post(f"/api/tasks/{task_id}/move", json={"toColumn": last}).raise_for_status()
    expect(grace.get_by_test_id("project-done")).to_have_text(
        str(done_before + 1), timeout=COUNTERS_MS
    )
    expect(
        grace.locator(f"[data-testid='project-column-count'][data-column='{last}'] strong")
    ).not_to_have_text("0")

    # A file attached to a task shows with its task, and follows the task's new title.
    with tandem.api("linus@example.com") as api:
        api.post(
            f"/api/tasks/{task_id}/attachments",
            files={"file": ("wheel-test.txt", b"torque ok", "text/plain")},
        ).raise_for_status()
        api.patch(f"/api/tasks/{task_id}", json={"changes": {"title": "Wheel torque test"}})
    row = grace.get_by_test_id("project-file").filter(has_text="wheel-test.txt")
    expect(row.get_by_test_id("project-file-task")).to_have_text(
        "Wheel torque test", timeout=LIVE_MS
    )
    expect(row.get_by_test_id("project-file-task")).to_have_attribute("href", f"/tasks/{task_id}")
    expect(row).to_contain_text("Linus Torvalds")
    with grace.expect_download() as download:
        row.get_by_test_id("project-file-download").click()
    assert download.value.suggested_filename == "wheel-test.txt"

    # A plain description again, for the picture.
    ada.get_by_test_id("project-description-edit").click()
    ada.get_by_test_id("project-description-input").fill(
        "Flight software for the next rover: **drivers**, telemetry and autonomy."
    )
    ada.get_by_test_id("project-description-save").click()
    expect(text).to_contain_text("telemetry and autonomy", timeout=LIVE_MS)
    screenshot(grace, "project")

    # Barbara, a Guest, is taken off the project: her open page says so.
    member(ada, ids["barbara@example.com"]).get_by_test_id("project-member-remove").click()
    expect(member(grace, ids["barbara@example.com"])).to_have_count(0, timeout=LIVE_MS)
    lost = barbara.get_by_test_id("project-unavailable")
    expect(lost).to_contain_text("You no longer have access to this project", timeout=LIVE_MS)
    expect(lost.get_by_role("link", name="Go to the projects")).to_be_visible()

    # Archived: Grace's open board turns read-only, live.
    grace.get_by_test_id("project-board-link").click()
    grace.wait_for_url(f"**/projects/{ROVER}/board")
    expect(grace.get_by_test_id("board-page")).to_have_attribute("data-can-edit", "true")
    expect(grace.get_by_test_id("add-bottom").first).to_be_visible(timeout=10_000)
    expect(grace.get_by_test_id("board-project-link")).to_have_attribute(
        "href", f"/projects/{ROVER}"
    )
    ada.get_by_test_id("project-status").select_option("archived")
    expect(ada.get_by_test_id("project-archived")).to_be_visible(timeout=LIVE_MS)
    expect(grace.get_by_test_id("board-archived")).to_have_text(
        "Archived — read-only", timeout=LIVE_MS
    )
    expect(grace.get_by_test_id("board-page")).to_have_attribute("data-can-edit", "false")
    for testid in ("add-bottom", "add-top", "card-edit", "card-delete", "undo"):
        expect(grace.get_by_test_id(testid)).to_have_count(0)
    # And the server refuses a task write all the same.
    with tandem.api("grace@example.com") as api:
        r = api.patch(f"/api/tasks/{task_id}", json={"changes": {"title": "Nope"}})
        assert r.status_code == 409, r.text


def test_the_project_page_fits_a_phone(browser, demo_server: TandemProcess) -> None:
    page = open_project(browser, demo_server, "grace@example.com", viewport=PHONE)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE[0], f"the page is {width} px wide on a {PHONE[0]} px screen"
    for testid in (
        "project-name",
        "project-status",
        "project-due",
        "project-board-link",
        "project-description-edit",
        "project-open",
        "project-due-chart",
        "project-add-person",
    ):
        target = page.get_by_test_id(testid)
        target.scroll_into_view_if_needed()
        box = target.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE[0], testid
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "project-phone")
