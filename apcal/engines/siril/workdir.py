"""The files a Siril section works on, made before siril-cli runs, and its master taken back after.

* ``frames/frame_NNNN.fits``: symbolic links to the group's frames (a copy only where the file system
  refuses links), numbered in plan order so Siril's sequence numbers map back to the plan's frames;
* ``bias.fits``, ``dark.fits``, ``flatdark.fits``: the matched masters, linked when they are FITS,
  converted by apcal's reader and FITS writer when they are XISF (Siril 1.0 reads no XISF); a master
  built earlier in the same run is taken from where that job wrote it;
* after the run, ``master.fit`` is read back, clamped to [0, 1] when ``truncate_on_out_of_range`` asks
  (as the native engine and ImageIntegration do), and written where the plan says in the plan's format
  by apcal's writer with the job's header cards (the same provenance cards as the native engine's);
  the calibrated flats ``seq/pp_frame_NNNNN.fit`` move to the calibration folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from apcal.engines.siril.render import FRAME_NAME, MASTER_NAME
from apcal.plan.model import FlatCalibration, Job, MasterRef
from apcal.vocabulary import ImageFormat, Keyword

if TYPE_CHECKING:
    import numpy as np

FITS_SUFFIXES = (".fit", ".fits", ".fts")


def prepare(folder: Path, job: Job, script_only: bool, run_outputs: dict[str, Path]) -> None:
    """Make ``folder``'s frame links and master files for ``job`` (see the module docstring).

    ``run_outputs`` maps the ids of this run's jobs to the master file a flat should read: the written
    master in a run, the job folder's ``master.fit`` in a script written for later.
    """
    frames = folder / "frames"
    frames.mkdir(parents=True, exist_ok=True)
    for number, source in enumerate(job.inputs, start=1):
        _link(source.absolute(), frames / FRAME_NAME.format(number))
    if job.calibration is not None:
        for name, ref in _masters(job.calibration):
            source = run_outputs.get(ref.job_id, ref.path) if ref.source == "run" and ref.job_id else ref.path
            if (script_only and ref.source == "run") or source.suffix.lower() in FITS_SUFFIXES:
                _link(source.absolute(), folder / name)
            else:
                _to_fits(source, folder / name)


def _masters(cal: FlatCalibration) -> list[tuple[str, MasterRef]]:
    named = (("bias.fits", cal.bias), ("dark.fits", cal.dark), ("flatdark.fits", cal.flatdark))
    return [(name, ref) for name, ref in named if ref is not None]


def _link(source: Path, link: Path) -> None:
    try:
        os.symlink(source, link)
    except OSError:  # a file system without links (FAT, Windows without the privilege): copy
        shutil.copyfile(source, link)


def _to_fits(source: Path, target: Path) -> None:
    from apcal.io.image import open_image, write_image

    with open_image(source) as reader:
        data = reader.read()
    write_image(target, data, (), format="fits")


def finish_master(
    folder: Path, job: Job, keywords: Sequence[Keyword], output_format: ImageFormat
) -> np.ndarray:
    """Write Siril's master as the plan's master; return the image for its statistics."""
    import numpy as np

    from apcal.io.image import open_image, write_image

    with open_image(folder / MASTER_NAME) as reader:
        image = reader.read()
    if job.integration.truncate_on_out_of_range:
        np.clip(image, 0.0, 1.0, out=image)
    job.output.parent.mkdir(parents=True, exist_ok=True)
    write_image(job.output, image, keywords, format=output_format)
    return image


def keep_calibrated(folder: Path, job: Job) -> tuple[Path, ...]:
    """Move Siril's calibrated flats to the job's calibration folder under apcal's names; () when
    Siril did not write one per frame."""
    cal = job.calibration
    if cal is None:
        return ()
    written = sorted((folder / "seq").glob("pp_frame_*.fit"))
    if len(written) != len(job.inputs):
        return ()
    cal.output_dir.mkdir(parents=True, exist_ok=True)
    kept = []
    for source, frame in zip(written, job.inputs, strict=True):
        target = cal.calibrated_path(frame, "fits")
        shutil.move(source, target)
        kept.append(target)
    return tuple(kept)
