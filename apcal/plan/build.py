"""From frames to a plan: groups become jobs with output paths, parameters and calibration masters.

Pure over frame metadata: nothing here reads pixels or writes files. Order is bias, dark, flat-dark,
flat, so masters a flat group needs are built before it. Flat groups are matched with library masters
and, when ``library.use_new_masters`` is on, with masters this same run builds (their paths and
hashes are known from the plan), preferring this run's master when it matches at least as well.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from apcal.frames.model import Fingerprint, Frame, SkippedFile
from apcal.grouping import Group, group_frames
from apcal.library import LibraryIndex, Policy, dark_rank, match_master
from apcal.plan.darkscaling import dark_scaling_notes
from apcal.plan.identity import config_identity, group_identity, identity_cards, owned_output
from apcal.plan.keywords import (
    HASH_KEYWORD,
    calibration_history,
    job_hash,
    master_keywords,
    renamed_history,
)
from apcal.plan.model import (
    FlatCalibration,
    Job,
    MasterChoice,
    MasterRef,
    PixelScreening,
    Plan,
    colliding_stems,
)
from apcal.plan.output_dir import resolved
from apcal.plan.screening import screen_group
from apcal.recipe.model import Recipe, Tolerances
from apcal.vocabulary import FrameType


def build_plan(
    recipe: Recipe,
    frames: Sequence[Frame],
    skipped_files: Sequence[SkippedFile] = (),
    libraries: Sequence[LibraryIndex] = (),
    distrust: Callable[[Path], str | None] | None = None,
    policy: Policy | None = None,
) -> Plan:
    """The plan for ``recipe`` over discovered ``frames`` and indexed library folders.

    ``distrust(path)`` says why a library master matched to a flat group must not be used (its data
    fails its checksum), or None; such a master is left out with a warning and the next best one taken.
    ``policy`` is the library's (maximum ages, masters marked bad); None refuses nothing.
    """
    out = recipe.output.dir
    usable, skipped = _raw_frames(frames, out)
    grouped = group_frames(usable, recipe.grouping)
    ext = recipe.output.format
    master_dir = out / "master"

    jobs: list[Job] = []
    run_masters: list[tuple[Frame, Job]] = []
    library_masters = [m for lib in libraries for m in lib.masters]
    screening = PixelScreening(
        recipe.screening, recipe.grouping.min_frames, recipe.grouping.tolerances.sensor_temp
    )
    for found in grouped.groups:
        group, excluded, warnings = _screen_headers(found, screening)
        integration = recipe.integration[group.type].resolved(len(group.frames), group.type)
        named = master_dir / f"{group.type.file_prefix}_{group.name}.{ext}"
        calibration, master_ids = None, []
        notes: tuple[str, ...] = ()
        depends: tuple[str, ...] = ()
        choices: list[MasterChoice] = []
        if group.type is FrameType.FLAT:
            calibration, notes = _flat_calibration(
                recipe, group, library_masters, run_masters, out, distrust, policy, choices
            )
            if calibration is not None:
                master_ids = [_master_identity(m, jobs) for m in calibration.masters]
                depends = tuple(m.job_id for m in calibration.masters if m.job_id)
        digest = job_hash(
            group.type,
            group.frames,
            integration,
            ext,
            calibration.params if calibration else None,
            master_ids,
        )
        history = (
            [
                *calibration_history(calibration.params, [m.path.name for m in calibration.masters]),
                *renamed_history(calibration, group.frames, ext),
            ]
            if calibration
            else ()
        )
        group_id = group_identity(group.type, group.keys)
        config_id = config_identity(
            recipe.integration[group.type],
            calibration.params if calibration else None,
            [m.path.name for m in calibration.masters] if calibration else (),
        )
        output, clash = owned_output(named, group_id, config_id)
        keywords = master_keywords(
            group.type, group.frames, recipe.grouping.keywords(group.type), integration, digest, history
        ) + identity_cards(group_id, config_id)
        job = Job(
            id=f"{group.type.value}/{group.name}",
            group=group,
            integration=integration,
            output=output,
            keywords=keywords,
            calibration=calibration,
            depends_on=depends,
            notes=(*notes, *warnings, *([clash] if clash else [])),
            excluded=excluded,
            screening=screening if recipe.screening.enabled else None,
            choices=tuple(choices),
        )
        jobs.append(job)
        if group.type is not FrameType.FLAT:
            run_masters.append((_as_master(job), job))

    return Plan(
        output_dir=out,
        output_format=ext,
        jobs=tuple(jobs),
        skipped_files=(*skipped_files, *skipped),
        skipped_groups=grouped.skipped,
        script_dir=recipe.output.script_dir,
        notes=tuple(
            f"library folder {lib.folder} holds no usable masters ({len(lib.skipped)} other files)"
            for lib in libraries
            if not lib.masters
        ),
        rejection_maps=recipe.output.rejection_maps,
    )


def _screen_headers(
    group: Group, screening: PixelScreening
) -> tuple[Group, tuple[SkippedFile, ...], tuple[str, ...]]:
    """Leave out frames whose headers already disqualify them (a warm sensor), before anything is read,
    so the master's NCOMBINE and hash describe the frames really used."""
    result = screen_group(
        group.frames,
        None,
        screening.settings,
        frame_type=group.type,
        sensor_temp_tolerance=screening.sensor_temp_tolerance,
        min_frames=screening.min_frames,
    )
    if not result.excluded:
        return group, (), result.warnings
    gone = {str(e.path) for e in result.excluded}
    kept = tuple(f for f in group.frames if str(f.path) not in gone)
    excluded = tuple(SkippedFile(Path(e.path), e.reason) for e in result.excluded)
    return replace(group, frames=kept), excluded, result.warnings


