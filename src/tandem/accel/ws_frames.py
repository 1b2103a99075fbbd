"""Plain text frames read without wsproto: the accelerated websocket connection's
(accel/uvicorn_wsproto.py) reading of what clients send once the connection is open.

Every Socket.IO packet a client sends is one small masked text frame, and wsproto's pure-Python
reading of it (a buffer, a header parsed into enums and named tuples, a masker and an incremental
UTF-8 decoder made per frame, an event, uvicorn's StringIO buffer) cost about a twentieth of the
server's CPU under the chat load. `read_plain_frames` reads such frames itself: a final,
unfragmented, masked text frame of valid UTF-8 up to 65,535 bytes and the connection's size limit.
At the first frame that is anything else (control, binary, fragmented, longer, malformed, cut off)
it stops, and the connection hands that frame and everything after it to wsproto, which then reads
on as it always did (tests/accel/test_uvicorn_wsproto.py compares the two connections).
"""

from __future__ import annotations


def read_plain_frames(data: bytes, max_size: int) -> tuple[list[str], int]:
    """The texts of the plain text frames (see the module's docstring) `data` starts with, and
    how many bytes they took; the rest, from the first frame that is not one, is wsproto's."""
    texts: list[str] = []
    at, end = 0, len(data)
    while end - at >= 6:
        if data[at] != 0x81:  # FIN, no RSV bits, TEXT
            break
        length = data[at + 1] ^ 0x80  # the mask bit must be set: clients mask every frame
        if length < 126:
            start = at + 6
        elif length == 126 and end - at >= 8:
            length = (data[at + 2] << 8) | data[at + 3]
            if length < 126:  # not the shortest encoding: wsproto refuses it
                break
            start = at + 8
        else:  # not masked, a 64-bit length, or the header is cut off
            break
        stop = start + length
        if stop > end or length > max_size:
            break
        key = data[start - 4 : start]
        mask = int.from_bytes(key * ((length >> 2) + 1), "little") & ((1 << (length << 3)) - 1)
        raw = (int.from_bytes(data[start:stop], "little") ^ mask).to_bytes(length, "little")
        try:
            texts.append(raw.decode())
        except UnicodeDecodeError:
            break
        at = stop
    return texts, at
