"""accel/fast_session.py: repeated statements on the DBAPI cursor give exactly what the stock session gives,
on SQLite and PostgreSQL, inside the unit of work's transaction; everything else takes the stock path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    ForeignKey,
    Integer,
    MetaData,
    String,
    bindparam,
    delete,
    exc,
    func,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from tandem import accel
from tandem.accel import fast_session
from tandem.accel.fast_session import FastSession, fast_runs
from tandem.db import Database, UTCDateTime

T0 = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


class Shouted(TypeDecorator):
    """A bind processor the fast path must apply, as SQLAlchemy would."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return None if value is None else value.upper()


class Base(DeclarativeBase):
    metadata = MetaData()


class Crew(Base):
    __tablename__ = "fast_crew"
    id: Mapped[str] = mapped_column(String(8), primary_key=True)
    team: Mapped[str] = mapped_column(String(8))
    label: Mapped[str] = mapped_column(Shouted())
    n: Mapped[int] = mapped_column(Integer)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    data: Mapped[Any] = mapped_column(JSON)


class Note(Base):
    __tablename__ = "fast_note"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    crew_id: Mapped[str] = mapped_column(ForeignKey("fast_crew.id"))
    body: Mapped[str] = mapped_column(String(40))
    stamp: Mapped[int] = mapped_column(Integer, default=lambda: 7)  # a Python-side default


crew = Crew.__table__

BY_TEAM = (select(crew.c.id, crew.c.label, crew.c.n, crew.c.seen_at, crew.c.data)
           .where(crew.c.team == bindparam("team"), crew.c.n >= 2).order_by(crew.c.id).with_for_update())
ORM_COLUMNS = (select(Crew.id, Crew.n.is_not(None), func.lower(Crew.label), Crew.seen_at)
               .where(Crew.team == bindparam("team")).order_by(Crew.id))
COUNT = select(func.count()).select_from(crew).where(crew.c.team == bindparam("team"))
IDS = select(Crew.id).where(Crew.n >= bindparam("at_least")).order_by(Crew.id)
ADD = insert(crew)
RELABEL = crew.update().where(crew.c.id == bindparam("c_id")).values(label=bindparam("c_label"),
                                                                      seen_at=bindparam("c_seen"))
DROP = delete(crew).where(crew.c.id == bindparam("c_id"))
ADD_RETURNING = insert(crew).returning(crew.c.id, crew.c.seen_at)


@pytest.fixture
async def db(database_url: str):
    accel.reset()
    fast_session._plans.clear()  # every test starts with statements the session has not seen
    database = Database(database_url)
    async with database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    async with database.unit_of_work() as session:
        for i, team in enumerate(["a", "a", "b", "a"], start=1):
            session.add(Crew(id=f"c{i}", team=team, label=f"name {i}", n=i, seen_at=T0 + timedelta(minutes=i),
                             data={"i": i, "tags": ["x", i]}))
    yield database
    await database.dispose()


def _plain(rows: Any) -> list[tuple]:
    return [tuple(row) for row in rows]


async def test_the_session_is_the_fast_one_and_the_stock_one_when_switched_off(db, monkeypatch, database_url):
    assert db.sessions.class_ is FastSession
    monkeypatch.setenv("TANDEM_ACCEL", "off")
    accel.reset()
    off = Database(database_url)
    try:
        assert off.sessions.class_ is AsyncSession and fast_session.session_class() is AsyncSession
        if off.is_sqlite:
            assert off.engine.dialect.driver == "aiosqlite"  # the stock SQLite driver, not the inline one
        async with off.unit_of_work() as session:
            for _ in range(3):
                rows = _plain(await session.execute(BY_TEAM, {"team": "a"}))
            assert [row[0] for row in rows] == ["c2", "c4"]
            await session.execute(RELABEL, {"c_id": "c1", "c_label": "off", "c_seen": T0})
        async with off.read() as session:
            assert await session.scalar(select(crew.c.label).where(crew.c.id == "c1")) == "OFF"
    finally:
        await off.dispose()
        monkeypatch.delenv("TANDEM_ACCEL")
        accel.reset()


async def test_a_repeated_select_gives_the_stock_rows_from_its_second_execution(db):
    async with db.unit_of_work() as session:
        by_team = BY_TEAM.where(crew.c.n < 100)  # a statement object of this test's own
        first = (await session.execute(by_team, {"team": "a"})).all()
        assert fast_runs(by_team) == 0  # the first execution is the stock one
        second = (await session.execute(by_team, {"team": "a"})).all()
        assert fast_runs(by_team) == 1
        assert _plain(second) == _plain(first) == [
            ("c2", "NAME 2", 2, T0 + timedelta(minutes=2), {"i": 2, "tags": ["x", 2]}),
            ("c4", "NAME 4", 4, T0 + timedelta(minutes=4), {"i": 4, "tags": ["x", 4]}),
        ]
        row = second[0]
        assert (row.id, row.label, row._mapping["n"]) == ("c2", "NAME 2", 2)
        assert row.seen_at.tzinfo is not None  # the type's result processor ran
        assert _plain(await session.execute(by_team, {"team": "b"})) == [
            ("c3", "NAME 3", 3, T0 + timedelta(minutes=3), {"i": 3, "tags": ["x", 3]})]


