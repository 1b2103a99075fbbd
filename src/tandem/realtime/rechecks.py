"""Re-checking the sockets of this instance when access changes (a role, a removal, a revoked login):
each room a socket holds is authorized again, and a socket no longer allowed in leaves it and is
told `room.evicted`. The gateway runs these on the bus's control messages, on every instance."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from tandem.realtime import rooms
from tandem.realtime.envelope import RoomEvicted, envelope

if TYPE_CHECKING:
    from tandem.realtime.gateway import Gateway, SocketInfo

logger = logging.getLogger("tandem.gateway")


async def reauthorize_all(gateway: Gateway) -> None:
    """Re-check every local socket: close those whose login ended, leave rooms no longer allowed."""
    if not gateway.sockets:
        return
    revoked = await gateway.runtime.ended_logins(
        {info.session_id for info in gateway.sockets.values()}
    )
    for sid, info in list(gateway.sockets.items()):
        if info.session_id in revoked:
            await gateway.sio.disconnect(sid, ignore_queue=True)
    await recheck(gateway, list(gateway.sockets.items()), None)


async def reauthorize(gateway: Gateway, user_id: str, org_id: str | None) -> None:
    """Re-check the rooms of this user's local sockets; leave those no longer allowed."""
    # The person's local sockets are the members of their user room: no scan over every socket.
    members = gateway.manager.rooms.get("/", {}).get(rooms.user_room(user_id), {})
    local = [(sid, gateway.sockets[sid]) for sid in list(members) if sid in gateway.sockets]
    await recheck(gateway, local, org_id)


async def recheck(
    gateway: Gateway, local: list[tuple[str, SocketInfo]], org_id: str | None
) -> None:
    """One `authorize` per distinct (person, room) among these sockets, its verdict applied to all.

    A person may hold hundreds of sockets in the same rooms: a query per socket made one role
    change cost hundreds of queries and stalled delivery to everyone else meanwhile."""
    gateway.rechecks += 1  # before the sockets' rooms are read: see Gateway.on_subscribe
    holders: dict[tuple[str, str], list[tuple[str, SocketInfo]]] = {}
    for sid, info in local:
        for room, room_org in info.rooms.items():
            if room_org is None or (org_id is not None and room_org != org_id):
                continue
            holders.setdefault((info.user_id, room), []).append((sid, info))
    if not holders:
        return
    refused: list[tuple[str, str]] = []
    async with gateway.runtime.db.read() as session:
        for user_id, room in holders:
            if await rooms.authorize(session, user_id, room) is None:
                refused.append((user_id, room))
    for user_id, room in refused:
        evicted = holders[(user_id, room)]
        notice = envelope(RoomEvicted(room=room), room=room)
        for sid, info in evicted:
            if room in info.rooms:
                await gateway.leave(sid, info, room)
                await gateway.sio.emit(notice["event"], notice, to=sid, ignore_queue=True)
        logger.info(
            "sockets evicted",
            extra={"room": room, "user_id": user_id, "sockets": len(evicted)},
        )
