"""Header normalization: what kind of frame a header describes, and its keywords under one name each.

Capture programs disagree on keyword names and on how they spell frame types; everything after
discovery (grouping, library matching, naming) reads only the canonical names produced here.

Frame type (:func:`frame_type`) is read from, in order, the first of these that holds a recognised
value: ``IMAGETYP`` (the de-facto standard), ``FRAME`` (INDI/KStars writes it, sometimes without
IMAGETYP) and ``CALFRAME`` (Astro Pixel Processor masters: 'MasterFlat'). Spellings are compared after
dropping case, blanks and punctuation, so SGP's blank-padded 'LIGHT   ', MaxIm's 'Flat Field' and
PixInsight's 'Master Flat Dark' all resolve.

Canonical keywords (:data:`KEYWORD_ALIASES`; the first name present wins; recipe aliases are tried first):

============ =================================== =====================================================
canonical    read from                           written by
============ =================================== =====================================================
EXPOSURE     EXPTIME, EXPOSURE, EXP              EXPTIME: FITS convention, MaxIm DL, APT, SharpCap,
                                                 KStars, INDIGO, PixInsight; EXPOSURE: N.I.N.A., SGP,
                                                 MaxIm DL, Seestar; EXP: DWARF II
SET-TEMP     SET-TEMP, SETTEMP, SET_TEMP         SET-TEMP: MaxIm, N.I.N.A., SGP, APT, SharpCap 4;
                                                 SETTEMP: the seed's ap-common convention
CCD-TEMP     CCD-TEMP, CCD_TEMP, CCDTEMP         CCD-TEMP: nearly everyone; the others by older drivers
XBINNING     XBINNING, CCDXBIN, BINNING 'NxN'    CCDXBIN: SGP, Seestar; BINNING '2*2': DWARF II
YBINNING     YBINNING, CCDYBIN, BINNING 'NxN'
GAIN         GAIN                                N.I.N.A., SGP, APT, SharpCap, INDIGO, Seestar, DWARF
OFFSET       OFFSET, BLKLEVEL                    OFFSET: N.I.N.A., SGP, SharpCap; BLKLEVEL: SharpCap
READOUTM     READOUTM, READMODE                  READOUTM: MaxIm DL, N.I.N.A.; READMODE: INDI drivers
DATE-OBS     DATE-OBS (+ TIME-OBS when date-only) FITS standard; old FITS split date and time
============ =================================== =====================================================

``EGAIN`` (MaxIm, N.I.N.A., APT) is the conversion factor in e-/ADU, not the camera's gain setting, and
is deliberately *not* folded into GAIN. Every other keyword keeps its (upper-cased) name.

Values: strings are trimmed, blank strings become None, numbers and numeric strings become float (so
GAIN 100, '100' and '100.0' compare equal), non-finite numbers become None, booleans stay booleans.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from apcal.errors import FrameError
from apcal.frames.model import Fingerprint, Frame
from apcal.frames.night import observing_night
from apcal.vocabulary import FrameType, HeaderValue, Keyword

if TYPE_CHECKING:  # apcal.recipe.model imports apcal.frames.model: no runtime import back
    from apcal.recipe.model import Headers

#: apcal writes ``APCALMST = T`` on every master it builds, so a library can tell its masters from raw
#: frames even when another program rewrote IMAGETYP.
MASTER_KEYWORD = "APCALMST"

#: Header keywords that may name the frame type, in the order they are consulted.
TYPE_KEYWORDS = ("IMAGETYP", "FRAME", "CALFRAME")

#: Canonical keyword -> names it is read from, first present wins (see the module docstring).
KEYWORD_ALIASES: Mapping[str, tuple[str, ...]] = {
    "EXPOSURE": ("EXPTIME", "EXPOSURE", "EXP"),
    "SET-TEMP": ("SET-TEMP", "SETTEMP", "SET_TEMP"),
    "CCD-TEMP": ("CCD-TEMP", "CCD_TEMP", "CCDTEMP"),
    "XBINNING": ("XBINNING", "CCDXBIN"),
    "YBINNING": ("YBINNING", "CCDYBIN"),
    "GAIN": ("GAIN",),
    "OFFSET": ("OFFSET", "BLKLEVEL"),
    "READOUTM": ("READOUTM", "READMODE"),
}

# Frame-type spellings after _squash (lower case, letters and digits only), without any 'master' prefix.
_TYPE_SPELLINGS: Mapping[str, FrameType] = {
    # bias: 'Zero' is IRAF's name; 'Offset' is the DSLR/DeepSkyStacker name for a bias frame
    **dict.fromkeys(("bias", "biasframe", "zero", "zeroframe", "offset", "offsetframe"), FrameType.BIAS),
    **dict.fromkeys(("dark", "darkframe"), FrameType.DARK),
    **dict.fromkeys(
        ("flat", "flatfield", "flatframe", "skyflat", "domeflat", "twilightflat"), FrameType.FLAT
    ),
    **dict.fromkeys(
        ("darkflat", "flatdark", "darkflatframe", "flatdarkframe", "darkflats", "flatdarks"),
        FrameType.FLATDARK,
    ),
    # MaxIm DL calls a colour composite 'Tricolor Image'; IRAF calls a science frame 'object'
    **dict.fromkeys(("light", "lightframe", "object", "science", "tricolorimage", "lights"), FrameType.LIGHT),
    **dict.fromkeys(("biases", "biasframes"), FrameType.BIAS),
    **dict.fromkeys(("darks", "darkframes"), FrameType.DARK),
    **dict.fromkeys(("flats", "flatframes"), FrameType.FLAT),
}

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eEdD][+-]?\d+)?")
_BINNING = re.compile(r"(\d+)\s*(?:[x*X×]\s*(\d+))?")
_TRUE_STRINGS = frozenset({"t", "true", "yes", "y", "1"})
_SKIPPED_CARDS = frozenset({"", "COMMENT", "HISTORY", "END"})


def _squash(text: str) -> str:
    """Lower case, letters and digits only: 'Flat  Field' -> 'flatfield', 'Master_Flat-Dark' -> ..."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def _alias_key(text: str) -> str:
    """Recipe alias keys compare case- and blank-insensitively."""
    return "".join(text.split()).casefold()