def _raw_frames(frames: Sequence[Frame], out: Path) -> tuple[list[Frame], list[SkippedFile]]:
    """Leave out apcal's own output: an output folder may sit inside an input folder, and calibrated
    flats carry their raw frame's IMAGETYP. Paths are compared resolved, so an output folder reached
    through a symbolic link (or a frame linked from it) is recognised."""
    real_out = resolved(out)
    ours = [resolved(f.path).is_relative_to(real_out) for f in frames]
    usable = [f for f, own in zip(frames, ours, strict=True) if not own]
    skipped = [
        SkippedFile(f.path, "inside the output folder (apcal's own output)")
        for f, own in zip(frames, ours, strict=True)
        if own
    ]
    return usable, skipped


def _as_master(job: Job) -> Frame:
    """The master ``job`` will write, described as a library frame so the matcher can consider it."""
    first = job.group.frames[0]
    keywords = dict(first.keywords)
    for name, value in job.group.keys:
        keywords[name] = value
    exposures = [f.exposure for f in job.group.frames if f.exposure is not None]
    if exposures:
        keywords["EXPOSURE"] = sum(exposures) / len(exposures)
    keywords["NCOMBINE"] = float(len(job.group.frames))
    return Frame(
        path=job.output,
        type=job.group.type,
        shape=first.shape,
        keywords=keywords,
        raw_keywords={k.name: k.value for k in job.keywords if k.name != "HISTORY"},
        fingerprint=Fingerprint(0, time.time_ns(), job.id),
        is_master=True,
        night=first.night,
    )


