"""`tandem flags` shows and sets the flags, and a running server follows within seconds (SPEC §6, §7)."""

import asyncio

from tandem.flags import service as flags
from tandem.flags.service import PHASES
from tests.conftest import PG_URL
from tests.harness import (
    Listener,
    fresh_database_url,
    join,
    make_org,
    run_tandem,
    start_server,
    team,
)


def table(output: str) -> dict[str, tuple[str, str, str]]:
    """`tandem flags` output as {phase: (state, rollout, allow-list)}."""
    rows = {}
    for line in output.splitlines():
        parts = line.split(None, 3)
        if len(parts) >= 3 and parts[0] in (
            "members",
            "dashboard",
            "kanban",
            "task",
            "project",
            "chat",
        ):
            rows[parts[0]] = (parts[1], parts[2], parts[3].strip() if len(parts) > 3 else "")
    return rows


async def until(predicate, seconds: float) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await predicate():
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def test_tandem_flags_against_a_running_server(tmp_path):
    # `tandem migrate` itself runs through the CLI in tests/test_app.py; here the schema comes from the harness.
    async with (
        fresh_database_url("sqlite", tmp_path, PG_URL) as db_url,
        start_server(db_url, tmp_path) as server,
    ):
        quiet, (owner, member) = await team(server, ["Owner", "Member"])
        loud = await make_org(owner, "Loud")
        await join(loud, owner, member, "Member")
        async with owner.http() as http:  # `loud` keeps its events whatever the global rule says
            r = await http.put(f"/api/orgs/{loud}/flags/members", json={"enabled": True})
            assert r.status_code == 200

        async def members_flag(org_id):
            async with owner.http() as http:
                return (await http.get(f"/api/orgs/{org_id}/flags")).json()["flags"]["members"]

        async def quiet_is_off():
            return await members_flag(quiet) is False

        code, out = await run_tandem(
            "flags", "set", "members", "off", database_url=db_url, data_dir=tmp_path
        )
        assert code == 0, out
        rows = table(out)
        assert rows == {
            "members": ("off", "100%", "-"),
            **{p: ("on", "100%", "-") for p in PHASES[1:]},
        }, out
        assert f"override: members on for {loud}" in out

        # The running server follows (the CLI says: within 2 seconds; some slack for the poll).
        assert await until(quiet_is_off, 3.5)
        assert await members_flag(loud) is True

        listener = Listener(server, await member.socket_token())
        await listener.connect()
        try:
            for org_id in (quiet, loud):
                assert (await listener.subscribe(f"org:{org_id}"))["ok"]
            async with owner.http() as http:
                r = await http.patch(
                    f"/api/orgs/{quiet}/members/{member.id}", json={"role": "Admin"}
                )
                assert r.status_code == 200
                r = await http.patch(
                    f"/api/orgs/{loud}/members/{member.id}", json={"role": "Admin"}
                )
                assert r.status_code == 200
            # Published in commit order: once `loud`'s event is here, one from `quiet` would be too.
            await listener.wait_event("org.member.updated", organizationId=loud)
            assert [
                e for e in listener.events if e.get("data", {}).get("organizationId") == quiet
            ] == []

            # On again, for no org by percentage but for `quiet` by the allow-list.
            code, out = await run_tandem(
                "flags",
                "set",
                "members",
                "on",
                "--rollout",
                "0",
                "--allow",
                quiet,
                database_url=db_url,
                data_dir=tmp_path,
            )
            assert code == 0, out
            assert table(out)["members"] == ("on", "0%", quiet)
            assert await until(lambda: members_flag(quiet), 3.5)
            async with owner.http() as http:
                r = await http.patch(
                    f"/api/orgs/{quiet}/members/{member.id}", json={"role": "Member"}
                )
                assert r.status_code == 200
            event = await listener.wait_event("org.member.updated", organizationId=quiet)
            assert event["data"]["member"]["role"] == "Member"
        finally:
            await listener.close()

        # A per-org override, and refused commands (run side by side: they change nothing).
        (code, out), *refused = await asyncio.gather(
            run_tandem("flags", "org", "chat", loud, "off", database_url=db_url, data_dir=tmp_path),
            run_tandem("flags", "set", "nope", "off", database_url=db_url, data_dir=tmp_path),
            run_tandem(
                "flags",
                "set",
                "members",
                "--rollout",
                "150",
                database_url=db_url,
                data_dir=tmp_path,
            ),
        )
        assert code == 0, out
        assert f"override: chat off for {loud}" in out
        assert f"override: members on for {loud}" in out
        for code, out in refused:
            assert code != 0, out
            assert "Traceback" not in out, out
        assert "unknown phase 'nope'" in refused[0][1]
        assert "rollout" in refused[1][1]

        async with owner.http() as http:
            assert await until(lambda: _chat_off(http, loud), 3.5)
        async with server.runtime.db.read() as session:
            rules = {r.phase: r for r in await flags.rules(session)}
        assert (
            rules["members"].enabled,
            rules["members"].rollout_percent,
            rules["members"].allow_orgs,
        ) == (True, 0, (quiet,))


