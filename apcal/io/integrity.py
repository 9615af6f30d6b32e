"""Checksums of a master's pixel data: written with every master, verified before one is trusted.

A master whose pixels rot on disk (a bad sector, a bit flip, a partial copy) keeps an intact header, so
the header's input hash still says "up to date" and a library match still picks it. A checksum of the
data itself catches that:

* FITS: the standard ``CHECKSUM``/``DATASUM`` cards (FITS Checksum convention), written and verified by
  astropy;
* XISF: the ``checksum`` attribute of the ``<Image>`` element, ``sha1:<hex digest>`` of the data block
  as stored, as the XISF 1.0 specification allows. PixInsight writes it when given the ``checksums
  sha1`` output hint (PCL ``src/modules/file-formats/XISF/XISFInstance.cpp``, the hints parser; the
  algorithm names are those of ``XISF::ChecksumAlgorithmId`` in ``src/pcl/XISF.cpp``); ``sha256`` and
  ``sha512`` are verified too.

:func:`verify_checksum` says whether the data matches, does not match, or carries no checksum (a file
written by an older apcal or another program): callers decide what an unverifiable file is worth.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

from apcal.errors import FrameError
from apcal.io.base import image_format, one_line

_XISF_ALGORITHMS = {
    "sha1": "sha1",
    "sha-1": "sha1",
    "sha256": "sha256",
    "sha-256": "sha256",
    "sha512": "sha512",
    "sha-512": "sha512",
}
_CHUNK = 16 * 1024 * 1024


@dataclass(frozen=True)
class Integrity:
    """``ok`` True: the data matches its checksum; False: it does not (``problem`` says how); None: the
    file carries no checksum to verify."""

    ok: bool | None
    problem: str = ""


def xisf_checksum_attribute(block: bytes | memoryview) -> str:
    """The ``checksum`` attribute apcal writes for an XISF data block."""
    return "sha1:" + hashlib.sha1(block).hexdigest()


def verify_checksum(path: Path) -> Integrity:
    """Check the pixel data of the master at ``path`` against the checksum it carries."""
    path = Path(path)
    try:
        if image_format(path) == "fits":
            return _verify_fits(path)
        return _verify_xisf(path)
    except FrameError as exc:
        return Integrity(False, str(exc))
    except OSError as exc:
        return Integrity(False, f"cannot read ({one_line(exc)})")


def _verify_fits(path: Path) -> Integrity:
    from astropy.io import fits

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with fits.open(path, checksum=True, memmap=False) as hdul:
            header = hdul[0].header
            if "DATASUM" not in header and "CHECKSUM" not in header:
                return Integrity(None)
    failed = [str(w.message) for w in caught if "verification failed" in str(w.message).lower()]
    if failed:
        return Integrity(False, "pixel data does not match its FITS checksum (DATASUM/CHECKSUM)")
    return Integrity(True)


def _verify_xisf(path: Path) -> Integrity:
    from apcal.io.xisf import read_image_element

    element = read_image_element(path)
    attribute = element.get("checksum")
    if not attribute:
        return Integrity(None)
    algorithm, _, expected = attribute.partition(":")
    name = _XISF_ALGORITHMS.get(algorithm.strip().lower())
    location = element.get("location", "").split(":")
    if name is None or location[0] != "attachment" or len(location) != 3:
        return Integrity(None)
    position, size = int(location[1]), int(location[2])
    digest = hashlib.new(name)
    with open(path, "rb") as file:
        file.seek(position)
        left = size
        while left > 0:
            chunk = file.read(min(_CHUNK, left))
            if not chunk:
                return Integrity(False, "truncated XISF data block")
            digest.update(chunk)
            left -= len(chunk)
    if digest.hexdigest().lower() != expected.strip().lower():
        return Integrity(False, f"pixel data does not match its XISF {algorithm} checksum")
    return Integrity(True)
