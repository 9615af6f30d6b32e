"""Helpers for the PixInsight engine's tests: plans built by hand and the PJSR stand-in under Node.js.

Nothing here needs PixInsight. Paths deliberately hold spaces, quotes, backslashes, ``</script>``, a newline
and non-ASCII text, the things that break scripts built by pasting strings into quotes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from apcal.frames.model import Fingerprint, Frame
from apcal.grouping import Group
from apcal.params import CalibrationParams, IntegrationParams
from apcal.plan.model import FlatCalibration, Job, MasterRef, Plan
from apcal.vocabulary import FrameType, Keyword

HERE = Path(__file__).resolve().parent
STANDIN = HERE / "pjsr_standin.js"
FAKE_PIXINSIGHT = HERE / "fake_pixinsight.py"
PARAMETERS = Path(os.environ.get("PJSR_PARAMETERS", "/work/shared/pixinsight/process-parameters.json"))

HOSTILE = 'it\'s "odd" back\\slash </script> & é 日本'
HOSTILE_VALUE = 'O\'Brien "quoted" C:\\Program Files\\x </script> é 日本\nsecond line'
FLAT_INTEGRATION = IntegrationParams(
    normalization="multiplicative", rejection_normalization="equalize_fluxes"
)


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node (Node.js) is not installed: the PJSR contract tests run the script under Node")
    return node


def make_frame(path: Path, frame_type: FrameType, extra: dict | None = None) -> Frame:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"SIMPLE  =                    T")  # content is never read by the stand-in
    keywords = {"IMAGETYP": frame_type.value, **(extra or {})}
    return Frame(
        path=path,
        type=frame_type,
        shape=(2, 2),
        keywords=keywords,
        raw_keywords=dict(keywords),
        fingerprint=Fingerprint(size=30, mtime_ns=0, header_hash="0"),
    )


def make_group(root: Path, frame_type: FrameType, name: str, count: int = 3) -> Group:
    folder = root / "frames" / f"{frame_type.value} {HOSTILE}"
    frames = tuple(make_frame(folder / f"{name}_{i:03d} é.fits", frame_type) for i in range(count))
    return Group(type=frame_type, keys=(("GAIN", 100.0),), frames=frames, name=name)


def master_keywords(frame_type: FrameType, count: int) -> tuple[Keyword, ...]:
    return (
        Keyword("IMAGETYP", frame_type.master_label, "Type of image"),
        Keyword("NCOMBINE", count, "Number of frames combined"),
        Keyword("OBSERVER", HOSTILE_VALUE, HOSTILE),
        Keyword("SET-TEMP", -10.0, "Set temperature [C]"),
        Keyword("TINY", 1.5e-7, ""),
        Keyword("APCALOK", True, "a logical value"),
        Keyword("NOVALUE", None, "no value at all"),
    )


def build_plan(
    root: Path,
    *,
    output_format: str = "xisf",
    library_bias: bool = False,
    calibration: CalibrationParams | None = None,
) -> Plan:
    """Four jobs in plan order: bias, dark, a flat calibrated with both (masters of this run), a raw flat.

    With ``library_bias`` the calibrated flat takes its bias from a library file instead.
    """
    out = root / f"out {HOSTILE}"
    master = out / "master"
    ext = ".fits" if output_format == "fits" else ".xisf"
    bias = make_group(root, FrameType.BIAS, "gain100 ñ")
    dark = make_group(root, FrameType.DARK, "gain100_300s")
    flat = make_group(root, FrameType.FLAT, "L 'lum'", count=4)
    raw_flat = make_group(root, FrameType.FLAT, "Ha", count=3)

    def job(group: Group, params: IntegrationParams, **kwargs) -> Job:
        return Job(
            id=f"{group.type.value}:{group.name}",
            group=group,
            integration=params,
            output=master / f"{group.type.file_prefix}_{group.name}{ext}",
            keywords=master_keywords(group.type, len(group.frames)),
            **kwargs,
        )

    bias_job = job(bias, IntegrationParams())
    dark_job = job(dark, IntegrationParams())
    if library_bias:
        library = root / f"library {HOSTILE}" / "masterBias_lib.xisf"
        library.parent.mkdir(parents=True, exist_ok=True)
        library.write_bytes(b"XISF0100")
        bias_ref = MasterRef(path=library, type=FrameType.BIAS, source="library")
        depends: tuple[str, ...] = (dark_job.id,)
    else:
        bias_ref = MasterRef(path=bias_job.output, type=FrameType.BIAS, source="run", job_id=bias_job.id)
        depends = (bias_job.id, dark_job.id)
    dark_ref = MasterRef(
        path=dark_job.output, type=FrameType.DARK, source="run", exposure=300.0, job_id=dark_job.id
    )
    flat_job = job(
        flat,
        FLAT_INTEGRATION,
        calibration=FlatCalibration(
            bias=bias_ref,
            dark=dark_ref,
            flatdark=None,
            params=calibration or CalibrationParams(),
            output_dir=master.parent / "calibrated" / flat.name,
        ),
        depends_on=depends,
    )
    raw_flat_job = job(raw_flat, FLAT_INTEGRATION)
    return Plan(
        output_dir=out,
        output_format=output_format,  # type: ignore[arg-type]
        jobs=(bias_job, dark_job, flat_job, raw_flat_job),
    )


def run_standin(
    node: str, script: Path, records: Path, env: dict | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [node, str(STANDIN), str(script), str(records)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )
