"""Flag rules through src/tandem/flags/service.py (SPEC §6): on/off, allow-list, rollout percentage, overrides."""

import pytest

from tandem.db import Database
from tandem.flags import service as flags
from tandem.kit.errors import Invalid

ORGS = [f"org_{i:04d}" for i in range(1000)]


@pytest.fixture
async def db(database_url):
    database = Database(database_url)
    flags.cache.clear()
    yield database
    flags.cache.clear()
    await database.dispose()


async def enabled_orgs(db, phase, orgs=ORGS):
    async with db.read() as session:
        return {o for o in orgs if await flags.is_enabled(session, phase, o)}


async def set_rule(db, phase, **changes):
    async with db.unit_of_work() as session:
        return await flags.set_rule(session, phase, **changes)


async def set_override(db, phase, org_id, enabled):
    async with db.unit_of_work() as session:
        await flags.set_org_override(session, phase, org_id, enabled)


async def test_a_new_install_has_every_phase_on_everywhere(db):
    async with db.read() as session:
        rules = await flags.rules(session)
        assert [r.phase for r in rules] == [
            "members",
            "dashboard",
            "kanban",
            "task",
            "project",
            "chat",
        ]
        assert all(r.enabled and r.rollout_percent == 100 and r.allow_orgs == () for r in rules)
        assert await flags.flags_for_org(session, "org_any") == {p: True for p in flags.PHASES}
    for phase in flags.PHASES:
        assert await enabled_orgs(db, phase, ORGS[:50]) == set(ORGS[:50])


async def test_rollout_percentage_is_a_stable_growing_share_of_orgs(db):
    shares = {}
    for percent in (0, 10, 50, 90, 100):
        await set_rule(db, "kanban", rollout_percent=percent)
        shares[percent] = await enabled_orgs(db, "kanban")
        # About that share of orgs (the hash is even), the same answer on every read.
        assert abs(len(shares[percent]) - percent * len(ORGS) / 100) <= 40, (
            percent,
            len(shares[percent]),
        )
        flags.cache.clear()
        assert await enabled_orgs(db, "kanban") == shares[percent]
    assert shares[0] == set() and shares[100] == set(ORGS)
    # Raising the percentage only adds orgs; nobody flips off on the way up.
    assert shares[10] <= shares[50] <= shares[90]
    # The other phases are untouched.
    assert await enabled_orgs(db, "chat", ORGS[:100]) == set(ORGS[:100])


async def test_allow_list_wins_over_the_rollout_but_not_over_off(db):
    allowed = ["org_0001", "org_0500", "org_xyz"]
    rule = await set_rule(db, "task", rollout_percent=0, allow_orgs=allowed + ["org_0001"])
    assert (rule.enabled, rule.rollout_percent, rule.allow_orgs) == (
        True,
        0,
        tuple(sorted(allowed)),
    )
    assert await enabled_orgs(db, "task", ORGS + ["org_xyz"]) == set(allowed)

    # Changing one part of a rule keeps the others.
    await set_rule(db, "task", rollout_percent=100)
    async with db.read() as session:
        rule = {r.phase: r for r in await flags.rules(session)}["task"]
    assert rule.allow_orgs == tuple(sorted(allowed)) and rule.enabled

    # Off is off: even allow-listed orgs get nothing.
    await set_rule(db, "task", enabled=False)
    assert await enabled_orgs(db, "task", ORGS[:600]) == set()
    await set_rule(db, "task", enabled=True, rollout_percent=0, allow_orgs=[])
    assert await enabled_orgs(db, "task", ORGS[:600]) == set()


async def test_an_org_override_wins_over_the_rule_until_removed(db):
    await set_override(db, "members", "org_0002", False)
    assert await enabled_orgs(db, "members", ORGS[:5]) == {
        "org_0000",
        "org_0001",
        "org_0003",
        "org_0004",
    }

    await set_rule(db, "members", enabled=False)
    await set_override(db, "members", "org_0003", True)
    assert await enabled_orgs(db, "members", ORGS[:5]) == {"org_0003"}

    await set_override(db, "members", "org_0003", None)  # back to the rule
    await set_override(db, "members", "org_0002", None)
    assert await enabled_orgs(db, "members", ORGS[:5]) == set()
    await set_rule(db, "members", enabled=True)
    assert await enabled_orgs(db, "members", ORGS[:5]) == set(ORGS[:5])
    async with db.read() as session:  # an override for one phase leaves the other phases alone
        await set_override(db, "chat", "org_0004", False)
        assert await flags.flags_for_org(session, "org_0004") == {
            p: p != "chat" for p in flags.PHASES
        }


async def test_bad_rules_are_refused_and_change_nothing(db):
    for changes in ({"rollout_percent": -1}, {"rollout_percent": 101}):
        with pytest.raises(Invalid):
            await set_rule(db, "chat", **changes)
    for phase in ("nope", "Members", ""):
        with pytest.raises(Invalid):
            await set_rule(db, phase, enabled=False)
        with pytest.raises(Invalid):
            await set_override(db, phase, "org_0001", False)
    async with db.read() as session:
        assert all(r.enabled and r.rollout_percent == 100 for r in await flags.rules(session))
