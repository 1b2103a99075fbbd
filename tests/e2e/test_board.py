"""The Kanban board, two people on one demo board in two browsers: a drag by one shows for the
other within 2 s, keyboard moves, conflicting edits toast on both sides, undo and redo, and the
other's drag and edit hints, which appear and then go away by themselves.

The helpers at the top are shared with test_board_layout.py."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.conftest import TandemProcess, login

ROVER = "p_demorover"  # Grace leads it; Ada (Owner) and Linus edit it; Barbara only views it
WEBSITE = "p_demowebsite"  # Katherine is one of its Viewers


def open_board(
    browser: Any,
    tandem: TandemProcess,
    email: str,
    project: str = ROVER,
    *,
    viewport: tuple[int, int] = (1280, 800),
    init_script: str | None = None,
) -> Page:
    """Signs `email` in, opens the project's board and waits until it is loaded and live."""
    page = login(browser, tandem, email, viewport=viewport, init_script=init_script)
    page.goto(f"{tandem.url}/projects/{project}/board")
    page.get_by_test_id("board-card").first.wait_for(timeout=10_000)
    expect(page.get_by_test_id("connection-indicator")).to_have_attribute(
        "data-state", "live", timeout=10_000
    )
    return page


def card(page: Page, task_id: str):
    return page.locator(f"[data-testid=board-card][data-task-id='{task_id}']")


def column_cards(page: Page, column: str):
    return page.locator(
        f"[data-testid=board-cards][data-column='{column}'] [data-testid=board-card]"
    )


def ids_in(page: Page, column: str) -> list[str]:
    return [el.get_attribute("data-task-id") or "" for el in column_cards(page, column).all()]


def first_in(page: Page, column: str) -> str:
    task_id = column_cards(page, column).first.get_attribute("data-task-id")
    assert task_id
    return task_id


def expect_in_column(page: Page, task_id: str, column: str, timeout: float = 5_000) -> None:
    expect(
        page.locator(
            f"[data-testid=board-cards][data-column='{column}'] [data-task-id='{task_id}']"
        )
    ).to_be_visible(timeout=timeout)


def start_drag(page: Page, task_id: str, to_column: str) -> None:
    """Picks a card up and carries it over the end of `to_column`, without dropping it."""
    source = card(page, task_id).locator(".board-card-meta")
    target = page.locator(f"[data-testid=board-cards][data-column='{to_column}']")
    s = source.bounding_box()
    t = target.bounding_box()
    assert s and t
    x, y = s["x"] + 30, s["y"] + s["height"] / 2
    tx, ty = t["x"] + t["width"] / 2, t["y"] + t["height"] - 12
    page.mouse.move(x, y)
    page.mouse.down()
    steps = 12
    for i in range(1, steps + 1):
        page.mouse.move(x + (tx - x) * i / steps, y + (ty - y) * i / steps)
        page.wait_for_timeout(16)


def watch_drop(page: Page, task_id: str, column: str) -> None:
    """Notes when the pointer is released and when the card first shows in `column`."""
    page.evaluate(
        """([id, column]) => {
          window.__drop = {};
          document.addEventListener('pointerup', () => (window.__drop.up = performance.now()),
            { capture: true, once: true });
          const found = () => document.querySelector(
            `[data-testid=board-cards][data-column="${column}"] [data-task-id="${id}"]`);
          new MutationObserver((_, observer) => {
            if (window.__drop.up !== undefined && found()) {
              window.__drop.shown = performance.now();
              observer.disconnect();
            }
          }).observe(document.body, { subtree: true, childList: true, attributes: true });
        }""",
        [task_id, column],
    )


def drop_feedback_ms(page: Page) -> float:
    page.wait_for_function("window.__drop && window.__drop.shown !== undefined", timeout=2_000)
    return float(page.evaluate("window.__drop.shown - window.__drop.up"))


def toasts(page: Page) -> list[str]:
    return page.get_by_test_id("toast").all_inner_texts()


def test_a_drag_shows_at_once_locks_the_card_for_the_other_and_lands_on_both_boards(
    browser, tandem: TandemProcess
) -> None:
    ada = open_board(browser, tandem, "ada@example.com")
    grace = open_board(browser, tandem, "grace@example.com")
    task_id = first_in(ada, "To Do")
    reviews_before = int(ada.get_by_test_id("column-count").nth(2).get_attribute("data-count") or 0)

    start_drag(ada, task_id, "Review")
    # While Ada drags, Grace sees whose hand the card is in.
    hint = card(grace, task_id).get_by_test_id("card-lock-hint")
    expect(hint).to_contain_text("Ada Lovelace is moving this", timeout=3_000)
    expect(card(grace, task_id)).to_have_class(re.compile("board-card-locked"))

    watch_drop(ada, task_id, "Review")
    ada.mouse.up()
    feedback = drop_feedback_ms(ada)
    print(
        f"\nlocal drag feedback: {feedback:.1f} ms from pointer release to the card in its column"
    )
    assert feedback < 250, f"the drop took {feedback:.0f} ms to show"

    started = time.monotonic()
    expect_in_column(grace, task_id, "Review", timeout=2_000)
    print(f"the other board showed the move after {(time.monotonic() - started) * 1000:.0f} ms")
    for page in (ada, grace):
        expect(page.locator("[data-column='Review'] [data-testid=column-count]")).to_have_attribute(
            "data-count", str(reviews_before + 1)
        )
    # The drop released the lock.
    expect(card(grace, task_id).get_by_test_id("card-lock-hint")).to_have_count(0, timeout=3_000)
    with tandem.api("grace@example.com") as api:
        assert api.get(f"/api/tasks/{task_id}").json()["task"]["status"] == "Review"
    ada.context.close()
    grace.context.close()


