"""Benchmark apcal's native engine against ccdproc and Siril on one synthetic night (not a test).

    python bench/bench_native.py [FOLDER] [--frames 20] [--rows 1500] [--cols 2000] [--memory-limit 1G]
    python bench/bench_native.py [FOLDER] --large       # 60 frames of 4000x3000, memory_limit 1 GiB
    python bench/bench_native.py [FOLDER] --repeat 5    # each tool 5 times, interleaved: medians

Generates a night with :mod:`apcal.demo.synthetic` into FOLDER (default: a temporary folder, removed at
the end unless --keep): bias, darks (hot pixels, cosmic rays) and flats (vignetting, dust), FRAMES of
each, uint16 FITS. Then builds master bias, dark and flat (flats calibrated with that bias and dark) with

* apcal's native engine (``prepare_plan`` + ``NativeEngine``, the same path ``apcal run`` takes, and
  the same exit: :func:`apcal.cli.process_exit.before_exit`);
* ccdproc: ``combine(method='average', sigma_clip=True, low 4, high 3, mem_limit=...)``; flats are
  bias- and exposure-scaled-dark-subtracted with ``subtract_bias``/``subtract_dark`` and combined with
  ``scale = 1/median``;
* Siril, when ``siril-cli`` is on PATH: a script that stacks bias and darks with winsorized rejection
  4/3 and no normalization, calibrates the flats with ``-bias -dark -opt`` (Siril >= 1.2; bias only on
  1.0, whose dark optimization crashes siril-cli) and stacks them with multiplicative normalization.
  When siril-cli is missing and the benchmark runs as root on a Debian system, it is installed with
  ``apt-get install -y siril`` first; otherwise Siril is skipped.

Each tool runs in its own child process; wall time is measured around it and peak memory is the
child's maximum resident set size from ``wait4`` (exact, not sampled). On a shared machine one run's
wall times move by 10-20 % (Siril's as much as apcal's): ``--repeat N`` runs the tools N times in
rounds (apcal, ccdproc, Siril, then again), prints each round, and takes the ratios of the medians
(with the range of the per-round ratios). Agreement between masters is the
RMS of their difference divided by the apcal master's own noise (RMS of apcal - truth), flats compared
after dividing each by its median. ``--large`` runs apcal (and Siril; ccdproc only with --ccdproc) on
60 frames of 4000x3000 with memory_limit 1 GiB and prints peak RSS / memory_limit.

Numba compiles the kernels on first use and caches them next to the sources; run once to warm the cache
(or read the ``apcal (cold)`` figure when it is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from flat_scaling import bias_noise_lines, flat_scaling_lines, read_unit

STARTED = time.perf_counter()
FULL_SCALE = 65535.0
EXPOSURES = {"dark": 300.0, "flat": 2.0}


@dataclass
class Measured:
    tool: str
    seconds: float
    peak_rss: int  # bytes
    ok: bool
    detail: str = ""


def summarize(rounds: list[list[Measured]]) -> list[Measured]:
    """One Measured per tool over the rounds: the median wall time, the largest peak RSS, the range of
    wall times in the notes (the last round's notes when there is one round); failed runs spoil it."""
    summary = []
    for tool in dict.fromkeys(m.tool for r in rounds for m in r):
        runs = [m for r in rounds for m in r if m.tool == tool]
        ok = all(m.ok for m in runs)
        if len(runs) == 1 or not ok:
            summary.append(runs[-1] if ok else next(m for m in runs if not m.ok))
            continue
        seconds = sorted(m.seconds for m in runs)
        detail = f"median of {len(runs)}, {seconds[0]:.2f}-{seconds[-1]:.2f} s" + (
            f"; last run: {runs[-1].detail}" if runs[-1].detail else ""
        )
        summary.append(Measured(tool, float(np.median(seconds)), max(m.peak_rss for m in runs), True, detail))
    return summary


def ratio_range(rounds: list[list[Measured]], numerator: str, denominator: str) -> str:
    """The range of numerator/denominator wall-time ratios over the rounds, or '' for one round."""
    ratios = []
    for r in rounds:
        by_tool = {m.tool: m for m in r if m.ok}
        if numerator in by_tool and denominator in by_tool:
            ratios.append(by_tool[numerator].seconds / by_tool[denominator].seconds)
    if len(ratios) < 2:
        return ""
    return f" (per round {min(ratios):.2f}-{max(ratios):.2f}, {len(ratios)} rounds)"


# --------------------------------------------------------------------------------------------------
# Child processes


def run_measured(tool: str, command: list[str], cwd: Path | None = None, log: Path | None = None) -> Measured:
    """Run ``command``; wall time and the child's peak RSS (ru_maxrss from wait4, in KiB on Linux)."""
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if log:
            out.close()
    detail = "" if proc.returncode == 0 else f"exit code {proc.returncode}" + (f", see {log}" if log else "")
    return Measured(tool, seconds, usage.ru_maxrss * 1024, proc.returncode == 0, detail)


def child_apcal(night: Path, out: Path, memory_limit: int, threads: int, profile: bool) -> None:
    """Build every master of ``night`` with the native engine; print per-job seconds as JSON."""
    from loguru import logger

    from apcal.engines.base import RunContext
    from apcal.engines.native.engine import NativeEngine
    from apcal.plan.prepare import prepare_plan
    from apcal.recipe import recipe_from_mapping
    from apcal.recipe.model import EngineSettings

    logger.remove()
    logger.add(sys.stderr, level="INFO")
    imported = time.perf_counter()
    recipe = recipe_from_mapping(
        {
            "apcal": 1,
            "name": "bench",
            "inputs": [{"path": str(night)}],
            "output": {"dir": str(out)},
            "engine": {"memory_limit": memory_limit, "threads": threads},
        },
        base_dir=out.parent,
    )
    plan = prepare_plan(recipe)
    planned = time.perf_counter()
    engine = NativeEngine(EngineSettings(memory_limit=memory_limit, threads=threads))
    context = RunContext("bench", out / "bench.log")

    peaks: dict[str, int] = {}

    def build() -> list:
        # The peak RSS so far after each job (Linux): shows which job sets the process's peak.
        results = []
        for result in engine.execute(plan, plan.jobs, context):
            peaks[result.job_id] = _peak_rss()
            results.append(result)
        return results

    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        results = profiler.runcall(build)
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(25)
        stats.sort_stats("tottime").print_stats(30)
    else:
        results = build()
    report = {
        r.job_id.split("/")[0] + ("_" + r.job_id.split("FILTER_")[1][:1] if "FILTER_" in r.job_id else ""): {
            "status": r.status,
            "seconds": r.seconds,
            "peak_rss": peaks.get(r.job_id, 0),
            "output": str(r.output) if r.output else None,
            "message": r.message,
        }
        for r in results
    }
    phases = {"imports": imported - STARTED, "plan": planned - imported}
    report["startup"] = {
        "status": "built",
        "seconds": planned - STARTED,
        "output": None,
        "message": str(phases),
    }
    print(json.dumps(report))


def _peak_rss() -> int:
    """This process's peak RSS so far in bytes (VmHWM; not reset, so the child's ru_maxrss stays whole);
    0 where /proc does not offer it."""
    try:
        return int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]) * 1024
    except (OSError, IndexError, ValueError):
        return 0