async def _chat_off(http, org_id):
    return (await http.get(f"/api/orgs/{org_id}/flags")).json()["flags"]["chat"] is False


async def test_tandem_flags_sets_soak_and_prints_the_audit_trail(database_url, tmp_path):
    async with start_server(database_url, tmp_path) as server:
        org_id, (owner, member) = await team(server, ["Owner", "Member"])
        other = await make_org(owner, "Other")

        async def chat_state() -> str:
            async with member.http() as http:
                return (await http.get(f"/api/orgs/{org_id}/flags")).json()["states"]["chat"]

        async def chat_soaks() -> bool:
            return await chat_state() == "soak"

        code, out = await run_tandem(
            "flags", "org", "chat", org_id, "soak", database_url=database_url, data_dir=tmp_path
        )
        assert code == 0, out
        assert f"override: chat soak for {org_id}" in out
        assert await until(chat_soaks, 3.5)

        async with owner.http() as http:
            r = await http.put(f"/api/orgs/{org_id}/flags/kanban", json={"state": "off"})
            assert r.status_code == 200, r.text
            r = await http.put(f"/api/orgs/{other}/flags/task", json={"state": "soak"})
            assert r.status_code == 200, r.text
        (code, out), (refused, why) = await asyncio.gather(
            run_tandem(
                "flags",
                "set",
                "members",
                "--rollout",
                "50",
                database_url=database_url,
                data_dir=tmp_path,
            ),
            run_tandem(
                "flags",
                "org",
                "chat",
                org_id,
                "paused",
                database_url=database_url,
                data_dir=tmp_path,
            ),
        )
        assert code == 0, out
        assert refused != 0 and "Traceback" not in why, why

        code, out = await run_tandem(
            "flags", "audit", "--org", org_id, database_url=database_url, data_dir=tmp_path
        )
        assert code == 0, out
        rows = [line for line in out.splitlines()[1:] if line.strip()]
        assert len(rows) == 3, out  # newest first; the other org's change is not shown
        assert rows[0].split()[1:3] == ["members", "(global"]
        assert "on, 100%, allow: - -> on, 50%, allow: -" in rows[0]
        assert "terminal: tandem flags set" in rows[0]
        assert rows[1].split()[1:3] == ["kanban", org_id]
        assert "default -> off" in rows[1] and f"{owner.name}: set by an Owner" in rows[1]
        assert rows[2].split()[1:3] == ["chat", org_id]
        assert "default -> soak" in rows[2] and "terminal: tandem flags org" in rows[2]
        assert other not in out

        code, out = await run_tandem("flags", "audit", database_url=database_url, data_dir=tmp_path)
        assert code == 0, out
        assert other in out and len([line for line in out.splitlines()[1:] if line]) == 4

        code, out = await run_tandem("flags", database_url=database_url, data_dir=tmp_path)
        assert code == 0, out
        assert table(out)["members"] == ("on", "50%", "-")
        assert f"override: chat soak for {org_id}" in out
        assert f"override: kanban off for {org_id}" in out
        assert f"override: task soak for {other}" in out
        # "default" removes the override.
        code, out = await run_tandem(
            "flags", "org", "chat", org_id, "default", database_url=database_url, data_dir=tmp_path
        )
        assert code == 0 and "override: chat" not in out, out
