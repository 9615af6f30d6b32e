"""Which Siril is installed, and the script syntax of each Siril apcal knows.

``siril-cli --version`` prints ``siril 1.0.6``; :func:`detect_dialect` runs it (no shell, a time limit)
and picks the :class:`Dialect` of its major.minor series. Where the two series differ:

* **calibration**: Siril 1.0 calls it ``preprocess``; 1.2 renamed it ``calibrate`` (command reference,
  siril.readthedocs.io/en/1.2/Commands.html). The options apcal uses (``-bias=``, ``-dark=``, ``-opt``,
  ``-prefix=``) are the same.
* **dark optimization**: 1.0.6's ``preprocess -opt`` dies with a segmentation fault in siril-cli (seen
  here, Debian's build, and in bench/bench_native.py), so on 1.0 apcal never asks for it and scales the
  dark by the exposure ratio in the script instead (see :mod:`apcal.engines.siril.render`).
* **no rejection**: 1.2's ``stack ... rej n`` averages without rejection; 1.0 has no ``n`` type, so the
  average is taken with sigma clipping at 1000 sigma, which rejects nothing a camera can produce.

The 1.2 dialect follows the 1.2 command reference; only 1.0.6 runs on this project's CI machine.
Anything else (0.99, 1.4) is refused with a clear error rather than fed a script it may misread.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from apcal.errors import EngineError

_VERSION = re.compile(r"\bsiril\S*\s+v?(\d+)\.(\d+)(?:\.(\d+))?", re.IGNORECASE)
_DETECT_TIMEOUT = 60.0  # seconds; siril-cli --version starts no GUI


@dataclass(frozen=True)
class Dialect:
    """The script syntax of one Siril series."""

    series: tuple[int, int]
    requires: str  # the `requires` line's version
    calibrate: str  # the command that calibrates a sequence
    dark_optimization: bool  # may the script use -opt?
    no_rejection: str  # stack arguments for an average without rejection

    @property
    def name(self) -> str:
        return f"{self.series[0]}.{self.series[1]}"


DIALECTS: dict[tuple[int, int], Dialect] = {
    (1, 0): Dialect((1, 0), "1.0.0", "preprocess", False, "rej s 1000 1000"),
    (1, 2): Dialect((1, 2), "1.2.0", "calibrate", True, "rej n"),
}
#: The dialect a script is written in when no Siril can be asked (script_only without siril-cli).
DEFAULT_SERIES = (1, 2)


def parse_version(text: str) -> tuple[int, int, int] | None:
    """(major, minor, patch) from ``siril-cli --version``'s output, or None when it names no version."""
    match = _VERSION.search(text)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def dialect_for(version: tuple[int, int, int], binary: str) -> Dialect:
    """The dialect of ``version``; EngineError naming the version for a series apcal does not know."""
    dialect = DIALECTS.get(version[:2])
    if dialect is None:
        known = " and ".join(f"{d.name}.x" for d in DIALECTS.values())
        shown = ".".join(map(str, version))
        raise EngineError(
            f"{binary} is Siril {shown}: apcal writes scripts for Siril {known} only "
            "(set engine.siril.binary to one of those)"
        )
    return dialect


def detect_dialect(binary: str) -> tuple[Dialect, str]:
    """Ask ``binary --version``; return its dialect and the version text (EngineError when it cannot)."""
    try:
        done = subprocess.run(
            [binary, "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_DETECT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise EngineError(f"cannot run {binary} --version: {error}") from None
    text = (done.stdout + done.stderr).decode("utf-8", errors="replace")
    version = parse_version(text)
    if version is None:
        first = text.strip().splitlines()[0] if text.strip() else "nothing"
        raise EngineError(f"{binary} --version printed {first!r}, not a Siril version")
    return dialect_for(version, binary), ".".join(map(str, version))
