"""Uploads on the task page, two people on one task: an upload shows its progress on the
uploader's page and the file appears on the other's, downloads come byte for byte with the token,
a dropped image shows its thumbnail, and a deleted file leaves both pages."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, expect

from tests.e2e.conftest import TandemProcess
from tests.e2e.test_task import LIVE_MS, a_task, open_task


def record_progress(page: Page) -> None:
    """Keeps every value the upload progress bars take in window.__progress."""
    page.evaluate(
        """() => {
          window.__progress = [];
          new MutationObserver(() => {
            for (const bar of document.querySelectorAll('[data-testid=upload-progress]')) {
              window.__progress.push(Number(bar.getAttribute('aria-valuenow')));
            }
          }).observe(document.body, { subtree: true, childList: true, attributes: true });
        }"""
    )


def slow_uploads(page: Page, bytes_per_second: int) -> None:
    """Throttles the page's uploads, so that their progress can be watched."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": bytes_per_second,
        },
    )


def png(size: int = 600) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (94, 106, 210)).save(out, "PNG")
    return out.getvalue()


def test_an_upload_shows_progress_and_the_file_appears_for_the_other(
    browser, tandem: TandemProcess
) -> None:
    task_id = a_task(tandem)
    ada = open_task(browser, tandem, "ada@example.com", task_id)
    grace = open_task(browser, tandem, "grace@example.com", task_id)
    record_progress(ada)
    slow_uploads(ada, 1_000_000)
    data = bytes(range(256)) * 12_000  # about 3 MB: some seconds at the throttled rate
    ada.get_by_test_id("attachment-input").set_input_files(
        {"name": "telemetry.bin", "mimeType": "application/octet-stream", "buffer": data}
    )
    expect(ada.get_by_test_id("upload-progress")).to_be_visible()
    mine = ada.get_by_test_id("attachment").filter(has_text="telemetry.bin")
    expect(mine).to_be_visible(timeout=20_000)
    seen = ada.evaluate("window.__progress")
    assert any(0 < p < 100 for p in seen), f"no progress between 0 and 100: {seen[:20]}"
    expect(ada.get_by_test_id("upload")).to_have_count(0, timeout=5_000)
    row = grace.get_by_test_id("attachment").filter(has_text="telemetry.bin")
    expect(row).to_be_visible(timeout=LIVE_MS)

    # Downloaded with the token, under its own name, byte for byte.
    with grace.expect_download() as info:
        row.get_by_test_id("attachment-download").click()
    assert Path(info.value.path()).read_bytes() == data
    assert info.value.suggested_filename == "telemetry.bin"

    # An image shows its thumbnail, fetched with the token; dropped on the list like from a desktop.
    grace.evaluate(
        """(bytes) => {
          const file = new File([new Uint8Array(bytes)], 'photo.png', { type: 'image/png' });
          const transfer = new DataTransfer();
          transfer.items.add(file);
          const zone = document.querySelector('[data-testid=task-attachments]');
          zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }));
          zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
        }""",
        list(png()),
    )
    photo = ada.get_by_test_id("attachment").filter(has_text="photo.png")
    expect(photo.get_by_test_id("attachment-thumb")).to_be_visible(timeout=10_000)
    assert photo.get_by_test_id("attachment-thumb").evaluate("img => img.naturalWidth") > 0

    # Deleted by its uploader: gone from both pages.
    grace.get_by_test_id("attachment").filter(has_text="photo.png").get_by_test_id(
        "attachment-delete"
    ).click()
    expect(photo).to_have_count(0, timeout=LIVE_MS)
