"""The bad-input corpus: a small generated night, and files that real capture software, users and disks
put beside it. Each maker writes one kind of bad file into a folder and returns its path.

Bad files are derived from one of the night's bias frames (the *donor*), so a bad file that slipped
through would join the bias group and change its master: the corpus run's masters must still equal a
clean run's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from apcal.demo.camera import CameraModel, NightPlan
from apcal.demo.synthetic import generate_night

ROOT = Path(__file__).resolve().parents[2]
CAMERA = CameraModel(rows=32, cols=48)
NIGHT = NightPlan(
    n_bias=4, dark_exposures=(10.0,), n_darks=4, filters=("L",), flat_exposures=(1.0,), n_flats=4
)
RECIPE = """\
apcal: 1
name: hardening
inputs: [{path: frames}]
output: {dir: out}
headers: {timezone: Europe/Berlin}
"""
#: What every clean run of the night writes: one master per group.
MASTER_PREFIXES = ["masterBias", "masterDark", "masterFlat"]

HOSTILE_VALUES = {
    "slash": "../../../escape/evil",
    "dotdot": "..",
    "quotes": 'it\'s "quoted" `tick`',
    "backslash": "C:\\Windows\\..\\evil",
    "newline": "line one\nline two\r\n",
    "script": "</script><script>alert(1)</script>",
    "long": "X" * 300,
}


def make_night(folder: Path) -> Path:
    """The clean night: frames/ (4 bias, 4 darks, 4 flats of 48x32) and recipe.yaml; returns folder."""
    generate_night(folder / "frames", CAMERA, NIGHT)
    (folder / "recipe.yaml").write_text(RECIPE, encoding="utf-8")
    return folder


def donor(night: Path) -> Path:
    return sorted((night / "frames").rglob("*_BIAS_*.fits"))[0]


def read_fits(path: Path) -> tuple[fits.Header, np.ndarray]:
    """The header (less BZERO/BSCALE) and the uint16 pixels of a frame of the night."""
    with fits.open(path) as hdul:
        header, pixels = hdul[0].header.copy(), np.array(hdul[0].data)
    for name in ("BZERO", "BSCALE"):
        header.remove(name, ignore_missing=True)
    return header, pixels


def write_variant(
    path: Path, night: Path, *, cards: dict | None = None, drop: tuple[str, ...] = (), data=None
) -> Path:
    """The donor with some cards changed (``cards``), removed (``drop``) or other pixels (``data``)."""
    header, pixels = read_fits(donor(night))
    for name in drop:
        header.remove(name, ignore_missing=True)
    for name, value in (cards or {}).items():
        header[name] = value
    if data is not None:
        pixels = data
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # HIERARCH and long-value notices
        fits.PrimaryHDU(pixels, header=header).writeto(path, output_verify="silentfix")
    return path


# --- the makers: (folder, night) -> path of the bad file ------------------------------------------------


def zero_bytes(folder: Path, night: Path) -> Path:
    path = folder / "empty.fits"
    path.write_bytes(b"")
    return path


def truncated_fits(folder: Path, night: Path) -> Path:
    path = folder / "truncated.fits"
    data = donor(night).read_bytes()
    path.write_bytes(data[: len(data) - 2880 - 100])  # the header, and part of the pixels
    return path


def truncated_xisf(folder: Path, night: Path) -> Path:
    from apcal.io.image import write_image

    header, pixels = read_fits(donor(night))
    full = folder / "whole.xisf.tmp"
    keywords = _keywords(header)
    write_image(full, pixels.astype(np.float32) / 65535, keywords, format="xisf")
    path = folder / "truncated.xisf"
    data = full.read_bytes()
    full.unlink()
    path.write_bytes(data[: len(data) - 1000])
    return path


def not_fits(folder: Path, night: Path) -> Path:
    path = folder / "notes.fits"
    path.write_text("These are my notes, not a FITS file.\n" * 100, encoding="utf-8")
    return path


def no_image_hdu(folder: Path, night: Path) -> Path:
    header, _ = read_fits(donor(night))
    primary = fits.PrimaryHDU(header=header)
    table = fits.BinTableHDU.from_columns([fits.Column(name="x", format="E", array=np.arange(3.0))])
    path = folder / "table.fits"
    fits.HDUList([primary, table]).writeto(path)
    return path


def multi_extension(folder: Path, night: Path) -> Path:
    """An empty primary with the observation keywords (IMAGETYP LIGHT) and the image in an extension:
    read by design, so it is recognised as the light frame it is."""
    header, pixels = read_fits(donor(night))
    primary = fits.PrimaryHDU()
    primary.header["IMAGETYP"] = "LIGHT"
    primary.header["INSTRUME"] = header["INSTRUME"]
    path = folder / "mef.fits"
    fits.HDUList([primary, fits.ImageHDU(pixels)]).writeto(path)
    return path


def tile_compressed(folder: Path, night: Path) -> Path:
    """A tile-compressed image under a .fits name: read by design (a light, so it is ignored)."""
    header, pixels = read_fits(donor(night))
    header["IMAGETYP"] = "LIGHT"
    path = folder / "compressed.fits"
    image = fits.CompImageHDU(pixels, header=header)
    fits.HDUList([fits.PrimaryHDU(), image]).writeto(path)
    return path


def fpacked(folder: Path, night: Path) -> Path:
    """An fpack'ed copy of a bias frame (.fits.fz): skipped by design, with the reason."""
    header, pixels = read_fits(donor(night))
    image = fits.CompImageHDU(pixels, header=header)
    path = folder / "bias.fits.fz"
    fits.HDUList([fits.PrimaryHDU(), image]).writeto(path)
    return path