def _flat_calibration(
    recipe: Recipe,
    group: Group,
    library: Sequence[Frame],
    run: Sequence[tuple[Frame, Job]],
    out: Path,
    distrust: Callable[[Path], str | None] | None = None,
    policy: Policy | None = None,
    choices: list[MasterChoice] | None = None,
) -> tuple[FlatCalibration | None, tuple[str, ...]]:
    """The masters that calibrate ``group``; each type's library candidates and verdicts are appended
    to ``choices``."""
    tolerances = recipe.grouping.tolerances
    run_frames = [f for f, _ in run] if recipe.library.use_new_masters else []
    jobs_by_path = {f.path: j for f, j in run}
    notes: list[str] = []

    def pick(frame_type: FrameType) -> MasterRef | None:
        candidates = list(library)
        lib = match_master(group, candidates, frame_type, tolerances, policy)
        while lib.master is not None and distrust is not None and (why := distrust(lib.master.path)):
            notes.append(f"library master {lib.master.path} excluded: {why}")
            candidates = [m for m in candidates if m.path != lib.master.path]
            lib = match_master(group, candidates, frame_type, tolerances, policy)
        new = match_master(group, run_frames, frame_type, tolerances)
        chosen = lib
        if new.master is not None and (
            lib.master is None or _rank(new.master, group, tolerances) <= _rank(lib.master, group, tolerances)
        ):
            chosen = new
        if choices is not None:
            choices.append(
                MasterChoice(
                    frame_type,
                    lib.verdicts,
                    chosen.master.path if chosen.master is not None else None,
                    chosen.reason if chosen is lib or new.master is None else f"this run's {new.reason}",
                )
            )
        if chosen.master is None:
            reasons = {lib.reason, new.reason} if run_frames else {lib.reason}
            notes.append(f"no master {frame_type.value}: " + "; ".join(sorted(reasons)))
            return None
        job = jobs_by_path.get(chosen.master.path) if chosen is new else None
        notes.extend(chosen.warnings)
        return MasterRef(
            path=chosen.master.path,
            type=frame_type,
            source="run" if chosen is new else "library",
            exposure=chosen.master.exposure,
            job_id=job.id if job else None,
            warnings=chosen.warnings,
        )

    flatdark = pick(FrameType.FLATDARK)
    bias = dark = None
    if flatdark is None:
        bias, dark = pick(FrameType.BIAS), pick(FrameType.DARK)
    else:
        notes[:] = [n for n in notes if not n.startswith("no master flatdark")]
    if flatdark is None and bias is None and dark is None:
        return None, tuple([*notes, "flats are integrated uncalibrated"])
    params = recipe.calibration
    if dark is not None and bias is None and params.dark_scaling != "none":
        params = replace(params, dark_scaling="none")
        notes.append("no master bias: dark scaling is off (the dark is subtracted unscaled)")
    if dark is not None and bias is not None:
        notes.extend(dark_scaling_notes(params.dark_scaling, recipe.engine.name))
    return (
        FlatCalibration(
            bias=bias,
            dark=dark,
            flatdark=flatdark,
            params=params,
            output_dir=out / "calibrated" / group.name,  # master/ holds masters only
            colliding_stems=colliding_stems([f.path for f in group.frames]),
        ),
        tuple(notes),
    )


def _rank(master: Frame, group: Group, tolerances: Tolerances) -> tuple[int, float]:
    """How well ``master`` suits ``group``: the seed's exposure rule for darks; other types rank equal."""
    return dark_rank(master, group, tolerances) if master.type is FrameType.DARK else (0, 0.0)


def _master_identity(ref: MasterRef, jobs: Sequence[Job]) -> list[object]:
    """A calibration master's identity inside a flat job's hash: this run's job hash for a master
    built in the run (so rebuilding a dark rebuilds the flats that use it), the file's for a library's."""
    if ref.job_id is not None:
        job = next(j for j in jobs if j.id == ref.job_id)
        digest = next(k.value for k in job.keywords if k.name == HASH_KEYWORD)
        return ["run", ref.job_id, digest]
    return ["library", *_library_identity(ref.path)]


def _library_identity(path: Path) -> list[object]:
    try:
        st = path.stat()
    except OSError:
        return [str(path), None]
    return [str(path), st.st_size, st.st_mtime_ns]