def child_ccdproc(folder: Path, out: Path, memory_limit: int) -> None:
    """Master bias, dark and flat with ccdproc, in ADU (as ccdproc works), float32 FITS."""
    import warnings

    import astropy.units as u
    import ccdproc
    from astropy.nddata import CCDData

    from apcal.demo.truth import load_truth

    warnings.simplefilter("ignore")
    truth = load_truth(folder)
    out.mkdir(parents=True, exist_ok=True)
    clip = dict(
        method="average",
        sigma_clip=True,
        sigma_clip_low_thresh=4,
        sigma_clip_high_thresh=3,
        mem_limit=memory_limit,
        unit="adu",
        dtype=np.float32,
    )
    group = {name.split("_")[0]: files for name, files in truth.files.items()}
    bias = ccdproc.combine([str(p) for p in group["bias"]], **clip)
    bias.write(out / "bias.fits", overwrite=True)
    dark = ccdproc.combine([str(p) for p in group["dark"]], **clip)
    dark.meta["EXPTIME"] = EXPOSURES["dark"]
    dark.write(out / "dark.fits", overwrite=True)
    dark_only = ccdproc.subtract_bias(dark, bias)
    calibrated = []
    for index, path in enumerate(group["flat"]):
        flat = CCDData.read(path, unit="adu")
        flat = ccdproc.subtract_bias(flat, bias)
        flat = ccdproc.subtract_dark(flat, dark_only, exposure_time="EXPTIME", exposure_unit=u.s, scale=True)
        target = out / f"flat_c_{index:04d}.fits"
        flat.data = flat.data.astype(np.float32)
        flat.write(target, overwrite=True)
        calibrated.append(str(target))
    master = ccdproc.combine(calibrated, scale=lambda a: 1 / np.ma.median(a), **clip)
    master.write(out / "flat.fits", overwrite=True)


