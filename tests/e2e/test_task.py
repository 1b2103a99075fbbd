"""The task page, two people on one demo task in two browsers: a comment, a subtask check and a
field change each show for the other within 2 s, the other's typing shows and lapses, edits of the
description made at the same time keep both people's text, a deleted task says so, and a Viewer
sees no edit controls.

The helpers at the top are shared with test_task_files.py."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.conftest import TandemProcess, login

ROVER = "p_demorover"  # Grace leads it; Ada (Owner) and Linus edit it; Barbara only views it
LIVE_MS = 2_000


def a_task(tandem: TandemProcess, project: str = ROVER, column: str | None = None) -> str:
    """The id of the first task on the project's board (or in one of its columns)."""
    with tandem.api("ada@example.com") as api:
        r = api.get(f"/api/projects/{project}/board")
        r.raise_for_status()
        columns = r.json()["columns"]
        return next(t["id"] for c in columns if column in (None, c["name"]) for t in c["tasks"])


def open_task(
    browser: Any,
    tandem: TandemProcess,
    email: str,
    task_id: str,
    *,
    viewport: tuple[int, int] = (1280, 900),
) -> Page:
    """Signs `email` in, opens the task page and waits until it is loaded, knows what the person
    may change (the fields turn from text into controls then) and is live."""
    page = login(browser, tandem, email, viewport=viewport)
    page.goto(f"{tandem.url}/tasks/{task_id}")
    page.get_by_test_id("task-page").wait_for(timeout=10_000)
    expect(page.get_by_test_id("task-page")).not_to_have_attribute(
        "data-can-edit", "pending", timeout=10_000
    )
    expect(page.get_by_test_id("connection-indicator")).to_have_attribute(
        "data-state", "live", timeout=10_000
    )
    return page


def no_dialogs(page: Page) -> list[str]:
    """Every dialog (alert, confirm, prompt) the page opens, dismissed and recorded."""
    seen: list[str] = []

    def on_dialog(dialog: Any) -> None:
        seen.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return seen


def test_a_comment_a_subtask_check_and_a_field_change_show_for_the_other_within_2_s(
    browser, tandem: TandemProcess
) -> None:
    task_id = a_task(tandem)
    ada = open_task(browser, tandem, "ada@example.com", task_id)
    grace = open_task(browser, tandem, "grace@example.com", task_id)

    ada.get_by_test_id("comment-input").fill("Looks **good** to me")
    ada.get_by_test_id("comment-post").click()
    mine = ada.get_by_test_id("comment").filter(has_text="Looks good to me")
    expect(mine).to_have_count(1)
    theirs = grace.get_by_test_id("comment").filter(has_text="Looks good to me")
    expect(theirs).to_have_count(1, timeout=LIVE_MS)
    expect(theirs.locator("strong", has_text="good")).to_be_visible()
    expect(theirs.get_by_test_id("comment-author")).to_have_text("Ada Lovelace")
    # Only her own comment is hers to edit; Grace, an Admin, may delete anyone's.
    expect(theirs.get_by_test_id("comment-edit")).to_have_count(0)
    expect(theirs.get_by_test_id("comment-delete")).to_be_visible()
    expect(mine.get_by_test_id("comment-edit")).to_be_visible()
    expect(mine).not_to_have_attribute("data-pending", "true")

    grace.get_by_test_id("subtask-new").fill("Calibrate the wheels")
    grace.get_by_test_id("subtask-add").click()
    row = ada.get_by_test_id("subtask").filter(has_text="Calibrate the wheels")
    expect(row).to_have_count(1, timeout=LIVE_MS)
    expect(row).not_to_have_attribute("data-pending", "true")
    row.get_by_test_id("subtask-check").check()
    checked = grace.get_by_test_id("subtask").filter(has_text="Calibrate the wheels")
    expect(checked.get_by_test_id("subtask-check")).to_be_checked(timeout=LIVE_MS)
    done = ada.get_by_test_id("subtask-progress-label").inner_text()
    expect(grace.get_by_test_id("subtask-progress-label")).to_have_text(done, timeout=LIVE_MS)

    current = ada.get_by_test_id("task-priority").input_value()
    wanted = "Urgent" if current != "Urgent" else "Low"
    ada.get_by_test_id("task-priority").select_option(wanted)
    expect(grace.get_by_test_id("task-priority")).to_have_value(wanted, timeout=LIVE_MS)
    column = "Review" if ada.get_by_test_id("task-status").input_value() != "Review" else "Done"
    ada.get_by_test_id("task-status").select_option(column)
    expect(grace.get_by_test_id("task-status")).to_have_value(column, timeout=LIVE_MS)
    expect(grace.get_by_test_id("activity-item").first).to_contain_text(
        "Ada Lovelace", timeout=LIVE_MS
    )

    # A deep link survives a reload: the same task, with what was written.
    grace.reload()
    expect(grace.get_by_test_id("task-page")).to_have_attribute(
        "data-can-edit", "true", timeout=10_000
    )
    expect(grace.get_by_test_id("task-priority")).to_have_value(wanted)
    expect(grace.get_by_test_id("comment").filter(has_text="Looks good to me")).to_have_count(1)


