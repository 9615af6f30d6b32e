"""A master whose pixels rotted on disk (header intact) is never trusted: the next run rebuilds its own,
and library matching leaves a library master out with a note."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from tests.hardening.corpus import RECIPE, assert_same_masters, copy_night, last_report, run_apcal
from tests.hardening.safety import history


def rot(path: Path) -> None:
    """Flip one bit in the last pixel bytes of ``path``: same size, same header, same mtime."""
    st = os.stat(path)
    data = bytearray(path.read_bytes())
    data[-7] ^= 0x10
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def job(night: Path, prefix: str) -> dict:
    return next(g for g in last_report(night)["groups"] if g["id"].startswith(prefix))


def test_a_rotted_own_master_is_rebuilt_not_called_up_to_date(night: Path, clean) -> None:
    assert run_apcal("run", "recipe.yaml", "-q", cwd=night).returncode == 0
    dark = Path(job(night, "dark/")["output"])
    rot(dark)
    result = run_apcal("run", "recipe.yaml", cwd=night)
    assert result.returncode == 0, result.stderr
    warning = f"{dark}: pixel data does not match its XISF sha1 checksum: rebuilt (not trusted)"
    assert sum(warning in line for line in result.stderr.splitlines()) == 1
    assert job(night, "dark/")["status"] == "built"
    assert job(night, "bias/")["status"] == "up_to_date"
    assert_same_masters(night, clean)


def test_a_rotted_fits_master_is_rebuilt(night: Path) -> None:
    (night / "recipe.yaml").write_text(
        RECIPE.replace("output: {dir: out}", "output: {dir: out, format: fits}"), encoding="utf-8"
    )
    assert run_apcal("run", "recipe.yaml", "-q", cwd=night).returncode == 0
    bias = Path(job(night, "bias/")["output"])
    good = _pixels_and_datasum(bias)
    rot(bias)
    result = run_apcal("run", "recipe.yaml", cwd=night)
    assert result.returncode == 0, result.stderr
    assert "does not match its FITS checksum (DATASUM/CHECKSUM): rebuilt (not trusted)" in result.stderr
    assert job(night, "bias/")["status"] == "built"
    pixels, datasum = _pixels_and_datasum(bias)
    assert datasum == good[1] and pixels.tobytes() == good[0].tobytes()  # the same pixels again


def _pixels_and_datasum(path: Path) -> tuple[np.ndarray, str]:
    """The master's data as stored and its DATASUM card (the header's date cards change on a rebuild)."""
    with fits.open(path, do_not_scale_image_data=True) as hdul:
        return np.array(hdul[0].data), hdul[0].header["DATASUM"]


@pytest.fixture
def library(night: Path, tmp_path: Path) -> Path:
    """A library folder with the masters of a clean run of the night."""
    source = copy_night(night, tmp_path / "source")
    assert run_apcal("run", "recipe.yaml", "-q", cwd=source).returncode == 0
    return source / "out" / "master"


def test_a_rotted_library_master_is_excluded_with_a_note(night: Path, library: Path) -> None:
    flats = sorted((night / "frames").rglob("FLAT"))[0]
    (night / "recipe.yaml").write_text(
        RECIPE.replace("path: frames", f"path: {flats}") + f"library: {{bias: {library}, dark: {library}}}\n",
        encoding="utf-8",
    )
    bias = next(library.glob("masterBias_*.xisf"))
    rot(bias)
    result = run_apcal("run", "recipe.yaml", "-q", cwd=night)
    assert result.returncode == 0, result.stderr
    flat = job(night, "flat/")
    note = f"library master {bias} excluded: pixel data does not match its XISF sha1 checksum"
    assert note in flat["notes"]
    used = [line for line in history(Path(flat["output"])) if line.startswith("apcal.calibration.master")]
    assert used and not any(bias.name in line for line in used)