# --------------------------------------------------------------------------------------------------
# Siril


def ensure_siril() -> str | None:
    """Path of siril-cli; installed with apt-get when missing and running as root; else None."""
    found = shutil.which("siril-cli")
    if found:
        return found
    if os.name == "posix" and os.geteuid() == 0 and shutil.which("apt-get"):
        print("siril-cli not found: installing the Debian package 'siril' (apt-get, running as root)...")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "siril"], check=False, env=env, stdout=subprocess.DEVNULL
        )
        found = shutil.which("siril-cli")
    if not found:
        print(
            "Siril skipped: siril-cli not found (install Siril, or run as root to let this script apt-get it)"
        )
    return found


def siril_version(binary: str) -> tuple[int, ...]:
    text = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout
    for word in text.split():
        parts = word.split(".")
        if len(parts) >= 2 and all(p.isdigit() for p in parts[:2]):
            return tuple(int(p) for p in parts[:2])
    return (1, 0)


def siril_script(work: Path, version: tuple[int, ...]) -> Path:
    """The Siril script; frames are linked into work/<group>/ by :func:`siril_inputs`."""
    # Siril 1.0.x (Debian 12's) segfaults on dark optimization (-opt) in siril-cli; there the flats get
    # the bias only: with 2 s flats and a 300 s dark the optimized k is ~0.007, so bias-only is the
    # closest unoptimized calibration (subtracting the whole dark would dig the hot pixels into the flat).
    if version >= (1, 2):
        calibrate = "calibrate flat_ -bias=../master_bias -dark=../master_dark -opt"
    else:
        calibrate = "preprocess flat_ -bias=../master_bias"
    # One sequence folder per group: Siril 1.0 mixes up sequences that share a folder.
    lines = [
        "requires 1.0.0",
        "set32bits",
        "cd bias",
        "link bias_ -out=../seq_bias",
        "cd ../seq_bias",
        "stack bias_ rej w 4 3 -nonorm -out=../master_bias",
        "cd ../dark",
        "link dark_ -out=../seq_dark",
        "cd ../seq_dark",
        "stack dark_ rej w 4 3 -nonorm -out=../master_dark",
        "cd ../flat",
        "link flat_ -out=../seq_flat",
        "cd ../seq_flat",
        calibrate,
        "stack pp_flat_ rej w 4 3 -norm=mul -out=../master_flat",
        "close",
    ]
    script = work / "bench.ssf"
    script.write_text("\n".join(lines) + "\n")
    return script


def siril_inputs(folder: Path, work: Path) -> None:
    from apcal.demo.truth import load_truth

    truth = load_truth(folder)
    for name, files in truth.files.items():
        group = work / name.split("_")[0]
        group.mkdir(parents=True, exist_ok=True)
        for index, path in enumerate(files, 1):
            (group / f"{group.name}_{index:04d}.fits").symlink_to(Path(path).resolve())


# --------------------------------------------------------------------------------------------------
# Comparison