def test_the_others_typing_shows_and_then_goes_away(browser, tandem: TandemProcess) -> None:
    task_id = a_task(tandem)
    ada = open_task(browser, tandem, "ada@example.com", task_id)
    grace = open_task(browser, tandem, "grace@example.com", task_id)
    grace.get_by_test_id("comment-input").type("Half a thought")
    expect(ada.get_by_test_id("comment-typing")).to_have_text(
        "Grace Hopper is typing a comment…", timeout=LIVE_MS
    )
    expect(grace.get_by_test_id("comment-typing")).to_have_count(0)  # not told about herself
    grace.get_by_test_id("comment-input").blur()
    expect(ada.get_by_test_id("comment-typing")).to_have_count(0, timeout=LIVE_MS)

    grace.get_by_test_id("description-edit").click()
    grace.get_by_test_id("description-input").type(" more")
    expect(ada.get_by_test_id("description-typing")).to_have_text(
        "Grace Hopper is editing the description…", timeout=LIVE_MS
    )
    # Closing the tab sends no "stopped": the hint lapses by itself.
    grace.context.close()
    expect(ada.get_by_test_id("description-typing")).to_have_count(0, timeout=8_000)


def test_simultaneous_description_edits_keep_both_peoples_text(
    browser, tandem: TandemProcess
) -> None:
    task_id = a_task(tandem)
    with tandem.api("ada@example.com") as api:
        base = "Intro paragraph.\n\nMiddle paragraph.\n\nClosing paragraph."
        r = api.patch(f"/api/tasks/{task_id}", json={"changes": {"description": base}})
        r.raise_for_status()
    ada = open_task(browser, tandem, "ada@example.com", task_id)
    grace = open_task(browser, tandem, "grace@example.com", task_id)
    for page in (ada, grace):
        expect(page.get_by_test_id("description-text")).to_contain_text("Closing paragraph.")
        page.get_by_test_id("description-edit").click()
    ada_box = ada.get_by_test_id("description-input")
    ada_box.fill(ada_box.input_value().replace("Intro paragraph.", "Intro paragraph, by Ada."))
    grace_box = grace.get_by_test_id("description-input")
    grace_box.fill(grace_box.input_value() + "\n\nA line Grace added.")
    ada.get_by_test_id("description-save").click()
    expect(ada.get_by_test_id("description-text")).to_contain_text("by Ada")
    grace.get_by_test_id("description-save").click()
    expect(grace.get_by_test_id("description-merged")).to_be_visible()
    for page in (ada, grace):
        text = page.get_by_test_id("description-text")
        expect(text).to_contain_text("Intro paragraph, by Ada.", timeout=LIVE_MS)
        expect(text).to_contain_text("A line Grace added.", timeout=LIVE_MS)


