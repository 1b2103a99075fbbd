"""Answers (acks) through the fan-out's fast path (accel/frame_fanout.py, `write_answer`): written as
frames like broadcasts, at once or joined with the event-loop pass's other frames for that socket,
in their place among them; a socket whose queue holds something gets its answer through the queue,
behind what is there. A raw WebSocket client reads the frames in the order they were written."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from engineio import packet as eio_packet
from websockets.asyncio.client import ClientConnection

from tandem import accel
from tests.accel.test_frame_fanout import EVENT, env
from tests.harness import Server, open_socket, quick_team

pytestmark = pytest.mark.skipif(
    accel.switched_off(), reason="accelerators are off (TANDEM_ACCEL=off)"
)


async def frames(ws: ClientConnection, count: int) -> list[str]:
    """The next `count` Socket.IO packets, answering pings."""
    got: list[str] = []
    async with asyncio.timeout(10):
        while len(got) < count:
            message = await ws.recv()
            if message == "2":
                await ws.send("3")
                continue
            assert isinstance(message, str) and message.startswith("4"), message
            got.append(message[1:])
    return got


def label(packet: str) -> str:
    """'event 3' for a broadcast of seq 3, 'ack 7' for the answer to request 7."""
    if packet.startswith("2"):
        return f"event {json.loads(packet[1:])[1]['seq']}"
    assert packet.startswith("3"), packet
    return f"ack {packet[1 : packet.index('[')]}"


async def subscribed(server: Server) -> tuple[str, ClientConnection, str, Any]:
    org_id, (owner,) = await quick_team(server, ["Owner"])
    room = f"org:{org_id}"
    ws = await open_socket(owner)
    await ws.send("421" + json.dumps(["subscribe", {"room": room}]))
    assert label((await frames(ws, 1))[0]) == "ack 1"
    ((eio_sid, socket),) = server.runtime.sio.eio.sockets.items()
    return room, ws, eio_sid, socket


async def test_an_answer_goes_out_in_its_place_among_the_passs_frames(sqlite_server):
    room, ws, eio_sid, socket = await subscribed(sqlite_server)
    manager = sqlite_server.runtime.gateway.manager
    await asyncio.sleep(0.05)  # out of any burst
    # One pass: a lone broadcast goes out at once; what follows it in the pass is joined.
    await manager.emit(EVENT, env(room, 1), "/", room=room)
    await manager.emit(EVENT, env(room, 2), "/", room=room)
    assert manager.write_answer(eio_sid, socket, '37[{"ok":true}]')
    await manager.emit(EVENT, env(room, 3), "/", room=room)
    assert [len(f) for f in manager._corked.values()] == [3]  # 2, the answer, 3
    got = [label(p) for p in await frames(ws, 4)]
    assert got == ["event 1", "event 2", "ack 7", "event 3"]

    await asyncio.sleep(0.05)
    assert manager.write_answer(eio_sid, socket, '38[{"ok":true}]')
    assert len(manager._corked) == 1  # the pass after one of several broadcasts: joined too
    await asyncio.sleep(0.05)
    assert manager.write_answer(eio_sid, socket, '39[{"ok":true}]')
    assert not manager._corked  # out of a burst: written at once
    assert [label(p) for p in await frames(ws, 2)] == ["ack 8", "ack 9"]
    await ws.close()


async def test_an_answer_waits_behind_what_the_sockets_queue_holds(sqlite_server):
    room, ws, eio_sid, socket = await subscribed(sqlite_server)
    manager = sqlite_server.runtime.gateway.manager
    await asyncio.sleep(0.05)
    # A packet in the socket's queue, its writer not yet run: the answer must not overtake it.
    queued = "2" + json.dumps([EVENT, env(room, 1)])
    await socket.send(eio_packet.Packet(eio_packet.MESSAGE, data=queued))
    assert socket.queue._queue
    assert not manager.write_answer(eio_sid, socket, '39[{"ok":true}]')
    await sqlite_server.runtime.sio.eio.send(eio_sid, '39[{"ok":true}]')  # what the gate then does
    assert [label(p) for p in await frames(ws, 2)] == ["event 1", "ack 9"]
    await ws.close()


async def test_requests_answered_during_broadcasts_all_arrive_and_events_keep_their_order(
    sqlite_server,
):
    """The gate's answers take the direct path: every request is answered once, and the events
    broadcast meanwhile arrive each once, in order."""
    room, ws, _eio_sid, _socket = await subscribed(sqlite_server)
    manager = sqlite_server.runtime.gateway.manager
    outcomes: list[bool] = []
    write_answer = manager.write_answer

    def recorded(*args: Any) -> bool:
        outcomes.append(write_answer(*args))
        return outcomes[-1]

    manager.write_answer = recorded  # type: ignore[method-assign]
    requests, events = range(10, 210), 300

    async def ask() -> None:
        for i in requests:  # an unknown event: answered `invalid` by the gate, no database
            await ws.send(f"42{i}" + json.dumps(["no.such.event", {}]))
            if i % 20 == 0:
                await asyncio.sleep(0.005)

    async def broadcast() -> None:
        for seq in range(1, events + 1):
            await sqlite_server.runtime.gateway.publish(EVENT, env(room, seq), room)
            if seq % 15 == 0:
                await asyncio.sleep(0.003)

    got_task = asyncio.create_task(frames(ws, len(requests) + events))
    await asyncio.gather(ask(), broadcast())
    got = [label(p) for p in await got_task]
    assert [g for g in got if g.startswith("event")] == [f"event {s}" for s in range(1, 301)]
    assert sorted(int(g.split()[1]) for g in got if g.startswith("ack")) == list(requests)
    assert True in outcomes
    await ws.close()


async def test_no_answer_is_written_for_a_closed_socket(sqlite_server):
    _, people = await quick_team(sqlite_server, ["Owner"])
    ws = await open_socket(people[0])
    ((eio_sid, socket),) = sqlite_server.runtime.sio.eio.sockets.items()
    await ws.close()
    for _ in range(100):
        if socket.closed:
            break
        await asyncio.sleep(0.02)
    assert not sqlite_server.runtime.gateway.manager.write_answer(eio_sid, socket, "3[1]")


async def test_an_answer_with_binary_parts_is_left_to_the_library(sqlite_server):
    _room, ws, eio_sid, socket = await subscribed(sqlite_server)
    manager = sqlite_server.runtime.gateway.manager
    await asyncio.sleep(0.05)
    binary = ['61-[{"_placeholder":true,"num":0}]', b"\x00"]  # what encode() gives for bytes
    assert not manager.write_answer(eio_sid, socket, binary)  # type: ignore[arg-type]
    assert not manager._corked
    await ws.close()