def unreadable(folder: Path, night: Path) -> Path:
    path = write_variant(folder / "unreadable.fits", night)
    path.chmod(0)
    return path


def symlink_loop(folder: Path, night: Path) -> Path:
    """A folder link back to its parent (walked once) and two file links pointing at each other."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "again").symlink_to(folder, target_is_directory=True)
    (folder / "a.fits").symlink_to(folder / "b.fits")
    (folder / "b.fits").symlink_to(folder / "a.fits")
    return folder / "a.fits"


def non_utf8_name(folder: Path, night: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    raw = os.fsencode(folder) + b"/bias_\xff\xfe.fits"
    source = write_variant(folder / "tmp.fits", night, cards={"OBJECT": "renamed"})
    os.rename(source, raw)
    return Path(os.fsdecode(raw))


def nan_inf_pixels(folder: Path, night: Path) -> Path:
    _, pixels = read_fits(donor(night))
    data = pixels.astype(np.float32) / 65535
    data[3, 4] = np.nan
    data[5, 6] = np.inf
    data[7, 8] = -np.inf
    return write_variant(folder / "nan.fits", night, data=data)


def other_shape(folder: Path, night: Path) -> Path:
    _, pixels = read_fits(donor(night))
    return write_variant(folder / "cropped.fits", night, data=pixels[:16])


def other_binning(folder: Path, night: Path) -> Path:
    return write_variant(folder / "bin2.fits", night, cards={"XBINNING": 2, "YBINNING": 2})


def no_imagetyp(folder: Path, night: Path) -> Path:
    return write_variant(folder / "untyped.fits", night, drop=("IMAGETYP",))


def unknown_imagetyp(folder: Path, night: Path) -> Path:
    return write_variant(folder / "odd_type.fits", night, cards={"IMAGETYP": "CALIBRATION"})


def no_grouping_keys(folder: Path, night: Path) -> Path:
    return write_variant(folder / "bare.fits", night, drop=("INSTRUME", "GAIN", "OFFSET", "SET-TEMP"))


def negative_exposure(folder: Path, night: Path) -> Path:
    return write_variant(folder / "neg_exp.fits", night, cards={"EXPOSURE": -1.0, "EXPTIME": -1.0})


def hot_sensor(folder: Path, night: Path) -> Path:
    return write_variant(folder / "hot.fits", night, cards={"CCD-TEMP": 999.0, "SET-TEMP": 999.0})


def _keywords(header: fits.Header):
    from apcal.vocabulary import Keyword

    return [Keyword(c.keyword, c.value, c.comment) for c in header.cards if c.keyword]


@dataclass(frozen=True)
class Case:
    """One kind of bad file: how to make it, and what ``apcal run`` must say about it.

    ``reason`` is a fragment of the reason listed for the file in the report's ``skipped_files``;
    ``group`` instead the end of the name of the skipped group the file is alone in (it was read, and
    its shape, binning or missing keywords keep it from the others: "1 frame, fewer than min_frames").
    """

    make: Callable[[Path, Path], Path]
    reason: str | None = None
    group: str | None = None


FILE_CASES: dict[str, Case] = {
    "zero_bytes": Case(zero_bytes, reason="empty file (0 bytes)"),
    "truncated_fits": Case(truncated_fits, reason="truncated FITS data unit"),
    "truncated_xisf": Case(truncated_xisf, reason="truncated XISF data block"),
    "not_fits": Case(not_fits, reason="not a readable FITS file (no SIMPLE card at the start)"),
    "no_image_hdu": Case(no_image_hdu, reason="no image in this FITS file"),
    "multi_extension": Case(multi_extension, reason="light frame (ignored)"),
    "tile_compressed": Case(tile_compressed, reason="light frame (ignored)"),
    "fpacked": Case(fpacked, reason="fpack-compressed file (.fz) is not read: funpack it first"),
    "symlink_loop": Case(symlink_loop, reason="symbolic link loop"),
    "non_utf8_name": Case(non_utf8_name, reason="file name is not valid UTF-8"),
    "other_shape": Case(other_shape, group="48x16"),
    "other_binning": Case(other_binning, group="BIN_2x2_48x32"),
    "no_imagetyp": Case(no_imagetyp, reason="unknown frame type (no IMAGETYP, FRAME or CALFRAME keyword)"),
    "unknown_imagetyp": Case(unknown_imagetyp, reason="unknown frame type (IMAGETYP='CALIBRATION')"),
    "no_grouping_keys": Case(no_grouping_keys, group="BIN_1x1_48x32"),
    "negative_exposure": Case(negative_exposure, reason="EXPOSURE -1 is not a valid exposure time"),
    "hot_sensor": Case(hot_sensor, reason="CCD-TEMP 999 °C is not a plausible sensor temperature"),
}


# --- running apcal and reading what it left ---------------------------------------------------------------


def run_apcal(
    *args: str | Path,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    **popen: object,
) -> subprocess.CompletedProcess[str]:
    """``python -m apcal ARGS`` as cron would run it (no terminal), text decoded leniently."""
    return subprocess.run(
        [sys.executable, "-m", "apcal", *map(str, args)],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "250", **(env or {})},
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=timeout,
        check=False,
        **popen,  # type: ignore[arg-type]
    )


def as_plain_user() -> dict[str, object]:
    """``subprocess`` arguments that make permissions bind even when the tests run as root.

    Root reads and writes anything through two capabilities; the child drops them from its bounding
    set before exec, so the apcal it runs is root without them, refused like any user. Skips the test
    when they cannot be dropped.
    """
    if os.geteuid() != 0:
        return {}
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop, cap_dac_override, cap_dac_read_search = 24, 1, 2

    def drop() -> None:
        for cap in (cap_dac_override, cap_dac_read_search):
            if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")

    try:
        subprocess.run(["true"], preexec_fn=drop, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        import pytest

        pytest.skip(f"running as root and cannot drop CAP_DAC_OVERRIDE ({exc}): permissions cannot bind")
    return {"preexec_fn": drop}


def last_report(night: Path) -> dict:
    paths = sorted((night / "out" / "logs").glob("*_report.json"))
    assert paths, f"no report in {night / 'out' / 'logs'}"
    return json.loads(paths[-1].read_text(encoding="utf-8"))


def masters(night: Path) -> dict[str, np.ndarray]:
    """Every master of ``night/out`` by its type prefix and group (less the night's folder), as pixels."""
    from apcal.io.image import open_image

    out: dict[str, np.ndarray] = {}
    for path in sorted((night / "out" / "master").glob("master*.xisf")):
        with open_image(path) as reader:
            out[path.name] = reader.read()
    return out


def assert_same_masters(night: Path, clean: dict[str, np.ndarray]) -> None:
    got = masters(night)
    assert sorted(got) == sorted(clean)
    for name, pixels in clean.items():
        np.testing.assert_array_equal(got[name], pixels, err_msg=name)


def leftovers(night: Path) -> list[str]:
    """Temporary and partial files anywhere under the output folder (none may survive a run)."""
    out = night / "out"
    if not out.exists():
        return []
    return sorted(
        str(p.relative_to(out))
        for p in out.rglob("*")
        if ".part" in p.name or p.name.endswith((".tmp", ".apcal-partial")) or ".apcal-partial" in p.name
    )


def copy_night(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest, symlinks=True)
    return dest
