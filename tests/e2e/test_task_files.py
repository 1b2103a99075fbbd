"""The task page's files and small screens: a file over the size limit fails with Retry, a file's
name cannot run script, the page fits a 390 px phone, and the README's screenshots of it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import TandemProcess, screenshot
from tests.e2e.test_task import LIVE_MS, a_task, no_dialogs, open_task

PHONE = (390, 844)
LIMIT = 64 * 1024  # the size limit of the small-limit server


@pytest.fixture
def small_limit(tmp_path: Path, demo_template: Path) -> Iterator[TandemProcess]:
    """A server of its own whose attachments may be at most LIMIT bytes."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for item in demo_template.iterdir():
        if item.is_file() and item.name != "server.log":
            shutil.copy2(item, data_dir / item.name)
    proc = TandemProcess(data_dir)
    proc.env["TANDEM_MAX_ATTACHMENT_BYTES"] = str(LIMIT)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def test_a_file_over_the_limit_fails_with_retry(browser, small_limit: TandemProcess) -> None:
    task_id = a_task(small_limit)
    ada = open_task(browser, small_limit, "ada@example.com", task_id)
    ada.get_by_test_id("attachment-input").set_input_files(
        {
            "name": "too-big.bin",
            "mimeType": "application/octet-stream",
            "buffer": b"x" * (LIMIT * 4),
        }
    )
    upload = ada.get_by_test_id("upload").filter(has_text="too-big.bin")
    expect(upload).to_have_attribute("data-state", "failed", timeout=10_000)
    expect(upload.get_by_test_id("upload-error")).to_be_visible()
    expect(upload.get_by_test_id("upload-retry")).to_be_visible()
    upload.get_by_test_id("upload-retry").click()
    expect(upload).to_have_attribute("data-state", "failed", timeout=10_000)  # still too big
    upload.get_by_test_id("upload-dismiss").click()
    expect(ada.get_by_test_id("upload")).to_have_count(0)
    expect(ada.get_by_test_id("attachment").filter(has_text="too-big.bin")).to_have_count(0)

    # A small one goes through on the same page.
    ada.get_by_test_id("attachment-input").set_input_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"small enough"}
    )
    expect(ada.get_by_test_id("attachment").filter(has_text="notes.txt")).to_be_visible(
        timeout=10_000
    )


def test_a_file_name_cannot_run_script(browser, tandem: TandemProcess) -> None:
    task_id = a_task(tandem)
    name = '<img src=x onerror="alert(1)">.txt'
    with tandem.api("ada@example.com") as api:
        r = api.post(
            f"/api/tasks/{task_id}/attachments", files={"file": (name, b"hello", "text/plain")}
        )
        assert r.status_code == 201, r.text
    grace = open_task(browser, tandem, "grace@example.com", task_id)
    dialogs = no_dialogs(grace)
    row = grace.get_by_test_id("attachment").first
    expect(row).to_contain_text("onerror", timeout=LIVE_MS)
    grace.wait_for_timeout(500)
    assert dialogs == []
    assert grace.locator("[data-testid=task-attachments] img[src=x]").count() == 0


def test_the_task_page_fits_a_phone(browser, tandem: TandemProcess) -> None:
    # The demo's task under way on the rover: a description, three subtasks (one done), two comments.
    task_id = a_task(tandem, column="In Progress")
    ada = open_task(browser, tandem, "ada@example.com", task_id, viewport=PHONE)
    expect(ada.get_by_test_id("subtask")).to_have_count(3)
    expect(ada.get_by_test_id("comment")).to_have_count(2)
    expect(ada.get_by_test_id("description-text").locator("li")).to_have_count(2)
    assert ada.evaluate("document.documentElement.scrollWidth") <= PHONE[0]
    for testid in (
        "task-title",
        "task-status",
        "task-priority",
        "task-assignee",
        "task-due",
        "comment-input",
        "subtask-new",
        "description-edit",
    ):
        box = ada.get_by_test_id(testid).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE[0], testid
    expect(ada.get_by_test_id("subtask-progress-label")).to_have_text("1/3")
    ada.get_by_test_id("subtask-check").nth(1).check()
    expect(ada.get_by_test_id("subtask-progress-label")).to_have_text("2/3")
    screenshot(ada, "task-phone")
    ada.context.close()

    wide = open_task(browser, tandem, "ada@example.com", task_id)
    expect(wide.get_by_test_id("comment")).to_have_count(2)
    screenshot(wide, "task")
