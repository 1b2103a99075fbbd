"""accel/room_index.py: the rooms a manager keeps are exactly the library's after any sequence of
connects, room entries, leaves, closed rooms and disconnects, and a disconnect no longer looks at
other sockets' rooms."""

from __future__ import annotations

import random
from typing import Any

import pytest
import socketio
from socketio.async_manager import AsyncManager

from tandem import accel
from tandem.accel.room_index import RoomIndex
from tandem.realtime.delivery import make_manager


class Indexed(RoomIndex, AsyncManager):
    pass


def served(manager: Any, indexed: bool) -> Any:
    socketio.AsyncServer(client_manager=manager, async_mode="asgi")
    manager.indexed = indexed
    return manager


def state(manager: Any) -> dict[Any, dict[Any, dict[str, str]]]:
    return {
        namespace: {room: dict(members) for room, members in rooms.items()}
        for namespace, rooms in manager.rooms.items()
    }


@pytest.mark.parametrize("seed", range(5))
async def test_the_rooms_are_the_librarys_after_any_sequence_of_changes(seed: int) -> None:
    pick = random.Random(seed)
    ours, stock = served(Indexed(), True), served(AsyncManager(), False)
    rooms = [f"org:{i}" for i in range(4)] + [f"user:{i}" for i in range(3)]
    connected: list[tuple[str, str, str]] = []  # (namespace, sid, eio sid), the same in both
    for step in range(400):
        action = pick.choice(["connect"] * 3 + ["enter"] * 5 + ["leave"] * 2 + ["close", "drop"])
        if action == "connect" or not connected:
            namespace = pick.choice(["/", "/admin"])
            eio_sid = f"e{step}"
            sid = await ours.connect(eio_sid, namespace)
            stock.server.eio.generate_id = lambda sid=sid: sid  # the same sid in both
            assert await stock.connect(eio_sid, namespace) == sid
            connected.append((namespace, sid, eio_sid))
        elif action == "enter":
            namespace, sid, _ = pick.choice(connected)
            room = pick.choice(rooms)
            for manager in (ours, stock):
                await manager.enter_room(sid, namespace, room)
        elif action == "leave":
            namespace, sid, _ = pick.choice(connected)
            room = pick.choice(rooms)
            for manager in (ours, stock):
                await manager.leave_room(sid, namespace, room)
        elif action == "close":
            namespace = pick.choice(["/", "/admin"])
            room = pick.choice(rooms)
            for manager in (ours, stock):
                await manager.close_room(room, namespace)
        else:
            namespace, sid, _ = connected.pop(pick.randrange(len(connected)))
            for manager in (ours, stock):
                await manager.disconnect(sid, namespace)
        assert state(ours) == state(stock), (step, action)
        for namespace, sid, _ in connected:
            assert sorted(map(str, ours.get_rooms(sid, namespace))) == sorted(
                map(str, stock.get_rooms(sid, namespace))
            )
    for namespace, sid, _ in connected:
        await ours.disconnect(sid, namespace)
    assert ours.rooms == {} and ours._rooms_of == {}


async def test_a_disconnect_reads_only_its_own_rooms() -> None:
    manager = served(Indexed(), True)
    sids = [await manager.connect(f"e{i}", "/") for i in range(300)]
    for i, sid in enumerate(sids):
        await manager.enter_room(sid, "/", f"user:{i}")
        await manager.enter_room(sid, "/", "org:1")
    looked: list[Any] = []

    class Counted(dict):  # a room that counts who asks whether a socket is in it
        def __contains__(self, sid: object) -> bool:
            looked.append(sid)
            return super().__contains__(sid)

    manager.rooms["/"] = {room: Counted(members) for room, members in manager.rooms["/"].items()}
    await manager.disconnect(sids[0], "/")
    assert looked == []  # the library's own path asks each of the 602 rooms
    assert all(sids[0] not in members for members in manager.rooms["/"].values())
    assert manager.get_rooms(sids[1], "/") != [] and "user:0" not in manager.rooms["/"]


async def test_tandems_managers_keep_the_index_unless_accelerators_are_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(accel.ENV, raising=False)
    accel.reset()
    assert make_manager("").indexed is True
    monkeypatch.setenv(accel.ENV, "off")
    accel.reset()
    assert make_manager("").indexed is False
    accel.reset()