def _spelling(value: str) -> tuple[FrameType | None, bool]:
    squashed = _squash(value)
    is_master = squashed.startswith("master")
    if is_master:
        squashed = squashed[len("master") :]
    return _TYPE_SPELLINGS.get(squashed), is_master


def is_marked_master(raw: Mapping[str, HeaderValue]) -> bool:
    """True when the header carries apcal's master marker (``APCALMST = T``, or 'T'/'true'/1 as text)."""
    value = _get(raw, MASTER_KEYWORD)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1
    if isinstance(value, str):
        return value.strip().casefold() in _TRUE_STRINGS
    return False


def _get(raw: Mapping[str, HeaderValue], name: str) -> HeaderValue:
    """Keyword lookup tolerant of lower-case or blank-padded names in hand-built mappings."""
    if name in raw:
        return raw[name]
    for key, value in raw.items():
        if str(key).strip().upper() == name:
            return value
    return None


def frame_type(
    raw: Mapping[str, HeaderValue], aliases: Mapping[str, FrameType] | None = None
) -> tuple[FrameType | None, bool]:
    """The frame type a header declares, and whether the frame is a master.

    ``aliases`` are the recipe's extra IMAGETYP spellings (``headers.imagetyp_aliases``); they are compared
    case- and blank-insensitively and win over apcal's built-in spellings. A frame is a master when its
    type value starts with 'Master' (PixInsight, APP) or it carries :data:`MASTER_KEYWORD`. Returns
    ``(None, is_master)`` when no type keyword holds a recognised value.
    """
    alias_map = {_alias_key(k): v for k, v in (aliases or {}).items()}
    marked = is_marked_master(raw)
    for name in TYPE_KEYWORDS:
        value = _get(raw, name)
        if not isinstance(value, str) or not value.strip():
            continue
        aliased = alias_map.get(_alias_key(value))
        spelled, prefixed = _spelling(value)
        if aliased is not None:
            return FrameType(aliased), prefixed or marked
        if spelled is not None:
            return spelled, prefixed or marked
    return None, marked


