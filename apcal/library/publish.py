"""Publishing: file the masters a run built into the library root, behind a QC gate.

Each master is compared (:func:`apcal.library.qc.compare`) with the previous good master of its
configuration in the catalogue: the newest one not marked bad, other than itself. A master that fails
the gate is *held*: it stays in the run's output folder and is not filed (the run names it in its log
and report and exits 1). A master with no predecessor, or one that passes, is copied to
``<root>/<type>/<camera>/<file name>`` without ever replacing a file (a name already taken by other
content gets ``_2``, ``_3`` ...) through a complete temporary copy hard-linked into place
(:func:`apcal.io.atomic.atomic_new_file`), then catalogued. A master whose bytes are already in the
library is not filed twice: a rerun is up to date.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from apcal.errors import FrameError
from apcal.frames.discovery import content_hash
from apcal.frames.model import Frame
from apcal.frames.normalize import read_frame
from apcal.io.atomic import atomic_new_file
from apcal.library.catalog import Catalog
from apcal.library.qc import DEFAULT_GATE, Comparison, compare, qc_figures
from apcal.library.records import (
    CATALOGUED_TYPES,
    MasterRecord,
    camera_folder,
    configuration,
    configuration_id,
)
from apcal.recipe.model import QcGate

PublishStatus = Literal["filed", "held", "in_library", "failed"]


@dataclass(frozen=True)
class Published:
    """What became of one master: filed (``path`` in the library), held (with why), already in the
    library (``path`` of the copy there) or failed (not readable)."""

    source: Path
    type: str
    status: PublishStatus
    reason: str
    path: Path | None = None
    predecessor: Path | None = None
    comparison: Comparison | None = None
    qc: dict[str, float | None] | None = None
    predecessor_qc: dict[str, float | None] | None = None

    def to_dict(self) -> dict[str, Any]:
        c = self.comparison
        return {
            "master": str(self.source),
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "library_path": str(self.path) if self.path else None,
            "predecessor": str(self.predecessor) if self.predecessor else None,
            "outlier_fraction": c.outlier_fraction if c else None,
            "level_change": c.level_change if c else None,
            "noise_change": c.noise_change if c else None,
            "qc": self.qc,
            "predecessor_qc": self.predecessor_qc,
        }


def predecessor(catalog: Catalog, frame: Frame, sha256: str) -> MasterRecord | None:
    """The previous good master of ``frame``'s configuration: the newest one not marked bad."""
    wanted = configuration_id(configuration(frame))
    same = [
        r
        for r in catalog.records(frame.type)
        if r.config_id == wanted and r.status != "bad" and r.sha256 != sha256
    ]
    if not same:
        return None
    return max(same, key=lambda r: (r.night.isoformat() if r.night else "", r.mtime_ns, r.path))


def file_into(source: Path, folder: Path, sha256: str) -> Path:
    """Copy ``source`` into ``folder`` under its own name, or the first free ``_<n>`` variant; a file
    there with the same bytes is returned as is (filed by a concurrent run)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = source.name
    stem, suffix = (name.split(".", 1)[0], "." + name.split(".", 1)[1]) if "." in name else (name, "")
    for n in itertools.count(1):
        target = folder / (name if n == 1 else f"{stem}_{n}{suffix}")
        try:
            with atomic_new_file(target) as tmp:
                shutil.copyfile(source, tmp)
        except FileExistsError:
            if content_hash(target) == sha256:
                return target
            continue
        return target
    raise AssertionError("unreachable")  # itertools.count never ends


def _publish_one(catalog: Catalog, source: Path, gate: QcGate | None) -> Published:
    try:
        frame = read_frame(source, catalog.headers)
    except (FrameError, OSError) as exc:
        return Published(source, "?", "failed", str(exc))
    kind = frame.type.value
    if not frame.is_master or frame.type not in CATALOGUED_TYPES:
        return Published(source, kind, "failed", "not a master of a catalogued type")
    sha256 = content_hash(source)
    copies = catalog.with_hash(sha256)
    if copies:
        return Published(source, kind, "in_library", "already in the library", catalog.root / copies[0].path)
    figures = qc_figures(frame)
    previous = predecessor(catalog, frame, sha256)
    comparison = None
    if previous is not None and gate is not None:
        comparison = compare(frame, previous.frame(catalog.root), gate)
    before = dict(previous.qc) if previous is not None else None
    before_path = catalog.root / previous.path if previous is not None else None
    if comparison is not None and not comparison.passed:
        reason = "; ".join(comparison.problems) + f" against {before_path}"
        return Published(source, kind, "held", reason, None, before_path, comparison, figures, before)
    target = file_into(source, catalog.root / kind / camera_folder(frame), sha256)
    catalog.refresh(only=[target.relative_to(catalog.root).as_posix()])
    why = (
        "filed by hand, without the QC gate"
        if gate is None
        else "passed the QC gate"
        if comparison is not None
        else "no predecessor of this configuration"
    )
    return Published(source, kind, "filed", why, target, before_path, comparison, figures, before)


def publish(catalog: Catalog, masters: Sequence[Path], gate: QcGate | None = DEFAULT_GATE) -> list[Published]:
    """File each of ``masters`` (paths in the run's output) into the catalogue's root, behind ``gate``;
    without one (``apcal library file``: a held master its observer has checked) nothing is held."""
    catalog.refresh()
    return [_publish_one(catalog, Path(m), gate) for m in masters]
