"""The Owner's real-time rollout page: Ada (the Owner) puts the board's phase in soak for Acme and
sees it in the phase's state and the audit trail; Grace's board, verifying every second or two,
loses a rename on purpose (the SDK's debug switch drops it), and the next verification repairs the
card's title and reports the drift, which Ada's figures count. A Member sees no link to the page and
is told it is for Owners; the page fits a 390 px phone."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from tests.e2e.conftest import ACME, TandemProcess, login, screenshot

ROVER = "p_demorover"  # Grace leads it
PHONE = (390, 844)
# The verification interval Grace's tab reads at start (the default is 3 minutes).
SHORT_VERIFY = "localStorage.setItem('tandem.debug.verifyIntervalMs', '1500');"


def no_horizontal_scroll(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page scrolls sideways: {width}px"  # type: ignore[index]


def a_task_on_the_board(tandem: TandemProcess) -> tuple[str, str]:
    with tandem.api("ada@example.com") as api:
        r = api.get(f"/api/projects/{ROVER}/board")
        r.raise_for_status()
        task = next(t for c in r.json()["columns"] for t in c["tasks"])
    return task["id"], task["title"]


def test_a_soaking_board_repairs_a_lost_rename_and_the_owner_sees_the_drift(
    browser, tandem: TandemProcess
) -> None:
    ada = login(browser, tandem, "ada@example.com")
    ada.get_by_test_id("nav-realtime").click()
    ada.wait_for_url("**/settings/realtime")
    board = ada.get_by_test_id("phase-kanban")
    expect(board).to_have_attribute("data-state", "on", timeout=10_000)
    expect(ada.get_by_test_id("phase-kanban-rule")).to_contain_text("Rule:")
    expect(ada.get_by_test_id("auto-rollback")).to_contain_text("Drift reports over")

    ada.get_by_test_id("phase-kanban-set-soak").click()
    expect(board).to_have_attribute("data-state", "soak", timeout=10_000)
    expect(ada.get_by_test_id("phase-kanban-set-soak")).to_have_attribute("aria-pressed", "true")
    newest = ada.get_by_test_id("audit-row").first
    expect(newest).to_contain_text("Board")
    expect(newest).to_contain_text("Rule → Soak")
    expect(newest).to_contain_text("Ada Lovelace")
    drift = ada.get_by_test_id("phase-kanban-drift")
    expect(drift.locator("dd")).to_have_text("0")
    with tandem.api("ada@example.com") as api:
        assert api.get(f"/api/orgs/{ACME}/flags").json()["states"]["kanban"] == "soak"

    task_id, title = a_task_on_the_board(tandem)
    # What Grace's page sees, in order: the room's join acknowledged, board snapshots requested.
    seen: list[str] = []

    def watch(page: Page) -> None:
        def on_frame(payload: object) -> None:
            text = str(payload).replace(" ", "")
            if f'"room":"project:{ROVER}"' in text and '"ok":true' in text:
                seen.append("joined")

        page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
        page.on(
            "requestfinished",
            lambda r: seen.append("snapshot") if r.url.endswith(f"/{ROVER}/board") else None,
        )

    grace = login(browser, tandem, "grace@example.com", init_script=SHORT_VERIFY, setup=watch)
    grace.goto(f"{tandem.url}/projects/{ROVER}/board")
    card_title = grace.locator(
        f"[data-testid=board-card][data-task-id='{task_id}'] [data-testid=card-title]"
    )
    expect(card_title).to_have_text(title, timeout=10_000)
    expect(grace.get_by_test_id("connection-indicator")).to_have_attribute(
        "data-state", "live", timeout=10_000
    )
    # The board reloads its snapshot once joined (its hints are ephemeral): a rename before that
    # reload is done would arrive inside it, not as the event to drop.
    deadline = time.monotonic() + 15
    while "joined" not in seen or "snapshot" not in seen[seen.index("joined") :]:
        assert time.monotonic() < deadline, f"the board did not reload once joined: {seen}"
        grace.wait_for_timeout(100)
    grace.evaluate("() => window.__tandemDebug.dropNext('kanban.task.updated')")

    with tandem.api("ada@example.com") as api:
        r = api.patch(f"/api/tasks/{task_id}", json={"changes": {"title": "Renamed while soaking"}})
        r.raise_for_status()

    # The rename's event was dropped on Grace's board; the verification puts the title there.
    grace.wait_for_function("() => window.__tandemDebug.pendingDrops() === 0", timeout=10_000)
    expect(card_title).to_have_text("Renamed while soaking", timeout=20_000)
    expect(drift.locator("dd")).to_have_text("1", timeout=20_000)
    expect(drift).to_have_class("figure figure-alert")


def test_a_member_sees_no_link_and_is_told_the_page_is_for_owners(
    browser, demo_server: TandemProcess
) -> None:
    linus = login(browser, demo_server, "linus@example.com")
    expect(linus.get_by_test_id("nav-projects")).to_be_visible()
    expect(linus.get_by_test_id("nav-realtime")).to_have_count(0)
    expect(linus.get_by_test_id("org-menu-realtime")).to_have_count(0)
    linus.goto(f"{demo_server.url}/settings/realtime")
    expect(linus.get_by_test_id("owners-only")).to_contain_text("Only Owners can see this")
    expect(linus.get_by_test_id("phase-kanban")).to_have_count(0)
    with demo_server.api("linus@example.com") as api:
        assert api.get(f"/api/orgs/{ACME}/realtime").status_code == 403


def test_the_rollout_page_fits_a_phone_and_a_wide_screen(
    browser, demo_server: TandemProcess
) -> None:
    for viewport, name in (((1280, 900), "rollout-settings"), (PHONE, "rollout-settings-phone")):
        page = login(browser, demo_server, "ada@example.com", viewport=viewport)
        if viewport == PHONE:
            # No room for a fourth link on a phone's header: the organization menu leads there.
            expect(page.get_by_test_id("nav-realtime")).to_be_hidden()
            page.get_by_test_id("org-switcher").select_option("__rollout__")
        else:
            page.get_by_test_id("nav-realtime").click()
        page.wait_for_url("**/settings/realtime")
        expect(page.get_by_test_id("phase-chat")).to_be_visible(timeout=10_000)
        expect(page.get_by_test_id("audit")).to_be_visible()
        no_horizontal_scroll(page)
        control = page.get_by_test_id("phase-kanban-set-default").bounding_box()
        assert control is not None and control["x"] + control["width"] <= viewport[0]
        screenshot(page, name)
        page.context.close()
