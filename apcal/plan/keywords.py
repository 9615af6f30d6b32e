"""The header every master gets, identical for both engines, and the hash that makes runs incremental.

A master is self-describing: IMAGETYP 'Master Bias' / 'Master Dark' / 'Master Flat', apcal's marker
``APCALMST = T``, NCOMBINE, the keywords all its frames share (so the grouping keywords keep their
original names and values), the exposure, DATE-OBS of its earliest frame (the master library dates
masters by it), the parameters as HISTORY, and ``APCALHSH``: a hash of
everything the master depends on. A run whose planned hash equals the one in an existing master's
header has nothing to do for that group; no state file can fall out of step with the masters.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from apcal import __version__
from apcal.frames.model import Frame
from apcal.frames.normalize import MASTER_KEYWORD, canonical_name
from apcal.params import CalibrationParams, IntegrationParams
from apcal.vocabulary import FrameType, HeaderValue, Keyword

if TYPE_CHECKING:
    from apcal.plan.model import FlatCalibration

#: Bumped when the way masters are computed changes, so older masters are rebuilt.
#: 2: float frames in ADU are read as 16-bit data, and ±inf as missing (apcal.io.adu, apcal.io.image).
MASTER_FORMAT = 2
HASH_KEYWORD = "APCALHSH"
VERSION_KEYWORD = "APCALVER"

#: Structural or per-frame cards never copied from frames to a master.
_NOT_COPIED = frozenset(
    {
        "SIMPLE",
        "BITPIX",
        "NAXIS",
        "NAXIS1",
        "NAXIS2",
        "NAXIS3",
        "EXTEND",
        "BZERO",
        "BSCALE",
        "END",
        "COMMENT",
        "HISTORY",
        "",
        "CHECKSUM",
        "DATASUM",
        "IMAGETYP",
        "FRAME",
        "CALFRAME",
        "NCOMBINE",
        "DATAMIN",
        "DATAMAX",
        "CBLACK",
        "CWHITE",
        "PEDESTAL",
        MASTER_KEYWORD,
        HASH_KEYWORD,
        VERSION_KEYWORD,
        "APCALGRP",  # apcal.plan.identity: a master's own, never a frame's
        "APCALCFG",
    }
)


def frame_identity(frame: Frame) -> list[Any]:
    """What identifies an input's content for incremental runs: path, size, mtime and header hash."""
    fp = frame.fingerprint
    return [str(frame.path), fp.size, fp.mtime_ns, fp.header_hash]


def job_hash(
    frame_type: FrameType,
    frames: Sequence[Frame],
    integration: IntegrationParams,
    output_format: str,
    calibration: CalibrationParams | None = None,
    masters: Sequence[list[Any]] = (),
) -> str:
    """SHA-256 of the inputs, parameters and calibration masters a master is built from."""
    payload = {
        "format": MASTER_FORMAT,
        "type": frame_type.value,
        "inputs": [frame_identity(f) for f in frames],
        "integration": dataclasses.asdict(integration),
        "output_format": output_format,
        "calibration": dataclasses.asdict(calibration) if calibration else None,
        "masters": list(masters),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def master_keywords(
    frame_type: FrameType,
    frames: Sequence[Frame],
    grouping_keywords: Sequence[str],
    integration: IntegrationParams,
    digest: str,
    calibration_history: Sequence[str] = (),
) -> tuple[Keyword, ...]:
    """The master's header cards, in a stable order."""
    first = frames[0]
    cards: list[Keyword] = [
        Keyword("IMAGETYP", frame_type.master_label, "Type of image"),
        Keyword(MASTER_KEYWORD, True, "Master frame built by apcal"),
        Keyword("NCOMBINE", len(frames), "Number of frames integrated"),
    ]
    exposures = [f.exposure for f in frames if f.exposure is not None]
    if exposures and frame_type is not FrameType.BIAS:
        mean = round(sum(exposures) / len(exposures), 6)
        cards += [
            Keyword("EXPTIME", mean, "[s] Exposure time"),
            Keyword("EXPOSURE", mean, "[s] Exposure time"),
        ]
    taken = {c.name for c in cards}
    shared = _shared_cards(frames)
    for card in shared:
        if card.name not in taken and card.name not in ("EXPTIME", "EXPOSURE"):
            cards.append(card)
            taken.add(card.name)
    # Grouping keywords clustered within a tolerance may differ slightly between frames: keep the
    # first frame's card under its original name so the master is found again by library matching.
    wanted = {canonical_name(k) for k in grouping_keywords}
    for name, value in first.raw_keywords.items():
        if name not in taken and name not in _NOT_COPIED and canonical_name(name) in wanted:
            cards.append(Keyword(name, value, ""))
            taken.add(name)
    started = sorted(str(f.raw_keywords["DATE-OBS"]) for f in frames if f.raw_keywords.get("DATE-OBS"))
    if started and "DATE-OBS" not in taken:  # the master library dates a master by its inputs' night
        cards.append(Keyword("DATE-OBS", started[0], "Start of the earliest frame integrated"))
        taken.add("DATE-OBS")
    cards.append(Keyword(HASH_KEYWORD, digest, "apcal hash of inputs and parameters"))
    cards.append(Keyword(VERSION_KEYWORD, __version__, "apcal version that built this master"))
    cards += [Keyword("HISTORY", line, "") for line in integration_history(integration)]
    cards += [Keyword("HISTORY", line, "") for line in calibration_history]
    return tuple(cards)


def _shared_cards(frames: Sequence[Frame]) -> list[Keyword]:
    """Cards whose value is the same in every frame, in the first frame's order."""
    first = frames[0].raw_keywords
    out = []
    for name, value in first.items():
        if name in _NOT_COPIED or name.startswith("NAXIS"):
            continue
        if all(_same(f.raw_keywords.get(name), value) for f in frames[1:]):
            out.append(Keyword(name, value, ""))
    return out


def _same(a: HeaderValue, b: HeaderValue) -> bool:
    return type(a) is type(b) and a == b


def integration_history(params: IntegrationParams) -> list[str]:
    """The integration parameters as HISTORY lines (each under FITS's 72 characters)."""
    return _history("apcal.integration", dataclasses.asdict(params))


def calibration_history(params: CalibrationParams, masters: Sequence[str]) -> list[str]:
    """The flat calibration parameters and the masters used, as HISTORY lines."""
    lines = _history("apcal.calibration", dataclasses.asdict(params))
    return lines + [f"apcal.calibration.master: {m}"[:72] for m in masters]


def renamed_history(calibration: FlatCalibration, frames: Sequence[Frame], extension: str) -> list[str]:
    """One HISTORY line per flat whose calibrated file got a hash suffix (its stem is shared with another
    frame of the group), naming the calibrated file and its source, so either can be found from the other."""
    return [
        f"apcal.calibration.renamed: {calibration.calibrated_path(f.path, extension).name} <- {f.path}"
        for f in frames
        if f.path.stem.casefold() in calibration.colliding_stems
    ]


def _history(prefix: str, values: dict[str, Any]) -> list[str]:
    lines, line = [], f"{prefix}:"
    for key, value in values.items():
        item = f" {key}={value}"
        if len(line) + len(item) > 72:
            lines.append(line)
            line = f"{prefix}:"
        line += item
    lines.append(line)
    return lines
