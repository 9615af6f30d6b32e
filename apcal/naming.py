"""Filesystem-safe names for groups, built from header values that nobody sanitized.

A name is ``KEY_value`` pairs joined by '_' (``INSTRUME_ZWO-ASI2600MM-Pro_SET-TEMP_-10_GAIN_100_
EXPOSURE_300_BIN_1x1_6248x4176``). Header values are hostile input: a FILTER of '../../etc' or an
INSTRUME with quotes, newlines or markup must not steer where a master is written, nor break a
PixInsight script or an HTML report. So:

* each key and value keeps only ASCII letters, digits, '.', '+' and '-' (accented letters lose their
  accent; every other run of characters becomes one '-'); '_' appears only as the separator;
* runs of dots collapse to one, and no part starts with '.' — so no '..' and no hidden file;
* the name is at most :data:`MAX_LENGTH` characters; a longer one is cut and ends with '-' and 8 hex
  digits of the full name's sha256, so distinct long names stay distinct;
* Windows device names (CON, NUL, COM1, ...) get a trailing '_'.

Numbers print without a trailing '.0' (100.0 -> '100', -10.0 -> '-10', 0.5 -> '0.5'); a key whose
value is missing (None) is left out of the name.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence

from apcal.vocabulary import FrameType, HeaderValue

MAX_LENGTH = 150

_UNSAFE = re.compile(r"[^A-Za-z0-9.+-]+")
_DOTS = re.compile(r"\.{2,}")
_DASHES = re.compile(r"-{2,}")
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
)
# Keys shown by their value alone or under a short label
_LABELS = {"BINNING": "BIN"}


def format_value(value: HeaderValue) -> str:
    """A header value as text: integral floats without '.0', others in up to 6 significant digits."""
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, int | float):
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            return "nan" if number != number else ("inf" if number > 0 else "-inf")
        if number.is_integer() and abs(number) < 1e15:
            return str(int(number))
        return f"{number:.6g}"
    return "" if value is None else str(value)


def safe_part(text: str) -> str:
    """One key or value reduced to [A-Za-z0-9.+-], without '..' or a leading '.'; may be empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    cleaned = _UNSAFE.sub("-", ascii_text)
    cleaned = _DOTS.sub(".", cleaned)
    cleaned = _DASHES.sub("-", cleaned)
    # a '-' left at either end by a replaced character carries no meaning (a leading '-' of a negative
    # number does: keep it when a digit follows); '../../x' leaves '.-.-x', so strip both in turn
    while cleaned.startswith(".") or (cleaned.startswith("-") and not cleaned[1:2].isdigit()):
        cleaned = cleaned[1:]
    return cleaned.rstrip("-.")


def _bound(name: str) -> str:
    if len(name) <= MAX_LENGTH:
        return name
    suffix = hashlib.sha256(name.encode()).hexdigest()[:8]
    head = name[: MAX_LENGTH - len(suffix) - 1].rstrip("-._")
    return f"{head}-{suffix}"


def safe_name(text: str) -> str:
    """Any text as a safe file name (same rules as group names; '_' is kept). Never empty."""
    parts = [safe_part(p) for p in text.split("_")]
    name = "_".join(p for p in parts if p) or "unnamed"
    name = _bound(name)
    if name.split(".")[0].upper() in _WINDOWS_RESERVED:
        name += "_"
    return name


def group_name(frame_type: FrameType, keys: Iterable[tuple[str, HeaderValue]]) -> str:
    """The safe name of a group of ``frame_type`` with grouping ``keys`` ((keyword, value) pairs).

    ``frame_type`` is not part of the name (master file names carry it as a prefix, 'masterDark_...');
    a group without any key value is named after the type.
    """
    parts: list[str] = []
    for key, value in keys:
        if value is None:
            continue
        text = safe_part(format_value(value))
        if not text:
            continue
        if key == "SHAPE":
            parts.append(text)
        else:
            label = safe_part(_LABELS.get(key, key)) or "KEY"
            parts.append(f"{label}_{text}")
    if not parts:
        return frame_type.value
    return safe_name("_".join(parts))


def unique_names(names: Sequence[str]) -> list[str]:
    """``names`` with later repeats renamed ``<name>-2``, ``-3``, ... (compared case-insensitively,
    as on Windows and macOS file systems); the first of each stays as it is. Deterministic."""
    taken = {n.casefold() for n in names}
    used: set[str] = set()
    result: list[str] = []
    for name in names:
        candidate = name
        if candidate.casefold() in used:
            counter = 2
            while True:
                tail = f"-{counter}"
                candidate = name[: MAX_LENGTH - len(tail)] + tail
                folded = candidate.casefold()
                if folded not in used and folded not in taken:
                    break
                counter += 1
        used.add(candidate.casefold())
        result.append(candidate)
    return result


__all__ = ["MAX_LENGTH", "format_value", "group_name", "safe_name", "safe_part", "unique_names"]