def describe_type_keywords(raw: Mapping[str, HeaderValue]) -> str:
    """What the header said about its type, for a 'why was this skipped' message."""
    said = [f"{name}={_get(raw, name)!r}" for name in TYPE_KEYWORDS if _get(raw, name) is not None]
    return ", ".join(said) if said else "no IMAGETYP, FRAME or CALFRAME keyword"


def normalize_value(value: object) -> HeaderValue:
    """Trim strings, turn numbers and numeric strings into float, keep booleans; anything else -> None."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond float range carries no usable setting
            return None
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if _NUMBER.fullmatch(text):
            number = float(text.replace("D", "E").replace("d", "e"))
            return number if math.isfinite(number) else None
        return text
    return None


def _binning(value: HeaderValue) -> tuple[float, float] | None:
    """DWARF II writes BINNING = '2*2'; others '2x2' or a bare number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return (float(value), float(value)) if math.isfinite(value) and value >= 1 else None
    match = _BINNING.fullmatch(value.strip())
    if not match:
        return None
    x = float(match.group(1))
    y = float(match.group(2)) if match.group(2) else x
    return (x, y) if x >= 1 and y >= 1 else None


def canonical_name(name: str, keyword_aliases: Mapping[str, str] | None = None) -> str:
    """The canonical name apcal files keyword ``name`` under (EXPTIME -> EXPOSURE, SETTEMP -> SET-TEMP)."""
    upper = name.strip().upper()
    for alias, target in (keyword_aliases or {}).items():
        if alias.strip().upper() == upper:
            return target.strip().upper()
    if upper == "BINNING":
        return "XBINNING"
    for canonical, sources in KEYWORD_ALIASES.items():
        if upper in sources:
            return canonical
    return upper


def normalize_keywords(
    raw: Mapping[str, HeaderValue], keyword_aliases: Mapping[str, str] | None = None
) -> dict[str, HeaderValue]:
    """Every keyword under its canonical name with a normalized value (see the module docstring).

    ``keyword_aliases`` maps a header name to a canonical name (``{"ISOSPEED": "GAIN"}``); recipe
    aliases are consulted before apcal's own. Names folded into a canonical one are dropped from the
    result, so each quantity appears once. COMMENT, HISTORY and blank card names are left out.
    """
    values: dict[str, HeaderValue] = {}
    for key, value in raw.items():
        name = str(key).strip().upper()
        if name in _SKIPPED_CARDS or name in values:
            continue
        values[name] = normalize_value(value)

    result = dict(values)
    folded: set[str] = set()
    recipe = {str(k).strip().upper(): str(v).strip().upper() for k, v in (keyword_aliases or {}).items()}
    for canonical in dict.fromkeys([*recipe.values(), *KEYWORD_ALIASES]):
        sources = [a for a, c in recipe.items() if c == canonical]
        sources += list(KEYWORD_ALIASES.get(canonical, (canonical,)))
        present = [s for s in sources if s in values]
        if not present:
            continue
        chosen = next((s for s in present if values[s] is not None), present[0])
        result[canonical] = values[chosen]
        folded.update(s for s in present if s != canonical)

    binning = _binning(values["BINNING"]) if "BINNING" in values else None
    if binning is not None:
        result.setdefault("XBINNING", binning[0])
        result.setdefault("YBINNING", binning[1])
        folded.add("BINNING")
    for name in ("XBINNING", "YBINNING"):
        if name in result and not isinstance(result[name], float):
            parsed = _binning(result[name])
            result[name] = parsed[0] if parsed else None

    date_obs = result.get("DATE-OBS")
    time_obs = values.get("TIME-OBS")
    if isinstance(date_obs, str) and "T" not in date_obs and isinstance(time_obs, str):
        result["DATE-OBS"] = f"{date_obs}T{time_obs}"

    for name in folded:
        if name not in KEYWORD_ALIASES and name not in recipe.values():
            result.pop(name, None)
    return result


