"""The master library: folders of masters, the catalogue of a library root, matching, publishing.

* :mod:`apcal.library.folders` — the masters in ``library.bias`` / ``dark`` / ``flatdark`` folders;
* :mod:`apcal.library.matching` — which master calibrates a flat group, with a verdict per candidate;
* :mod:`apcal.library.catalog` — the SQLite index of every master under ``library.root``;
* :mod:`apcal.library.coverage`, :mod:`apcal.library.publish`, :mod:`apcal.library.history` — what
  tonight's lights lack, filing new masters behind a QC gate, and QC figures over time.

Layer: beside grouping, below plan; pixels are read through :mod:`apcal.io`, measured by
:mod:`apcal.stats`.
"""

from apcal.library.folders import LIBRARY_TYPES, LibraryIndex, load_library
from apcal.library.matching import (
    DEFAULT_MAX_AGE_DAYS,
    MATCH_KEYS,
    MatchResult,
    Policy,
    Verdict,
    dark_rank,
    match_master,
)

__all__ = [
    "DEFAULT_MAX_AGE_DAYS",
    "LIBRARY_TYPES",
    "MATCH_KEYS",
    "LibraryIndex",
    "MatchResult",
    "Policy",
    "Verdict",
    "dark_rank",
    "load_library",
    "match_master",
]