async def test_orm_columns_scalar_and_scalars_give_the_stock_values(db):
    async with db.unit_of_work() as session:
        stock = await session.execute(ORM_COLUMNS, {"team": "a"})
        stock_keys, stock_rows = stock.keys(), _plain(stock)
        fast = await session.execute(ORM_COLUMNS, {"team": "a"})
        assert fast_runs(ORM_COLUMNS)
        assert fast.keys() == list(stock_keys) and _plain(fast) == stock_rows
        assert stock_rows[0] == ("c1", True, "name 1", T0 + timedelta(minutes=1))
        counts = [await session.scalar(COUNT, {"team": "a"}) for _ in range(3)]
        assert counts == [3, 3, 3] and fast_runs(COUNT)
        ids = [(await session.scalars(IDS, {"at_least": 2})).all() for _ in range(3)]
        assert ids == [["c2", "c3", "c4"]] * 3 and fast_runs(IDS)
        assert await session.scalar(IDS, {"at_least": 9}) is None


async def test_result_methods_behave_as_the_stock_results(db):
    async with db.unit_of_work() as session:
        for _ in range(2):
            await session.execute(IDS, {"at_least": 1})
        assert (await session.execute(IDS, {"at_least": 4})).one()[0] == "c4"
        assert (await session.execute(IDS, {"at_least": 4})).scalar_one() == "c4"
        assert (await session.execute(IDS, {"at_least": 9})).one_or_none() is None
        assert (await session.execute(IDS, {"at_least": 9})).scalar_one_or_none() is None
        assert (await session.execute(IDS, {"at_least": 9})).first() is None
        assert (await session.execute(IDS, {"at_least": 3})).scalars().first() == "c3"
        assert [row.id for row in await session.execute(IDS, {"at_least": 3})] == ["c3", "c4"]
        assert (await session.execute(IDS, {"at_least": 3})).mappings().all() == [{"id": "c3"}, {"id": "c4"}]
        with pytest.raises(exc.NoResultFound):
            (await session.execute(IDS, {"at_least": 9})).one()
        with pytest.raises(exc.MultipleResultsFound):
            (await session.execute(IDS, {"at_least": 1})).one_or_none()
        with pytest.raises(exc.MultipleResultsFound):
            (await session.execute(IDS, {"at_least": 1})).scalars().one()
        used = await session.execute(IDS, {"at_least": 1})
        used.first()
        with pytest.raises(exc.ResourceClosedError):
            used.all()
        assert fast_runs(IDS)


async def test_writes_go_through_bind_processors_and_belong_to_the_unit_of_work(db):
    async with db.unit_of_work() as session:
        for i, label in ((5, "five"), (6, "six"), (7, "seven")):
            await session.execute(ADD, {"id": f"c{i}", "team": "c", "label": label, "n": i, "seen_at": T0,
                                        "data": {"label": label}})
        assert fast_runs(ADD)
        changed = [(await session.execute(RELABEL, {"c_id": cid, "c_label": "moved", "c_seen": T0})).rowcount
                   for cid in ("c5", "c6", "nope")]
        assert changed == [1, 1, 0] and fast_runs(RELABEL)
        dropped = [(await session.execute(DROP, {"c_id": cid})).rowcount for cid in ("c7", "c7")]
        assert dropped == [1, 0]
        result = await session.execute(DROP, {"c_id": "nope"})
        assert fast_runs(DROP) and not result.returns_rows
        with pytest.raises(exc.ResourceClosedError):
            result.all()
        returned = [_plain(await session.execute(ADD_RETURNING, {"id": f"r{i}", "team": "r", "label": "r", "n": i,
                                                                "seen_at": T0, "data": None})) for i in range(3)]
        assert returned == [[(f"r{i}", T0)] for i in range(3)] and fast_runs(ADD_RETURNING)
    async with db.read() as session:  # committed with the unit of work
        rows = (await session.execute(select(crew.c.id, crew.c.label, crew.c.seen_at, crew.c.data)
                                      .where(crew.c.team == "c").order_by(crew.c.id))).all()
        assert _plain(rows) == [("c5", "MOVED", T0, {"label": "five"}), ("c6", "MOVED", T0, {"label": "six"})]