#: Physical limits of the values frames are grouped and matched by: a value outside them is a broken
#: header (a capture program's placeholder, a unit mix-up), and a frame carrying one is skipped rather
#: than grouped by it. Exposure: not negative, at most a day. Temperatures in °C: not below absolute
#: zero, and no working sensor is at 100 °C or more.
MAX_EXPOSURE = 86_400.0
TEMPERATURE_RANGE = (-273.15, 100.0)


def implausible_values(keywords: Mapping[str, HeaderValue]) -> list[str]:
    """Why the canonical ``keywords`` of a frame cannot describe a real exposure (empty when they can)."""
    problems: list[str] = []
    exposure = keywords.get("EXPOSURE")
    if isinstance(exposure, float) and not 0.0 <= exposure <= MAX_EXPOSURE:
        problems.append(f"EXPOSURE {exposure:g} is not a valid exposure time (0 to {MAX_EXPOSURE:g} s)")
    low, high = TEMPERATURE_RANGE
    for name in ("SET-TEMP", "CCD-TEMP"):
        value = keywords.get(name)
        if isinstance(value, float) and not low <= value < high:
            problems.append(f"{name} {value:g} °C is not a plausible sensor temperature")
    return problems


def header_hash(keywords: tuple[Keyword, ...], shape: tuple[int, ...], sample_format: str) -> str:
    """sha256 of a canonical text of the header: one ``NAME=repr(value)/comment`` line per card."""
    digest = hashlib.sha256()
    digest.update(f"SHAPE={shape!r}\nFORMAT={sample_format!r}\n".encode())
    for card in keywords:
        digest.update(f"{card.name}={card.value!r}/{card.comment}\n".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def read_frame(path: Path, headers: Headers) -> Frame:
    """Read ``path``'s header and build its :class:`Frame`.

    Raises :class:`~apcal.errors.FrameError` (message naming the file) when the file cannot be read or
    its header declares no recognised frame type.
    """
    from apcal.io.base import truncation
    from apcal.io.image import read_header  # the reader module owns FITS/XISF parsing

    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise FrameError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    info = read_header(path)
    samples = math.prod(info.shape)
    if samples > headers.max_image_megapixels * 1e6:
        raise FrameError(
            f"{path}: image of {samples / 1e6:g} million samples ({'x'.join(map(str, info.shape[::-1]))}) "
            f"is larger than headers.max_image_megapixels ({headers.max_image_megapixels:g}): refused"
        )
    cut = truncation(path, info)
    if cut is not None:  # its header reads, its pixels are missing: it would fail its group every night
        raise FrameError(cut)
    raw: dict[str, HeaderValue] = {}
    for card in info.keywords:
        name = card.name.strip().upper()
        if name not in _SKIPPED_CARDS and name not in raw:
            raw[name] = card.value
    kind, is_master = frame_type(raw, headers.imagetyp_aliases)
    if kind is None:
        raise FrameError(f"{path}: unknown frame type ({describe_type_keywords(raw)})")
    keywords = normalize_keywords(raw, headers.keyword_aliases)
    if kind is not FrameType.LIGHT:
        problems = implausible_values(keywords)
        if problems:
            raise FrameError(f"{path}: {'; '.join(problems)}")
    date_obs = keywords.get("DATE-OBS")
    night = (
        observing_night(date_obs, timezone=headers.timezone, longitude=headers.longitude)
        if isinstance(date_obs, str)
        else None
    )
    return Frame(
        path=path,
        type=kind,
        shape=tuple(int(n) for n in info.shape),
        keywords=keywords,
        raw_keywords=raw,
        fingerprint=Fingerprint(
            size=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            header_hash=header_hash(tuple(info.keywords), tuple(info.shape), info.sample_format),
        ),
        is_master=is_master,
        night=night,
    )


__all__ = [
    "KEYWORD_ALIASES",
    "MASTER_KEYWORD",
    "TYPE_KEYWORDS",
    "canonical_name",
    "frame_type",
    "header_hash",
    "implausible_values",
    "is_marked_master",
    "normalize_keywords",
    "normalize_value",
    "read_frame",
]
