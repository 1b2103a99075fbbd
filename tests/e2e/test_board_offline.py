"""Moves made while the server cannot be reached: shown at once, kept in the offline queue,
and sent in order once it is back, so both boards end the same as the server."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.conftest import TandemProcess
from tests.e2e.test_board import ROVER, card, expect_in_column, ids_in, open_board


def test_moves_made_offline_are_sent_in_order_on_reconnect(browser, tandem: TandemProcess) -> None:
    ada = open_board(browser, tandem, "ada@example.com")
    grace = open_board(browser, tandem, "grace@example.com")
    first, second = ids_in(ada, "To Do")[:2]
    indicator = ada.get_by_test_id("connection-indicator")

    tandem.stop()
    expect(indicator).not_to_have_attribute("data-state", "live", timeout=10_000)
    # First right, then right again; the second card right once, then above the first.
    card(ada, first).focus()
    ada.keyboard.press("Alt+ArrowRight")
    ada.keyboard.press("Alt+ArrowRight")
    expect_in_column(ada, first, "Review", timeout=500)
    card(ada, second).focus()
    ada.keyboard.press("Alt+ArrowRight")
    ada.keyboard.press("Alt+ArrowRight")
    expect_in_column(ada, second, "Review", timeout=500)
    assert ids_in(ada, "Review").index(second) < ids_in(ada, "Review").index(first)
    ada.wait_for_timeout(1_000)
    expect_in_column(ada, first, "Review")  # still shown as moved while offline

    tandem.start()
    expect(indicator).to_have_attribute("data-state", "live", timeout=30_000)
    for page in (grace, ada):
        expect_in_column(page, first, "Review", timeout=15_000)
        expect_in_column(page, second, "Review", timeout=15_000)
    review = ids_in(ada, "Review")
    assert review.index(second) < review.index(first)
    with tandem.api("grace@example.com") as api:
        board = api.get(f"/api/projects/{ROVER}/board").json()
    server = next(c for c in board["columns"] if c["name"] == "Review")
    assert [t["id"] for t in server["tasks"]] == review
    expect(ada.locator("[data-column='Review'] [data-testid=column-count]")).to_have_attribute(
        "data-count", str(server["count"])
    )
    assert ids_in(grace, "Review") == review
    ada.context.close()
    grace.context.close()
