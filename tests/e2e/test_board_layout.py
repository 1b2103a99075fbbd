"""The board on a phone (390 px: columns side by side that scroll and snap, no page-wide
sideways scroll), read-only for a project's Viewer, its screenshots, and what it costs the
browser: the render of a 500-card board and the main-thread time of a burst of 100 events."""

from __future__ import annotations

import time

from playwright.sync_api import FloatRect, Page, expect

from tests.e2e.conftest import TandemProcess, screenshot
from tests.e2e.test_board import WEBSITE, card, first_in, open_board

PHONE = (390, 844)
HOOKS = "localStorage.setItem('tandem.testHooks', '1')"


def _box(page: Page, selector: str) -> FloatRect:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not rendered"
    return box


def test_the_board_fits_a_phone_and_scrolls_sideways_column_by_column(
    browser, tandem: TandemProcess
) -> None:
    page = open_board(browser, tandem, "ada@example.com", viewport=PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE[0]
    columns = page.get_by_test_id("board-columns")
    assert columns.evaluate("el => getComputedStyle(el).scrollSnapType") == "x mandatory"
    assert columns.evaluate("el => el.scrollWidth > el.clientWidth")
    first = _box(page, "[data-testid=board-column]")
    assert first["x"] >= 0 and first["x"] + first["width"] <= PHONE[0]
    for test_id in ("filter-text", "filter-assignee", "filter-priority", "undo", "redo"):
        box = page.get_by_test_id(test_id).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE[0], test_id
    screenshot(page, "board-phone")

    # One swipe's worth of scrolling snaps the next column to the edge.
    columns.evaluate("el => el.scrollBy({ left: 120, behavior: 'instant' })")
    page.wait_for_timeout(400)
    second = _box(page, "[data-testid=board-column] >> nth=1")
    assert abs(second["x"] - first["x"]) < 4, f"the second column sits at {second['x']}"

    # Editing a card works at this width too.
    task_id = first_in(page, "In Progress")
    card(page, task_id).get_by_test_id("card-edit").click()
    editor = card(page, task_id).get_by_test_id("card-editor")
    box = editor.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE[0]
    editor.get_by_test_id("edit-priority").select_option("Urgent")
    editor.get_by_test_id("edit-save").click()
    expect(card(page, task_id).get_by_test_id("card-priority")).to_have_text("Urgent")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE[0]
    page.context.close()


def test_a_wide_screenshot_of_the_board(browser, tandem: TandemProcess) -> None:
    ada = open_board(browser, tandem, "ada@example.com")
    grace = open_board(browser, tandem, "grace@example.com")
    # Grace edits a card so the picture shows who edits what.
    task_id = first_in(grace, "In Progress")
    card(grace, task_id).get_by_test_id("card-edit").click()
    expect(card(ada, task_id).get_by_test_id("card-typing-hint")).to_be_visible(timeout=3_000)
    columns = ada.get_by_test_id("board-column")
    expect(columns).to_have_count(4)
    for i in range(4):
        box = columns.nth(i).bounding_box()
        assert box and box["x"] + box["width"] <= 1280, "all four columns fit at 1280 px"
    screenshot(ada, "board")
    ada.context.close()
    grace.context.close()


def test_a_viewer_sees_a_read_only_board(browser, tandem: TandemProcess) -> None:
    page = open_board(browser, tandem, "katherine@example.com", WEBSITE)
    board = page.get_by_test_id("board-page")
    expect(board).to_have_attribute("data-can-edit", "false")
    expect(page.get_by_test_id("read-only")).to_be_visible()
    for test_id in ("add-top", "add-bottom", "card-edit", "card-delete", "undo"):
        expect(page.get_by_test_id(test_id)).to_have_count(0)
    task_id = first_in(page, "To Do")
    card(page, task_id).focus()
    page.keyboard.press("Alt+ArrowRight")
    page.wait_for_timeout(500)
    expect(page.locator(f"[data-column='To Do'] [data-task-id='{task_id}']")).to_be_visible()
    # The card still leads to the task's page.
    expect(card(page, task_id).get_by_test_id("card-title")).to_have_attribute(
        "href", f"/tasks/{task_id}"
    )
    page.context.close()


def test_measure_a_500_card_board_and_a_burst_of_100_events(browser, tandem: TandemProcess) -> None:
    with tandem.api("ada@example.com") as api:
        r = api.post("/api/orgs/org_acme/projects", json={"name": "Five hundred"})
        r.raise_for_status()
        project_id = r.json()["project"]["id"]
        columns = r.json()["project"]["columns"]
        started = time.monotonic()
        for i in range(500):
            body = {"title": f"Card {i:03d}", "status": columns[i % len(columns)]}
            api.post(f"/api/projects/{project_id}/tasks", json=body).raise_for_status()
        print(f"\ncreated 500 tasks over REST in {time.monotonic() - started:.1f} s")

    page = open_board(browser, tandem, "ada@example.com", project_id, init_script=HOOKS)
    expect(page.get_by_test_id("board-card")).to_have_count(500, timeout=10_000)
    page.wait_for_function("window.__tandemBoard && window.__tandemBoard.renderMs !== null")
    render_ms = page.evaluate("window.__tandemBoard.renderMs")
    print(f"500-card board: {render_ms:.1f} ms from snapshot to cards in the DOM")
    # Joining the room can fetch the board once more (its hints may be older than the join); a
    # synthetic burst applied before that snapshot lands would be replaced by it.
    page.wait_for_load_state("networkidle")
    bursts = [page.evaluate("window.__tandemBoard.burst(100)") for _ in range(5)]
    for b in bursts:
        print(
            f"burst of 100 events: {b['applyMs']:.1f} ms to apply, {b['totalMs']:.1f} ms"
            " with the render"
        )
    assert render_ms < 1_000, "a 500-card board should render well within a second"
    # Each burst renames the same 100 cards (the board's first hundred tasks): right after it is
    # rendered, a hundred titles end in "#n" and the other four hundred are untouched.
    assert [b["renamed"] for b in bursts] == [100] * 5
    page.context.close()
