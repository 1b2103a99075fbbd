"""The messages page, live for two people in two browsers: Ada writes to Grace while Grace is on
another page (her badge and tab title count it, and it is delivered), Grace opens it (Ada sees
"Read"), a message reaches Grace's open thread within a second, and Grace's typing shows on
Ada's side and goes away when she sends. It fits a 390 px phone, one pane at a time."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.e2e.conftest import ACME, TandemProcess, login, screenshot

LIVE_MS = 1_000
SETTLE_MS = 3_000
PHONE = (390, 844)
TICKS = ["✓ Sent", "✓✓ Delivered", "Read"]
RECORD_RECEIPTS = """() => {
  window.__receipts = [];
  const note = () => {
    const last = [...document.querySelectorAll("[data-testid='message-receipt']")].pop();
    if (!last) return;
    const entry = last.closest("[data-testid='message']").dataset.n + " " + last.textContent;
    if (window.__receipts[window.__receipts.length - 1] !== entry) window.__receipts.push(entry);
  };
  new MutationObserver(note).observe(document.body, { subtree: true, childList: true, characterData: true });
}"""


def direct_conversation(tandem: TandemProcess) -> str:
    """The demo's direct conversation between Ada and Grace."""
    with tandem.api("ada@example.com") as api:
        r = api.get(f"/api/orgs/{ACME}/conversations")
        r.raise_for_status()
        return next(c["id"] for c in r.json()["conversations"] if c["kind"] == "direct")


def wait_live(page: Page) -> None:
    expect(page.get_by_test_id("connection-indicator")).to_have_attribute(
        "data-state", "live", timeout=10_000
    )


def open_thread(page: Page, tandem: TandemProcess, conversation_id: str) -> None:
    page.goto(f"{tandem.url}/messages/{conversation_id}")
    page.get_by_test_id("thread").wait_for(timeout=10_000)
    expect(page.get_by_test_id("message").first).to_be_visible(timeout=10_000)
    wait_live(page)


def last_receipt(page: Page):
    return page.get_by_test_id("message-receipt")