async def test_a_failed_unit_of_work_rolls_back_what_the_fast_path_ran(db):
    async with db.unit_of_work() as session:  # warm: from here on RELABEL and ADD run fast
        for cid in ("c1", "c1"):
            await session.execute(RELABEL, {"c_id": cid, "c_label": "name 1", "c_seen": T0})
        await session.execute(ADD, {"id": "c8", "team": "d", "label": "x", "n": 8, "seen_at": T0, "data": None})
    with pytest.raises(RuntimeError):
        async with db.unit_of_work() as session:
            await session.execute(RELABEL, {"c_id": "c2", "c_label": "gone", "c_seen": T0})
            raise RuntimeError("the handler failed")
    with pytest.raises(exc.IntegrityError):  # the error SQLAlchemy raises, wrapping the driver's
        async with db.unit_of_work() as session:
            await session.execute(RELABEL, {"c_id": "c3", "c_label": "gone", "c_seen": T0})
            await session.execute(ADD, {"id": "c1", "team": "d", "label": "x", "n": 0, "seen_at": T0, "data": None})
    assert fast_runs(RELABEL) and fast_runs(ADD)
    async with db.unit_of_work() as session:  # the connection is usable again
        await session.execute(ADD, {"id": "c9", "team": "d", "label": "nine", "n": 9, "seen_at": T0, "data": None})
    async with db.read() as session:
        labels = dict((await session.execute(select(crew.c.id, crew.c.label))).all())
    assert labels["c2"] == "NAME 2" and labels["c3"] == "NAME 3" and labels["c9"] == "NINE"


async def test_pending_orm_changes_are_flushed_before_a_statement_as_the_stock_session_does(db):
    async with db.unit_of_work() as session:
        for _ in range(2):
            await session.execute(ORM_COLUMNS, {"team": "z"})
        session.add(Crew(id="p1", team="z", label="pending", n=1, seen_at=T0, data=None))
        rows = _plain(await session.execute(ORM_COLUMNS, {"team": "z"}))
        assert rows == [("p1", True, "pending", T0)]
        assert not session.new  # flushed by the stock path's autoflush
        assert _plain(await session.execute(ORM_COLUMNS, {"team": "z"})) == rows  # and fast again


async def test_what_the_fast_path_cannot_run_faithfully_takes_the_stock_path(db):
    async with db.unit_of_work() as session:
        for _ in range(3):  # a statement built per call is new each time: never planned
            assert await session.scalar(select(func.count()).select_from(crew)) == 4
        expanding = select(crew.c.id).where(crew.c.id.in_(bindparam("ids", expanding=True))).order_by(crew.c.id)
        with_default = insert(Note)
        entities = select(Crew).where(Crew.team == bindparam("team")).order_by(Crew.id)
        for i in range(3):
            assert (await session.scalars(expanding, {"ids": ["c1", "c3"]})).all() == ["c1", "c3"]
            await session.execute(with_default, {"id": i, "crew_id": "c1", "body": "hi"})
            assert [c.id for c in (await session.scalars(entities, {"team": "b"})).all()] == ["c3"]
        assert not any(fast_runs(s) for s in (expanding, with_default, entities))
        assert (await session.execute(select(Note.stamp).where(Note.id == 2))).scalar_one() == 7
        with pytest.raises(exc.StatementError):  # a missing parameter: the stock error
            await session.execute(RELABEL, {"c_id": "c1"})


ORM_RENUMBER = crew.update().where(Crew.id == bindparam("c_id")).values(n=bindparam("c_n"))  # names ORM attributes


async def test_orm_enabled_dml_runs_fast_only_while_no_object_is_loaded(db):
    async with db.unit_of_work() as session:
        for i in range(3):
            await session.execute(ORM_RENUMBER, {"c_id": "c1", "c_n": 10 + i})
        assert fast_runs(ORM_RENUMBER) == 2
        loaded = await session.get(Crew, "c1")
        assert loaded.n == 12
        await session.execute(ORM_RENUMBER, {"c_id": "c1", "c_n": 20})
        assert fast_runs(ORM_RENUMBER) == 2  # stock: the ORM's to decide what a loaded object sees
        assert await session.scalar(select(crew.c.n).where(crew.c.id == "c1")) == 20


async def test_the_first_statement_of_a_session_begins_its_transaction_as_the_stock_path_does(db):
    for _ in range(2):
        async with db.unit_of_work() as session:
            assert session.in_transaction() is False
            await session.execute(RELABEL, {"c_id": "c4", "c_label": "first", "c_seen": T0})
            assert session.in_transaction()
    assert fast_runs(RELABEL) == 1
    async with db.read() as session:
        assert await session.scalar(select(crew.c.label).where(crew.c.id == "c4")) == "FIRST"


async def test_another_sqlalchemy_release_switches_both_database_accelerators_off(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv(accel.ENV, raising=False)
    real = accel.installed_version
    monkeypatch.setattr(accel, "installed_version", lambda name: "2.1.10" if name == "sqlalchemy" else real(name))
    accel.reset()
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    try:
        assert database.engine.dialect.driver == "aiosqlite" and database.sessions.class_ is AsyncSession
        assert "accelerator sqlite_inline is off" in caplog.text and "sqlalchemy 2.1.10 (written for 2.1.9)" in caplog.text
        assert "accelerator dbapi_statements is off" in caplog.text
        async with database.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        async with database.unit_of_work() as session:
            session.add(Crew(id="s1", team="s", label="stock", n=3, seen_at=T0, data=[1]))
        async with database.read() as session:
            rows = [(await session.execute(BY_TEAM, {"team": "s"})).all() for _ in range(2)]
        assert _plain(rows[0]) == _plain(rows[1]) == [("s1", "STOCK", 3, T0, [1])]
    finally:
        await database.dispose()
        accel.reset()
