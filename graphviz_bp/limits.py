"""Resource limits shared by the API and the front ends: the memory limit and sizes written by people."""

from __future__ import annotations

import re

__all__ = ["DEFAULT_MEMORY_LIMIT", "parse_size", "size_text"]

#: Bytes of arrays one trace may create (intermediates and constants; the caller's own input
#: arrays are not counted). Checked before NumPy allocates each one.
DEFAULT_MEMORY_LIMIT = 2**30

_SIZE = re.compile(r"^\s*(\d{1,20}(?:\.\d{0,20})?|\.\d{1,20})\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_size(text: str | int) -> int:
    """A size in bytes from ``512M``, ``2G``, ``1.5GiB``, ``100000`` (units are powers of 1024).

    >>> parse_size("512M"), parse_size("2g"), parse_size("1.5GiB"), parse_size(4096)
    (536870912, 2147483648, 1610612736, 4096)
    """
    if isinstance(text, bool):
        raise ValueError(f"a size must be a number of bytes or text like 512M or 2G, not {text!r}")
    if isinstance(text, int):
        if text <= 0:
            raise ValueError(f"a size must be positive, got {text}")
        return text
    m = _SIZE.match(text) if isinstance(text, str) else None
    if m is None or (m.group(3) and not m.group(2) and m.group(3).lower() != "b"):
        raise ValueError(f"{str(text)[:40]!r} is not a size; write bytes or a number with K, M, G or T "
                         f"(e.g. 512M, 2G)")
    value = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if value <= 0:
        raise ValueError(f"a size must be positive, got {text!r}")
    return value


def size_text(n: int) -> str:
    """A byte count as ``parse_size`` reads it, in the largest unit that divides it.

    >>> size_text(2**30), size_text(3 * 2**20), size_text(1000)
    ('1G', '3M', '1000')
    """
    for unit in "TGMK":
        if n % _UNITS[unit.lower()] == 0:
            return f"{n // _UNITS[unit.lower()]}{unit}"
    return str(n)