def agreement(folder: Path, masters: dict[str, dict[str, Path]]) -> list[str]:
    """RMS(tool - apcal) / RMS(apcal - truth) per master type."""
    from apcal.demo.truth import dark_truth, flat_truth_normalized, load_truth

    truth = load_truth(folder)
    edge = 16
    truths = {
        "bias": truth.bias.astype(np.float64),
        "dark": dark_truth(truth, EXPOSURES["dark"]).astype(np.float64),
        "flat": flat_truth_normalized(truth, truth.night.filters[0]).astype(np.float64),
    }
    lines = []
    for kind in ("bias", "dark", "flat"):
        if kind not in masters.get("apcal", {}):
            continue
        apcal = read_unit(masters["apcal"][kind])
        if kind == "flat":
            apcal = apcal / np.median(apcal)
        inner = (slice(edge, -edge), slice(edge, -edge))
        reference = truths[kind] / (np.median(truths[kind]) if kind == "flat" else 1.0)
        noise = float(np.sqrt(np.mean((apcal - reference)[inner] ** 2)))
        parts = [
            f"{kind:5s} apcal-truth rms {noise * (1 if kind == 'flat' else FULL_SCALE):.4g}"
            + (" (relative)" if kind == "flat" else " ADU")
        ]
        for tool, paths in masters.items():
            if tool == "apcal" or kind not in paths or not paths[kind].is_file():
                continue
            other = read_unit(paths[kind])
            if kind == "flat":
                other = other / np.median(other)
            diff = float(np.sqrt(np.mean((other - apcal)[inner] ** 2)))
            truth_rms = float(np.sqrt(np.mean((other - reference)[inner] ** 2)))
            parts.append(
                f"{tool}-apcal {diff / noise:.3f} sigma ({tool}-truth {truth_rms / noise:.3f} sigma)"
            )
        lines.append("; ".join(parts))
    return lines


# --------------------------------------------------------------------------------------------------