def no_sideways_scroll(page: Page) -> None:
    overflow = page.evaluate(
        "() => document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


def test_two_people_message_each_other_live(browser: Any, tandem: TandemProcess) -> None:
    cid = direct_conversation(tandem)
    ada = login(browser, tandem, "ada@example.com")
    open_thread(ada, tandem, cid)
    grace = login(browser, tandem, "grace@example.com")
    wait_live(grace)
    expect(grace.get_by_test_id("nav-messages-unread")).to_have_count(0)
    assert grace.title() == "Tandem"

    # Every receipt line Ada's page shows, in order, to check the ticks only move forward.
    ada.evaluate(RECORD_RECEIPTS)

    # Grace is on the dashboard: her badge and tab title count the message, and it is delivered.
    composer = ada.get_by_test_id("composer-input")
    composer.fill("Are you around? The **moth** fix looks right.")
    composer.press("Enter")
    expect(composer).to_have_value("")
    expect(grace.get_by_test_id("nav-messages-unread")).to_have_text("1", timeout=SETTLE_MS)
    expect(grace).to_have_title("(1) Tandem", timeout=SETTLE_MS)
    expect(last_receipt(ada)).to_have_text("✓✓ Delivered", timeout=SETTLE_MS)

    # She opens it from the list: read, on both sides.
    grace.get_by_test_id("nav-messages").click()
    item = grace.locator(f"[data-testid='conversation'][data-conversation-id='{cid}']")
    expect(item.get_by_test_id("conversation-unread")).to_have_text("1")
    item.get_by_test_id("conversation-item").click()
    grace.wait_for_url(f"**/messages/{cid}")
    text = grace.get_by_test_id("message").last.get_by_test_id("message-text")
    expect(text).to_contain_text("Are you around? The moth fix looks right.")
    expect(text.locator("strong", has_text="moth")).to_be_visible()
    expect(last_receipt(ada)).to_have_text("Read", timeout=SETTLE_MS)
    expect(grace.get_by_test_id("nav-messages-unread")).to_have_count(0, timeout=SETTLE_MS)
    expect(grace).to_have_title("Tandem", timeout=SETTLE_MS)
    entries = [e.split(" ", 1) for e in ada.evaluate("() => window.__receipts")]
    newest = max(int(n) for n, _ in entries)
    seen = [text for n, text in entries if int(n) == newest]
    # "Sent" may be skipped when the delivery comes in the same frame as the message itself.
    assert seen[-2:] == ["✓✓ Delivered", "Read"], seen
    assert seen == sorted(seen, key=TICKS.index), seen

    # With her thread open, Ada's next message reaches Grace within a second, and is read there.
    composer.fill("Ship it <img src=x onerror=alert(1)>")
    composer.press("Enter")
    shipped = ada.get_by_test_id("message").filter(has_text="Ship it")
    expect(shipped).to_have_count(1)
    mine = ada.locator(f"[data-testid='message'][data-n='{shipped.get_attribute('data-n')}']")
    expect(grace.get_by_test_id("message").last).to_contain_text("Ship it", timeout=LIVE_MS)
    expect(grace.locator("[data-testid='thread'] img")).to_have_count(0)
    expect(mine).to_contain_text("Ship it")
    expect(mine.get_by_test_id("message-receipt")).to_have_text("Read", timeout=SETTLE_MS)

    # Scrolled up, Grace is not pulled down by a new message: a pill offers it.
    grace.get_by_test_id("thread-messages").evaluate("el => { el.scrollTop = 0; }")
    grace.wait_for_timeout(100)
    composer.fill("One more thing.")
    composer.press("Enter")
    expect(grace.get_by_test_id("new-messages")).to_be_visible(timeout=SETTLE_MS)
    grace.get_by_test_id("new-messages").click()
    expect(grace.get_by_test_id("new-messages")).to_have_count(0)
    expect(grace.get_by_test_id("message").last).to_be_in_viewport()

    # Grace types: Ada sees it, and it goes away when Grace sends.
    grace_composer = grace.get_by_test_id("composer-input")
    grace_composer.press_sequentially("On it", delay=30)
    expect(ada.get_by_test_id("typing-line")).to_have_text("Grace is typing…", timeout=SETTLE_MS)
    grace_composer.press("Shift+Enter")
    grace_composer.press_sequentially("today.", delay=10)
    grace_composer.press("Enter")
    expect(ada.get_by_test_id("message").last).to_contain_text("On it", timeout=LIVE_MS)
    expect(ada.get_by_test_id("typing-line")).to_have_text("", timeout=SETTLE_MS)
    # Ada has the thread open: her own list shows nothing unread for it.
    expect(
        ada.locator(f"[data-testid='conversation'][data-conversation-id='{cid}']")
    ).to_have_attribute("data-unread", "0", timeout=SETTLE_MS)
    screenshot(ada, "messages")

    # Ada edits one of her messages and deletes another: Grace sees both.
    mine.get_by_test_id("message-edit").click()
    mine.get_by_test_id("message-edit-input").fill("Ship it on Monday")
    mine.get_by_test_id("message-edit-save").click()
    edited = grace.get_by_test_id("message").filter(has_text="Ship it on Monday")
    expect(edited.get_by_test_id("message-edited")).to_be_visible(timeout=SETTLE_MS)
    first = ada.get_by_test_id("message").filter(has_text="Are you around?")
    ada.once("dialog", lambda dialog: dialog.accept())
    first.get_by_test_id("message-delete").click()
    expect(grace.get_by_test_id("message-deleted")).to_have_count(1, timeout=SETTLE_MS)
    expect(grace.get_by_text("Are you around?")).to_have_count(0)

    # "New message": Grace alone is the direct conversation already there; with Linus, a new group
    # that appears in Grace's list at once.
    ids = tandem.member_ids()
    ada.get_by_test_id("new-conversation").click()
    dialog = ada.get_by_test_id("new-conversation-dialog")
    dialog.locator(f"[data-user-id='{ids['grace@example.com']}']").check()
    dialog.get_by_test_id("new-conversation-start").click()
    ada.wait_for_url(f"**/messages/{cid}")
    ada.get_by_test_id("new-conversation").click()
    dialog.locator(f"[data-user-id='{ids['grace@example.com']}']").check()
    dialog.locator(f"[data-user-id='{ids['linus@example.com']}']").check()
    dialog.get_by_test_id("new-conversation-title").fill("Parser review")
    dialog.get_by_test_id("new-conversation-start").click()
    expect(ada.get_by_test_id("thread-title")).to_have_text("Parser review")
    expect(grace.get_by_test_id("conversation-list")).to_contain_text(
        "Parser review", timeout=SETTLE_MS
    )

    ada.context.close()
    grace.context.close()


def test_the_messages_page_fits_a_phone(browser: Any, tandem: TandemProcess) -> None:
    cid = direct_conversation(tandem)
    ada = login(browser, tandem, "ada@example.com", viewport=PHONE)
    ada.goto(f"{tandem.url}/messages")
    ada.get_by_test_id("conversation-list").wait_for(timeout=10_000)
    expect(ada.get_by_test_id("thread")).to_have_count(0)
    no_sideways_scroll(ada)
    ada.locator(f"[data-testid='conversation'][data-conversation-id='{cid}']").get_by_test_id(
        "conversation-item"
    ).click()
    ada.get_by_test_id("thread").wait_for(timeout=10_000)
    expect(ada.get_by_test_id("conversation-list")).to_be_hidden()
    expect(ada.get_by_test_id("thread-back")).to_be_visible()
    expect(ada.get_by_test_id("composer-input")).to_be_visible()
    expect(ada.get_by_test_id("message").first).to_be_visible(timeout=10_000)
    wait_live(ada)
    no_sideways_scroll(ada)
    screenshot(ada, "messages-phone")
    ada.get_by_test_id("thread-back").click()
    ada.get_by_test_id("conversation-list").wait_for()
    ada.context.close()


def test_a_group_is_renamed_grown_and_left_live(browser: Any, tandem: TandemProcess) -> None:
    ids = tandem.member_ids()
    with tandem.api("ada@example.com") as api:
        r = api.post(
            f"/api/orgs/{ACME}/conversations",
            json={"memberIds": [ids["grace@example.com"]], "title": "Parser review"},
        )
        r.raise_for_status()
        gid = r.json()["conversation"]["id"]
    ada = login(browser, tandem, "ada@example.com")
    open_thread_empty = f"{tandem.url}/messages/{gid}"
    ada.goto(open_thread_empty)
    ada.get_by_test_id("thread").wait_for(timeout=10_000)
    wait_live(ada)
    grace = login(browser, tandem, "grace@example.com")
    grace.goto(f"{tandem.url}/messages")
    wait_live(grace)
    item = grace.locator(f"[data-testid='conversation'][data-conversation-id='{gid}']")
    expect(item).to_contain_text("Parser review", timeout=SETTLE_MS)

    # Ada renames it and adds Linus: Grace's list follows at once.
    ada.get_by_test_id("group-details-open").click()
    details = ada.get_by_test_id("group-details")
    details.get_by_test_id("group-title").fill("Parser crew")
    details.get_by_test_id("group-rename").click()
    expect(ada.get_by_test_id("thread-title")).to_have_text("Parser crew", timeout=SETTLE_MS)
    expect(item).to_contain_text("Parser crew", timeout=SETTLE_MS)
    details.get_by_test_id("group-add-person").select_option(ids["linus@example.com"])
    details.get_by_test_id("group-add").click()
    expect(details.get_by_test_id("group-member")).to_have_count(3, timeout=SETTLE_MS)
    with tandem.api("linus@example.com") as api:
        theirs = api.get(f"/api/orgs/{ACME}/conversations").json()["conversations"]
    assert gid in [c["id"] for c in theirs]

    # Grace leaves: it goes from her list, and Ada's open dialog shows two people.
    grace.goto(f"{tandem.url}/messages/{gid}")
    grace.get_by_test_id("group-details-open").click()
    grace.once("dialog", lambda dialog: dialog.accept())
    grace.get_by_test_id("group-details").get_by_test_id("group-leave").click()
    grace.wait_for_url("**/messages")
    expect(item).to_have_count(0, timeout=SETTLE_MS)
    expect(details.get_by_test_id("group-member")).to_have_count(2, timeout=SETTLE_MS)
    expect(details.locator(f"[data-user-id='{ids['grace@example.com']}']")).to_have_count(0)
    ada.context.close()
    grace.context.close()