def test_a_card_moves_by_keyboard_and_undo_redo_follow_on_both_boards(
    browser, tandem: TandemProcess
) -> None:
    ada = open_board(browser, tandem, "ada@example.com")
    grace = open_board(browser, tandem, "grace@example.com")
    task_id = first_in(ada, "To Do")

    card(ada, task_id).focus()
    ada.keyboard.press("Alt+ArrowRight")
    expect_in_column(ada, task_id, "In Progress", timeout=500)
    expect(ada.get_by_test_id("board-announcer")).to_contain_text("to In Progress, position 1")
    expect_in_column(grace, task_id, "In Progress", timeout=2_000)
    # Focus stays on the moved card, so the next key press moves it on.
    ada.keyboard.press("Alt+ArrowDown")
    expect(ada.get_by_test_id("board-announcer")).to_contain_text("position 2")
    grace.wait_for_function(
        f"""() => [...document.querySelectorAll("[data-column='In Progress'] [data-testid=board-card]")]
               .map(e => e.dataset.taskId).indexOf('{task_id}') === 1""",
        timeout=2_000,
    )

    # Or pick it up with Space, carry it with plain arrows, and drop it with Space.
    ada.keyboard.press("Space")
    expect(ada.get_by_test_id("board-announcer")).to_contain_text("Picked up")
    ada.keyboard.press("ArrowRight")
    expect_in_column(ada, task_id, "Review", timeout=500)
    ada.keyboard.press("Space")
    expect(ada.get_by_test_id("board-announcer")).to_contain_text("Dropped")
    ada.keyboard.press("ArrowRight")  # dropped: a plain arrow no longer moves it
    expect_in_column(grace, task_id, "Review", timeout=2_000)
    expect_in_column(ada, task_id, "Review")
    ada.get_by_test_id("undo").click()  # back to In Progress

    ada.get_by_test_id("undo").click()  # back up one place
    ada.get_by_test_id("undo").click()  # back to To Do
    expect_in_column(ada, task_id, "To Do")
    expect_in_column(grace, task_id, "To Do", timeout=2_000)
    assert ids_in(grace, "To Do")[0] == task_id
    ada.get_by_test_id("redo").click()
    expect_in_column(grace, task_id, "In Progress", timeout=2_000)
    ada.locator("body").click(position={"x": 5, "y": 300})
    ada.keyboard.press("Control+z")
    expect_in_column(grace, task_id, "To Do", timeout=2_000)
    ada.keyboard.press("Control+Shift+z")
    expect_in_column(grace, task_id, "In Progress", timeout=2_000)

    # Grace moves it on; Ada's undo would overwrite her, so it says so instead.
    card(grace, task_id).focus()
    grace.keyboard.press("Alt+ArrowRight")
    expect_in_column(ada, task_id, "Review", timeout=2_000)
    ada.get_by_test_id("undo").click()
    expect(
        ada.get_by_test_id("toast").filter(has_text="Grace Hopper changed the column")
    ).to_be_visible()
    ada.wait_for_timeout(500)
    expect_in_column(ada, task_id, "Review")
    expect_in_column(grace, task_id, "Review")
    ada.context.close()
    grace.context.close()


def test_a_conflicting_edit_is_toasted_to_both_people(browser, tandem: TandemProcess) -> None:
    ada = open_board(browser, tandem, "ada@example.com")
    grace = open_board(browser, tandem, "grace@example.com")
    task_id = first_in(ada, "Review")
    for page in (ada, grace):
        card(page, task_id).get_by_test_id("card-edit").click()
        expect(card(page, task_id).get_by_test_id("card-editor")).to_be_visible()
    # Each sees the other editing the title.
    expect(card(ada, task_id).get_by_test_id("card-typing-hint")).to_contain_text(
        "Grace Hopper is editing the title", timeout=3_000
    )

    card(ada, task_id).get_by_test_id("edit-title").fill("Ada's title")
    card(ada, task_id).get_by_test_id("edit-save").click()
    expect(card(ada, task_id).get_by_test_id("card-title")).to_have_text("Ada's title")
    grace.wait_for_timeout(300)  # Ada's change reaches Grace while her editor is still open
    card(grace, task_id).get_by_test_id("edit-title").fill("Grace's title")
    card(grace, task_id).get_by_test_id("edit-save").click()
    expect(
        grace.get_by_test_id("toast").filter(has_text="Ada Lovelace changed the title")
    ).to_be_visible(timeout=3_000)
    expect(
        ada.get_by_test_id("toast").filter(has_text="Grace Hopper changed the title")
    ).to_be_visible(timeout=3_000)
    for page in (ada, grace):
        expect(card(page, task_id).get_by_test_id("card-title")).to_have_text(
            "Grace's title", timeout=2_000
        )
    ada.context.close()
    grace.context.close()