def run_round(
    folder: Path,
    night: Path,
    memory_limit: int,
    args: argparse.Namespace,
    run_ccdproc: bool,
    siril: str | None,
    masters: dict[str, dict[str, Path]],
) -> list[Measured]:
    """Each tool once on ``night``, in its own child process; fills ``masters`` with their outputs."""
    runs: list[Measured] = []

    out = folder / "apcal"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    command = [
        sys.executable,
        __file__,
        "_apcal",
        str(night),
        str(out),
        str(memory_limit),
        str(args.threads),
    ]
    measured = run_measured("apcal", [*command, "1" if args.profile else "0"], log=folder / "apcal.log")
    runs.append(measured)
    if measured.ok:
        report = json.loads((folder / "apcal.log").read_text().strip().splitlines()[-1])
        masters["apcal"] = {k.split("_")[0]: Path(v["output"]) for k, v in report.items() if v["output"]}
        measured.detail = ", ".join(
            f"{k} {v['seconds']:.2f} s" + (f" ({v['peak_rss'] >> 20} MiB)" if v.get("peak_rss") else "")
            for k, v in report.items()
        )

    if run_ccdproc:
        out = folder / "ccdproc"
        shutil.rmtree(out, ignore_errors=True)
        command = [sys.executable, __file__, "_ccdproc", str(night), str(out), str(memory_limit)]
        runs.append(run_measured("ccdproc", command, log=folder / "ccdproc.log"))
        masters["ccdproc"] = {k: out / f"{k}.fits" for k in ("bias", "dark", "flat")}

    if siril:
        work = folder / "siril"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        siril_inputs(night, work)
        script = siril_script(work, siril_version(siril))
        runs.append(
            run_measured("siril", [siril, "-d", str(work), "-s", str(script)], log=folder / "siril.log")
        )
        masters["siril"] = {k: work / f"master_{k}.fit" for k in ("bias", "dark", "flat")}
    return runs


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_apcal":
        from apcal.cli.process_exit import before_exit

        child_apcal(Path(argv[1]), Path(argv[2]), int(argv[3]), int(argv[4]), argv[5] == "1")
        return before_exit(0)  # the process then ends as the apcal console script's does
    if argv and argv[0] == "_ccdproc":
        child_ccdproc(Path(argv[1]), Path(argv[2]), int(argv[3]))
        return 0

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "folder", nargs="?", type=Path, help="where to generate the night (default: a temp dir)"
    )
    parser.add_argument("--frames", type=int, default=20, help="frames per group (bias, dark, flat)")
    parser.add_argument("--rows", type=int, default=1500)
    parser.add_argument("--cols", type=int, default=2000)
    parser.add_argument("--memory-limit", default="1G", help="apcal's engine.memory_limit (1G, 512M, bytes)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--large", action="store_true", help="60 frames of 4000x3000, memory_limit 1 GiB")
    parser.add_argument("--ccdproc", dest="ccdproc", action="store_true", default=None, help="run ccdproc")
    parser.add_argument("--no-ccdproc", dest="ccdproc", action="store_false")
    parser.add_argument("--no-siril", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile apcal's run (printed to its log)")
    parser.add_argument("--keep", action="store_true", help="keep the generated folder")
    parser.add_argument(
        "--repeat", type=int, default=1, metavar="N", help="run the tools N times in rounds; report medians"
    )
    args = parser.parse_args(argv)
    if args.large:
        args.frames, args.rows, args.cols, args.memory_limit = 60, 3000, 4000, "1G"
    run_ccdproc = args.ccdproc if args.ccdproc is not None else not args.large
    memory_limit = parse_size(args.memory_limit)

    from apcal.demo.camera import CameraModel, NightPlan
    from apcal.demo.synthetic import generate_night
    from apcal.demo.truth import save_truth

    temporary = args.folder is None
    folder = Path(tempfile.mkdtemp(prefix="apcal-bench-")) if temporary else args.folder.absolute()
    try:
        night = folder / "night"
        if (night / "truth" / "truth.json").is_file():
            print(f"reusing the night in {night}")
        else:
            start = time.perf_counter()
            camera = CameraModel(rows=args.rows, cols=args.cols)
            plan = NightPlan(
                n_bias=args.frames,
                dark_exposures=(EXPOSURES["dark"],),
                n_darks=args.frames,
                filters=("L",),
                flat_exposures=(EXPOSURES["flat"],),
                n_flats=args.frames,
            )
            save_truth(generate_night(night, camera, plan, overwrite=True), night)
            took = time.perf_counter() - start
            print(f"generated {3 * args.frames} frames of {args.cols}x{args.rows} in {took:.1f} s")
        print(
            f"night: {night}; apcal memory_limit {memory_limit / (1 << 20):.0f} MiB, {os.cpu_count()} cores"
        )

        masters: dict[str, dict[str, Path]] = {}
        siril = None if args.no_siril else ensure_siril()
        rounds: list[list[Measured]] = []
        for index in range(max(1, args.repeat)):
            rounds.append(run_round(folder, night, memory_limit, args, run_ccdproc, siril, masters))
            if args.repeat > 1:
                line = ", ".join(
                    f"{m.tool} {m.seconds:.2f} s" if m.ok else f"{m.tool} FAILED" for m in rounds[-1]
                )
                print(f"round {index + 1}: {line}", flush=True)
        runs = summarize(rounds)

        print()
        print(f"{'tool':8s} {'wall s':>8s} {'peak RSS MiB':>13s}  notes")
        for m in runs:
            notes = m.detail if m.ok else "FAILED: " + m.detail
            print(f"{m.tool:8s} {m.seconds:8.2f} {m.peak_rss / (1 << 20):13.0f}  {notes}")
        by_tool = {m.tool: m for m in runs if m.ok}
        apcal = by_tool.get("apcal")
        if apcal:
            print()
            print(f"apcal peak RSS / memory_limit = {apcal.peak_rss / memory_limit:.2f} (target < 1.2)")
            if "siril" in by_tool:
                s = by_tool["siril"]
                print(
                    f"apcal / siril wall time = {apcal.seconds / s.seconds:.2f} (target <= 0.8)"
                    f"{ratio_range(rounds, 'apcal', 'siril')}; "
                    f"peak memory apcal / siril = {apcal.peak_rss / s.peak_rss:.2f} (target <= 1)"
                )
            if "ccdproc" in by_tool:
                c = by_tool["ccdproc"]
                print(
                    f"ccdproc / apcal wall time = {c.seconds / apcal.seconds:.1f}x (target >= 10)"
                    f"{ratio_range(rounds, 'ccdproc', 'apcal')}; "
                    f"peak memory apcal / ccdproc = {apcal.peak_rss / c.peak_rss:.2f}"
                )
            print()
            print("agreement (RMS difference / apcal master's noise, interior pixels):")
            built = {t: p for t, p in masters.items() if t in by_tool}
            for line in [*agreement(night, built), *bias_noise_lines(night, built)]:
                print("  " + line)
            print("\n".join(flat_scaling_lines(night, folder / "dark_scaling", built)))
        return 0 if all(m.ok for m in runs) else 1
    finally:
        if temporary and not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
