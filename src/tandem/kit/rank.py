"""Lexicographic fractional ranks: a task's position in its column is a string key, and a key can
always be made between two others, so a move rewrites one row, not the column.

A key is a base-36 fraction (digits `0-9a-z`, read as 0.d1d2d3…) that never ends in `0`: then
there is always room before the first key, after the last and between any two. Only lower-case
letters and digits, so the order is the same under any collation; the column still uses the "C"
collation on PostgreSQL (tasks/models.py) so nothing depends on that. Keys grow by about a
character each time one lands between two neighbours that are already adjacent; past
`MAX_LENGTH` the column is rebalanced: `spread` hands out short, evenly spaced keys again.
"""

from __future__ import annotations

DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
BASE = len(DIGITS)
MAX_LENGTH = 24  # well inside the column's 64 characters, so a key never has to be refused
_VALUE = {digit: value for value, digit in enumerate(DIGITS)}


def is_key(key: str) -> bool:
    return bool(key) and key[-1] != "0" and all(c in _VALUE for c in key)


def between(before: str | None, after: str | None) -> str:
    """A key strictly after `before` and strictly before `after` (None: no bound on that side)."""
    if before is not None and after is not None and not before < after:
        raise ValueError(f"no key between {before!r} and {after!r}")
    return _midpoint(before or "", after)


def _midpoint(low: str, high: str | None) -> str:
    # low < high as fractions; low may be "" (zero), high None (one).
    if high is not None:
        shared = 0
        while shared < len(high) and (low[shared] if shared < len(low) else "0") == high[shared]:
            shared += 1
        if shared:
            return high[:shared] + _midpoint(low[shared:], high[shared:])
    low_digit = _VALUE[low[0]] if low else 0
    high_digit = _VALUE[high[0]] if high is not None else BASE
    if high_digit - low_digit > 1:
        return DIGITS[(low_digit + high_digit) // 2]
    if high is not None and len(high) > 1:
        return high[0]  # high's first digit alone: above low, below high
    return DIGITS[low_digit] + _midpoint(low[1:], None)


def spread(count: int) -> list[str]:
    """`count` ascending keys, evenly spaced and as short as that many allows (for a rebalance)."""
    width = 1
    while BASE**width <= count:
        width += 1
    step = BASE**width / (count + 1)
    keys = []
    for i in range(1, count + 1):
        value = int(step * i)
        digits = []
        for _ in range(width):
            value, digit = divmod(value, BASE)
            digits.append(DIGITS[digit])
        keys.append("".join(reversed(digits)).rstrip("0"))
    return keys


def needs_rebalance(key: str) -> bool:
    return len(key) > MAX_LENGTH
