"""Each socket's rooms, kept beside the library's: a disconnect leaves only the rooms its socket is in.

python-socketio keeps rooms as `rooms[namespace][room] = {sid: eio_sid}` and finds the rooms of
a socket that disconnects (and `get_rooms`) by looking for its sid in every room of the
namespace. Every socket has two rooms of its own (its sid's and the namespace's `None` member
list) and Tandem gives each person a `user:` room, so there are at least twice as many rooms as
sockets, and a disconnect costs time in proportion to every socket connected: a server stopping
with 5,000 sockets spent 88 % of its 7 s of stopping CPU in that scan (and 81 s at 10,000).
`RoomIndex` records each socket's rooms as the library's `basic_enter_room` and
`basic_leave_room` add and remove them (every change to the rooms goes through those two), and
answers `basic_disconnect` and `get_rooms` from the record.
"""

from __future__ import annotations

from typing import Any

from tandem import accel

NAME = "room_index"
accel.register(
    accel.Accelerator(
        NAME,
        "each socket's rooms recorded, so a disconnect leaves them without scanning every room",
        {"python-socketio": "5.18.1"},
    )
)


class RoomIndex:
    """A mixin for a python-socketio manager (before `socketio.AsyncManager` in its bases)."""

    rooms: dict[str, dict[Any, Any]]
    callbacks: dict[str, Any]
    pending_connect: dict[str, set[str]]
    pending_disconnect: dict[str, set[str]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.indexed = accel.enabled(NAME)
        self._rooms_of: dict[tuple[str, str], set[Any]] = {}

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: Any = None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)  # type: ignore[misc]
        if self.indexed:  # (the library raises before it changes anything)
            self._rooms_of.setdefault((namespace, sid), set()).add(room)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)  # type: ignore[misc]
        if self.indexed:
            mine = self._rooms_of.get((namespace, sid))
            if mine is not None:
                mine.discard(room)
                if not mine:
                    del self._rooms_of[(namespace, sid)]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        if not self.indexed:
            return super().basic_disconnect(sid, namespace, **kwargs)  # type: ignore[misc]
        for room in list(self._rooms_of.get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        # the rest of the library's basic_disconnect (python-socketio 5.18.1), unchanged
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            sids = pending.get(namespace)
            if sids is not None and sid in sids:
                sids.remove(sid)
                if not sids:
                    del pending[namespace]
        return None

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        if not self.indexed:
            return super().get_rooms(sid, namespace)  # type: ignore[misc, no-any-return]
        return [room for room in self._rooms_of.get((namespace, sid), ()) if room is not None]