def test_overlapping_description_edits_show_both_versions_to_combine(
    browser, tandem: TandemProcess
) -> None:
    task_id = a_task(tandem)
    with tandem.api("ada@example.com") as api:
        r = api.patch(
            f"/api/tasks/{task_id}", json={"changes": {"description": "The rover is red."}}
        )
        r.raise_for_status()
    ada = open_task(browser, tandem, "ada@example.com", task_id)
    grace = open_task(browser, tandem, "grace@example.com", task_id)
    for page in (ada, grace):
        expect(page.get_by_test_id("description-text")).to_have_text("The rover is red.")
        page.get_by_test_id("description-edit").click()
    ada.get_by_test_id("description-input").fill("The rover is blue.")
    grace.get_by_test_id("description-input").fill("The rover is green.")
    ada.get_by_test_id("description-save").click()
    expect(ada.get_by_test_id("description-text")).to_have_text("The rover is blue.")
    grace.get_by_test_id("description-save").click()
    expect(grace.get_by_test_id("description-conflict")).to_be_visible()
    expect(grace.get_by_test_id("description-theirs")).to_have_text("The rover is blue.")
    expect(grace.get_by_test_id("description-mine")).to_have_text("The rover is green.")
    grace.get_by_test_id("description-input").fill("The rover is blue and green.")
    grace.get_by_test_id("description-save").click()
    for page in (ada, grace):
        expect(page.get_by_test_id("description-text")).to_have_text(
            "The rover is blue and green.", timeout=LIVE_MS
        )


def test_script_in_a_title_description_or_comment_stays_text(
    browser, tandem: TandemProcess
) -> None:
    task_id = a_task(tandem)
    attack = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    with tandem.api("ada@example.com") as api:
        r = api.patch(
            f"/api/tasks/{task_id}",
            json={
                "changes": {
                    "title": f"Rover {attack}",
                    "description": f"{attack}\n\n[click me](javascript:alert(3))",
                }
            },
        )
        r.raise_for_status()
    grace = open_task(browser, tandem, "grace@example.com", task_id)
    dialogs = no_dialogs(grace)
    expect(grace.get_by_test_id("task-title")).to_contain_text("<script>alert(2)</script>")
    grace.get_by_test_id("comment-input").fill(f"Comment {attack} <svg onload=alert(4)>")
    grace.get_by_test_id("comment-post").click()
    comment = grace.get_by_test_id("comment").filter(has_text="Comment")
    expect(comment).to_contain_text("<svg onload=alert(4)>")
    grace.get_by_text("click me").click()
    grace.reload()
    grace.get_by_test_id("task-page").wait_for()
    time.sleep(0.5)
    assert dialogs == []
    dangerous = grace.get_by_test_id("task-page").locator(
        "script, svg, iframe, [onerror], [onload], a[href^='javascript' i]"
    )
    expect(dangerous).to_have_count(0)


def test_a_deleted_task_says_so_instead_of_going_stale(browser, tandem: TandemProcess) -> None:
    task_id = a_task(tandem)
    grace = open_task(browser, tandem, "grace@example.com", task_id)
    with tandem.api("ada@example.com") as api:
        api.delete(f"/api/tasks/{task_id}").raise_for_status()
    expect(grace.get_by_test_id("task-unavailable")).to_be_visible(timeout=LIVE_MS)
    grace.reload()
    expect(grace.get_by_test_id("task-unavailable")).to_be_visible(timeout=10_000)


def test_a_viewer_sees_no_edit_controls(browser, tandem: TandemProcess) -> None:
    task_id = a_task(tandem)
    barbara = open_task(browser, tandem, "barbara@example.com", task_id)
    expect(barbara.get_by_test_id("task-page")).to_have_attribute("data-can-edit", "false")
    expect(barbara.get_by_test_id("read-only")).to_be_visible()
    for testid in (
        "task-title-edit",
        "description-edit",
        "comment-input",
        "subtask-new",
        "attachment-input",
    ):
        expect(barbara.get_by_test_id(testid)).to_have_count(0)
    expect(barbara.locator("[data-testid=task-fields] select")).to_have_count(0)
