"""Short group labels for the console: what a person needs to tell groups apart, in ~40 characters.

A group's full name (``INSTRUME_ZWO-ASI2600MM-Pro_SET-TEMP_-10_GAIN_100_...``, up to 150 characters) is
unambiguous and stays in file names and the reports; on a console, and in a cron mail read at 80
columns, it wraps over several lines. The label shows each key's value only, with a unit or a letter
where a bare number would be unclear (``-10C g100 o50 300s``), and cuts long values with '…'. Values
that usually tell a night's groups apart (filter, exposure) come first, the camera and geometry last, so
a cut label still says which group it is.
"""

from __future__ import annotations

from apcal.grouping import Group
from apcal.naming import format_value

#: How a key's value is shown: a format with ``{}`` for the value; keys not listed show the value alone.
_FORMATS = {
    "SET-TEMP": "{}C",
    "CCD-TEMP": "{}C",
    "GAIN": "g{}",
    "OFFSET": "o{}",
    "EXPTIME": "{}s",
    "EXPOSURE": "{}s",
    "BINNING": "bin{}",
}
#: Shown first (they differ between a night's groups) and last (usually the same for all of them).
_FIRST = ("FILTER", "EXPTIME", "EXPOSURE")
_LAST = ("BINNING", "SHAPE", "INSTRUME", "TELESCOP")
VALUE_WIDTH = 16
LABEL_WIDTH = 44


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the cut marked with '…'."""
    return text if len(text) <= width else text[: width - 1] + "…"


def short_label(group: Group, width: int = LABEL_WIDTH) -> str:
    """The group's key values as a short space-separated label (see the module docstring)."""

    def rank(item: tuple[int, tuple[str, object]]) -> tuple[int, int]:
        index, (key, _) = item
        if key in _FIRST:
            return (0, _FIRST.index(key))
        return (2, _LAST.index(key)) if key in _LAST else (1, index)

    parts = []
    for _, (key, value) in sorted(enumerate(group.keys), key=rank):
        if value is None:
            continue
        text = " ".join(format_value(value).split())  # no newline or tab from a header reaches a line
        if text:
            parts.append(_FORMATS.get(key, "{}").format(shorten(text, VALUE_WIDTH)))
    return shorten(" ".join(parts) or group.type.value, width)
