"""Master file names unique across runs: a master never overwrites another group's or configuration's.

Group names are sanitized for file systems (:mod:`apcal.naming`), so two different groups can get the same
name: cameras named 'ZWO ASI294MM' and 'ZWO-ASI294MM', built by two runs into one folder. And two recipes
for one rig with different parameters name their masters alike. Within a run, :func:`apcal.naming.
unique_names` keeps names apart; across runs, each master carries two cards that say whose it is:

* ``APCALGRP``: a hash of the frame type and the grouping keys' values *before* sanitization;
* ``APCALCFG``: a hash of the recipe's integration (and, for flats, calibration) parameters as written,
  not as resolved for the frame count, so a group that gains frames keeps its master; for flats, also
  the names of the masters that calibrate them.

When the planned master's file already exists and carries other values, the new master gets a suffix of
8 hex digits of its own identity (stable, so the next run finds it again) and the plan a warning naming
the other master. A master without these cards (an older apcal's, or another program's) is taken to be
this group's, as before.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from loguru import logger

from apcal.errors import FrameError
from apcal.io.image import read_header
from apcal.params import CalibrationParams, IntegrationParams
from apcal.vocabulary import FrameType, HeaderValue, Keyword

GROUP_KEYWORD = "APCALGRP"
CONFIG_KEYWORD = "APCALCFG"


def _digest(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def group_identity(frame_type: FrameType, keys: tuple[tuple[str, HeaderValue], ...]) -> str:
    return _digest([frame_type.value, [[k, v] for k, v in keys]])


def config_identity(
    integration: IntegrationParams, calibration: CalibrationParams | None, masters: Sequence[str] = ()
) -> str:
    """The parameters as written, and for a flat the file names of the masters that calibrate it (two
    recipes whose flats differ only in their calibration chain are two configurations)."""
    return _digest(
        [
            dataclasses.asdict(integration),
            dataclasses.asdict(calibration) if calibration else None,
            sorted(masters),
        ]
    )


def identity_cards(group_id: str, config_id: str) -> tuple[Keyword, ...]:
    return (
        Keyword(GROUP_KEYWORD, group_id, "apcal hash of the grouping keys' values"),
        Keyword(CONFIG_KEYWORD, config_id, "apcal hash of the recipe's parameters"),
    )


def owned_output(output: Path, group_id: str, config_id: str) -> tuple[Path, str | None]:
    """``output``, or a suffixed sibling when ``output`` is another group's or configuration's master;
    with the warning that says so (None when ``output`` is free or this group's own)."""
    other = _owner(output)
    if other is None or other == (group_id, config_id):
        return output, None
    suffix = _digest([group_id, config_id])[:8]
    mine = output.with_name(f"{output.stem}-{suffix}{output.suffix}")
    whose = (
        "another group (its grouping keys differ)"
        if other[0] != group_id
        else ("another configuration (its parameters differ)")
    )
    warning = f"{output.name} holds the master of {whose}: this one is written as {mine.name}"
    logger.warning(warning)
    return mine, warning


def _owner(path: Path) -> tuple[str, str] | None:
    """The (group, configuration) identity a master on disk carries; None if absent or unreadable."""
    if not path.is_file():
        return None
    try:
        cards = {k.name: str(k.value) for k in read_header(path).keywords}
    except (FrameError, OSError):
        return None
    if GROUP_KEYWORD not in cards and CONFIG_KEYWORD not in cards:
        return None
    return cards.get(GROUP_KEYWORD, ""), cards.get(CONFIG_KEYWORD, "")