def test_the_others_hints_appear_and_then_go_away(browser, tandem: TandemProcess) -> None:
    ada = open_board(browser, tandem, "ada@example.com")
    grace = open_board(browser, tandem, "grace@example.com")
    edited = first_in(grace, "In Progress")
    dragged = first_in(grace, "To Do")

    card(grace, edited).get_by_test_id("card-edit").click()
    card(grace, edited).get_by_test_id("edit-priority").focus()
    expect(card(ada, edited).get_by_test_id("card-typing-hint")).to_contain_text(
        "Grace Hopper is editing the priority", timeout=3_000
    )
    start_drag(grace, dragged, "Done")
    expect(card(ada, dragged).get_by_test_id("card-lock-hint")).to_be_visible(timeout=3_000)
    # A reload of Ada's board gets the hints alive now from the snapshot.
    ada.reload()
    expect(card(ada, dragged).get_by_test_id("card-lock-hint")).to_be_visible(timeout=5_000)
    expect(card(ada, edited).get_by_test_id("card-typing-hint")).to_be_visible(timeout=5_000)

    # Grace's tab dies mid-drag, mid-edit: both hints go by themselves within a few seconds.
    grace.context.close()
    expect(card(ada, dragged).get_by_test_id("card-lock-hint")).to_have_count(0, timeout=7_000)
    expect(card(ada, edited).get_by_test_id("card-typing-hint")).to_have_count(0, timeout=7_000)
    expect_in_column(ada, dragged, "To Do")
    ada.context.close()


def test_create_and_delete_inline_with_an_undo_toast(browser, tandem: TandemProcess) -> None:
    ada = open_board(browser, tandem, "ada@example.com")
    grace = open_board(browser, tandem, "grace@example.com")
    first = first_in(grace, "To Do")

    ada.locator("[data-column='To Do'] [data-testid=add-top]").click()
    ada.get_by_test_id("new-card-title").fill("Calibrate the arm")
    ada.get_by_test_id("new-card-title").press("Enter")
    new_card = grace.locator("[data-column='To Do'] [data-testid=board-card]").first
    expect(new_card.get_by_test_id("card-title")).to_have_text("Calibrate the arm", timeout=2_000)
    assert ids_in(grace, "To Do")[1] == first

    victim = ids_in(ada, "To Do")[2]
    title = card(ada, victim).get_by_test_id("card-title").inner_text()
    position = ids_in(ada, "To Do").index(victim)
    card(ada, victim).get_by_test_id("card-delete").click()
    expect(card(grace, victim)).to_have_count(0, timeout=2_000)
    ada.get_by_test_id("toast").filter(has_text="Deleted").get_by_test_id("toast-action").click()
    restored = grace.locator("[data-column='To Do'] [data-testid=board-card]").nth(position)
    expect(restored.get_by_test_id("card-title")).to_have_text(title, timeout=2_000)
    ada.context.close()
    grace.context.close()


def test_filters_stay_in_the_url_and_hold_across_live_updates(
    browser, tandem: TandemProcess
) -> None:
    ada = open_board(browser, tandem, "ada@example.com")
    grace = open_board(browser, tandem, "grace@example.com")
    ada.get_by_test_id("filter-priority").select_option("Urgent")
    expect(ada).to_have_url(re.compile(r"priority=Urgent"))
    shown = ada.get_by_test_id("board-card").count()
    assert all(p == "Urgent" for p in ada.get_by_test_id("card-priority").all_inner_texts())

    target = next(
        c.get_attribute("data-task-id")
        for c in grace.get_by_test_id("board-card").all()
        if c.get_by_test_id("card-priority").inner_text() == "Low"
    )
    assert target
    card(grace, target).get_by_test_id("card-edit").click()
    card(grace, target).get_by_test_id("edit-priority").select_option("Urgent")
    card(grace, target).get_by_test_id("edit-save").click()
    expect(card(ada, target)).to_be_visible(timeout=2_000)
    expect(ada.get_by_test_id("board-card")).to_have_count(shown + 1)
    expect(ada).to_have_url(re.compile(r"priority=Urgent"))
    assert ada.get_by_test_id("filter-priority").input_value() == "Urgent"
    ada.context.close()
    grace.context.close()
