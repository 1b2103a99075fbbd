"""Messages written while the server cannot be reached: shown at once as sending, kept in the
offline queue across a reload, and sent in order, each exactly once, when the way is open again."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Route, expect

from tests.e2e.conftest import TandemProcess, login
from tests.e2e.test_messages import SETTLE_MS, direct_conversation, open_thread


def test_messages_sent_offline_survive_a_reload_and_arrive_once(
    browser: Any, tandem: TandemProcess
) -> None:
    cid = direct_conversation(tandem)
    ada = login(browser, tandem, "ada@example.com")
    open_thread(ada, tandem, cid)
    grace = login(browser, tandem, "grace@example.com")
    open_thread(grace, tandem, cid)

    # Cut Ada off: her socket never opens, and sending over REST fails as without a network.
    cut = {"off": True}

    def no_socket(ws: Any) -> None:
        if cut["off"]:
            ws.close()
        else:
            ws.connect_to_server()

    def no_send(route: Route) -> None:
        if route.request.method == "POST":
            route.abort("internetdisconnected")
        else:
            route.continue_()

    ada.route_web_socket("**/socket.io/**", no_socket)
    ada.route(f"**/api/conversations/{cid}/messages", no_send)
    ada.reload()
    ada.get_by_test_id("thread").wait_for(timeout=10_000)
    expect(ada.get_by_test_id("connection-indicator")).not_to_have_attribute(
        "data-state", "live", timeout=10_000
    )
    composer = ada.get_by_test_id("composer-input")
    for text in ("Written on the train", "and a second one"):
        composer.fill(text)
        composer.press("Enter")
    pending = ada.get_by_test_id("message-pending")
    expect(pending).to_have_count(2)
    expect(pending.first).to_contain_text("Written on the train")
    ada.wait_for_timeout(1_500)  # a retry or two, still refused
    expect(pending).to_have_count(2)

    # A reload keeps them: they come back from the queue, still waiting.
    ada.reload()
    ada.get_by_test_id("thread").wait_for(timeout=10_000)
    expect(pending).to_have_count(2, timeout=SETTLE_MS)
    expect(pending.last).to_contain_text("and a second one")
    expect(grace.get_by_test_id("message").filter(has_text="Written on the train")).to_have_count(0)

    # The way opens: sent in order, once each; Grace sees them live.
    cut["off"] = False
    ada.unroute(f"**/api/conversations/{cid}/messages", no_send)
    expect(ada.get_by_test_id("connection-indicator")).to_have_attribute(
        "data-state", "live", timeout=30_000
    )
    expect(pending).to_have_count(0, timeout=15_000)
    for page in (ada, grace):
        first = page.get_by_test_id("message").filter(has_text="Written on the train")
        second = page.get_by_test_id("message").filter(has_text="and a second one")
        expect(first).to_have_count(1, timeout=SETTLE_MS)
        expect(second).to_have_count(1, timeout=SETTLE_MS)
        assert int(first.get_attribute("data-n")) < int(second.get_attribute("data-n"))
    with tandem.api("grace@example.com") as api:
        history = api.get(f"/api/conversations/{cid}/messages").json()["messages"]
    sent = [m["text"] for m in history if m["text"] in ("Written on the train", "and a second one")]
    assert sent == ["Written on the train", "and a second one"]
    ada.context.close()
    grace.context.close()
