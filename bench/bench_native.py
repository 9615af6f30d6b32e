"""Benchmark apcal's native engine against ccdproc and Siril on one synthetic night (not a test).

    python bench/bench_native.py DIR [--no-ccdproc] [--repeat N] [--keep]   # the small night
    python bench/bench_native.py DIR --night imx294 --repeat 3              # issue 19's real-size night
    python bench/bench_native.py DIR --scaling                              # 25/50/100 IMX571 frames
    python bench/bench_native.py DIR --profile                              # where apcal's time goes
    python bench/bench_native.py DIR --night imx294 --cli                   # the same, as `apcal run`

Nights (:mod:`nights`, generated once into ``--cache`` (default DIR) and reused):

* ``small`` (default): 20 bias, 20 darks (hot pixels, cosmic rays) and 20 flats (vignetting, dust) of
  2000x1500, the recipe's default rejections; Siril and ccdproc sigmas 4/3. Kept in DIR/night as before.
* ``large`` (or ``--large``): 60 frames per group of 4000x3000, no ccdproc unless --ccdproc.
* ``imx294``: 20 bias + 20 darks of 4144x2822 (0.94 GB), winsorized 3/3 in apcal and Siril (ccdproc:
  sigma clipping 3/3), apcal's memory_limit 1 GiB.

Each tool runs in its own child process (:mod:`children`); wall time is measured around it and peak
memory is that child's ru_maxrss from ``wait4`` (:mod:`measure`). apcal's child builds the plan and
runs the native engine as ``apcal run`` does, without the run's lock, state, catalogue and reports;
``--cli`` times ``apcal run recipe.yaml`` itself, all of that (and the HTML report's pictures) included.
A round runs each tool once, in turn; ``--repeat N`` runs N rounds and prints every round (wall time
and peak RSS of each tool), the medians, and every round's ratios. Agreement between masters is the RMS
of their difference divided by the apcal master's own noise (RMS of apcal - truth). ``--scaling`` runs
apcal (memory_limit 1 GiB) and Siril on 25, 50 and 100 bias frames of 6248x4176 (:mod:`scaling`).
``--profile`` runs apcal under cProfile and prints where its time went (the whole listing in
DIR/apcal.log, the profile in DIR/apcal.pstats).

Numba compiles the kernels on first use and caches them (the user's cache folder): before any round,
:func:`warm_kernels` compiles them (untimed, said on the console), and apcal's bytecode, so every round
loads a warm cache, as a user's second and later runs do (the first run's compile is ``first_run.py``'s
figure). The night's frames are then read once into the page cache, and ``--warmup`` rounds (default 1)
run untimed before the counted ones, so no tool's figures include reading its libraries back from disk.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agreement import agreement
from children import child_apcal, child_ccdproc, cli_command, cli_masters
from flat_scaling import bias_noise_lines, flat_scaling_lines
from measure import (
    Measured,
    parse_size,
    print_rounds_table,
    ratio_range,
    round_ratios,
    run_measured,
    summarize,
)
from nights import IMX294, LARGE, SMALL, NightSpec, ensure_night, read_into_page_cache
from siril_tool import ensure_siril, siril_inputs, siril_script, siril_version

NIGHTS = {"small": SMALL, "large": LARGE, "imx294": IMX294}
#: Rejection sigmas (low, high) per night, and apcal's integration settings that match them.
SIGMAS = {"small": (4.0, 3.0), "large": (4.0, 3.0), "imx294": (3.0, 3.0)}
WINSORIZED_3_3 = {"rejection": "winsorized", "sigma_low": 3.0, "sigma_high": 3.0}
INTEGRATION: dict[str, dict[str, Any]] = {"imx294": {"bias": WINSORIZED_3_3, "dark": WINSORIZED_3_3}}
#: The wall-time ratio apcal / Siril each night is held to (issue 19: 0.6 on the IMX294 night).
WALL_TARGET = {"small": 0.8, "large": 0.8, "imx294": 0.6}


def run_round(
    folder: Path, night: Path, args: argparse.Namespace, siril: str | None, masters: dict
) -> list[Measured]:
    """Each tool once on ``night``, in its own child process; fills ``masters`` with their outputs."""
    runs: list[Measured] = []
    out = folder / "apcal"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    settings = {
        "memory_limit": args.memory_limit_bytes,
        "threads": args.threads,
        "profile": args.profile,
        "integration": INTEGRATION.get(args.night),
    }
    command = [sys.executable, __file__, "_apcal", str(night), str(out), json.dumps(settings)]
    if args.cli:
        command = cli_command(night, out, settings)
    env_profile = {"APCAL_BENCH_PSTATS": str(folder / "apcal.pstats")} if args.profile else {}
    os.environ.update(env_profile)
    measured = run_measured("apcal", command, log=folder / "apcal.log")
    runs.append(measured)
    if measured.ok:
        if args.cli:
            report = cli_masters(out)
        else:
            report = json.loads((folder / "apcal.log").read_text().strip().splitlines()[-1])
        masters["apcal"] = {k.split("_")[0]: Path(v["output"]) for k, v in report.items() if v["output"]}
        measured.detail = ", ".join(
            f"{k} {v['seconds']:.2f} s" + (f" ({v['peak_rss'] >> 20} MiB)" if v.get("peak_rss") else "")
            for k, v in report.items()
        )
    sigmas = SIGMAS[args.night]
    if args.run_ccdproc:
        out = folder / "ccdproc"
        shutil.rmtree(out, ignore_errors=True)
        command = [sys.executable, __file__, "_ccdproc", str(night), str(out), str(args.memory_limit_bytes)]
        runs.append(run_measured("ccdproc", [*command, json.dumps(sigmas)], log=folder / "ccdproc.log"))
        masters["ccdproc"] = {k: out / f"{k}.fits" for k in ("bias", "dark", "flat")}
    if siril:
        from apcal.demo.truth import load_truth

        work = folder / "siril"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        kinds = siril_inputs(load_truth(night).files, work)
        script = siril_script(work, siril_version(siril), kinds, sigmas)
        runs.append(
            run_measured("siril", [siril, "-d", str(work), "-s", str(script)], log=folder / "siril.log")
        )
        masters["siril"] = {k: work / f"master_{k}.fit" for k in kinds}
    return runs


def print_summary(rounds: list[list[Measured]], args: argparse.Namespace) -> dict[str, Measured]:
    """Every round, the medians, and the ratios (each round's, then the medians')."""
    print()
    print("every round (wall s, peak RSS MiB of each tool's process):")
    print_rounds_table(rounds)
    runs = summarize(rounds)
    print()
    print(f"{'tool':8s} {'wall s':>8s} {'peak RSS MiB':>13s}  notes")
    for m in runs:
        notes = m.detail if m.ok else "FAILED: " + m.detail
        print(f"{m.tool:8s} {m.seconds:8.2f} {m.peak_rss / (1 << 20):13.0f}  {notes}")
    by_tool = {m.tool: m for m in runs if m.ok}
    apcal = by_tool.get("apcal")
    if not apcal:
        return by_tool
    print()
    print(f"apcal peak RSS / memory_limit = {apcal.peak_rss / args.memory_limit_bytes:.2f} (target < 1.2)")
    if "siril" in by_tool:
        s, target = by_tool["siril"], WALL_TARGET[args.night]
        print(
            f"apcal / siril wall time = {apcal.seconds / s.seconds:.2f} (target <= {target})"
            f"{ratio_range(rounds, 'apcal', 'siril')}; "
            f"peak memory apcal / siril = {apcal.peak_rss / s.peak_rss:.2f} (target <= 1)"
        )
        each = round_ratios(rounds, "apcal", "siril")
        met = sum(wall <= target and rss <= 1 for wall, rss in each)
        listed = "; ".join(f"{wall:.2f} x time, {rss:.2f} x RSS" for wall, rss in each)
        print(f"apcal / siril per round: {listed} -> both targets met in {met} of {len(each)} rounds")
    if "ccdproc" in by_tool:
        c = by_tool["ccdproc"]
        print(
            f"ccdproc / apcal wall time = {c.seconds / apcal.seconds:.1f}x (target >= 10)"
            f"{ratio_range(rounds, 'ccdproc', 'apcal')}; "
            f"peak memory apcal / ccdproc = {apcal.peak_rss / c.peak_rss:.2f}"
        )
    return by_tool


def print_profile(folder: Path) -> None:
    """The head of apcal's cProfile listing (cumulative time) from its log."""
    lines = (folder / "apcal.log").read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if "function calls" in line), None)
    if start is None:
        return
    print()
    print(f"where apcal's time went (cProfile, cumulative; all of it in {folder / 'apcal.log'},")
    print(f"the profile in {folder / 'apcal.pstats'}: python -m pstats, or snakeviz):")
    print("\n".join(lines[start : start + 34]))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, help="work folder (default: a temp dir)")
    parser.add_argument(
        "--night", choices=sorted(NIGHTS), default="small", help="which night (default small)"
    )
    parser.add_argument("--large", action="store_true", help="the same as --night large")
    parser.add_argument(
        "--scaling", action="store_true", help="apcal (1 GiB) and Siril on 25/50/100 IMX571 frames"
    )
    parser.add_argument("--cache", type=Path, help="where generated nights are kept (default: FOLDER)")
    parser.add_argument("--frames", type=int, help="frames per group of the small night (default 20)")
    parser.add_argument("--rows", type=int, help="rows of the small night's frames (default 1500)")
    parser.add_argument("--cols", type=int, help="columns of the small night's frames (default 2000)")
    parser.add_argument("--memory-limit", default="1G", help="apcal's engine.memory_limit (1G, 512M, bytes)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--ccdproc", dest="ccdproc", action="store_true", default=None, help="run ccdproc")
    parser.add_argument("--no-ccdproc", dest="ccdproc", action="store_false")
    parser.add_argument("--no-siril", action="store_true")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile apcal's run and print where time goes"
    )
    parser.add_argument(
        "--cli",
        action="store_true",
        help="time apcal as `apcal run recipe.yaml` (lock, state, catalogue, JSON and HTML report too)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds before the rounds (default 1)")
    parser.add_argument(
        "--repeat", type=int, default=1, metavar="N", help="N rounds; medians and every round"
    )
    args = parser.parse_args(argv)
    if args.large:
        args.night = "large"
    args.run_ccdproc = args.ccdproc if args.ccdproc is not None else args.night != "large"
    args.memory_limit_bytes = parse_size(args.memory_limit)
    return args


def night_of(args: argparse.Namespace, folder: Path) -> tuple[NightSpec, Path]:
    spec = NIGHTS[args.night]
    if args.night == "small":
        spec = NightSpec(
            "small", args.rows or spec.rows, args.cols or spec.cols, *(3 * [args.frames or spec.n_bias])
        )
        # The small night stays in FOLDER/night, where earlier versions of this script kept it.
        night = folder / "night"
        if (night / "truth" / "truth.json").is_file():
            print(f"reusing the night in {night}")
            return spec, night
        generated = ensure_night(folder, spec)
        shutil.rmtree(night, ignore_errors=True)
        generated.rename(night)
        return spec, night
    return spec, ensure_night(args.cache or folder, spec)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_apcal":
        from apcal.cli.process_exit import before_exit

        child_apcal(Path(argv[1]), Path(argv[2]), json.loads(argv[3]))
        return before_exit(0)  # the process then ends as the apcal console script's does
    if argv and argv[0] == "_ccdproc":
        child_ccdproc(Path(argv[1]), Path(argv[2]), int(argv[3]), tuple(json.loads(argv[4])))
        return 0
    args = parse_args(argv)
    temporary = args.folder is None
    folder = Path(tempfile.mkdtemp(prefix="apcal-bench-")) if temporary else args.folder.absolute()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if args.scaling:
            from scaling import run_scaling

            warm_kernels()
            cache = (args.cache or folder).absolute()
            siril = None if args.no_siril else ensure_siril()
            return run_scaling(
                folder,
                cache,
                args.memory_limit_bytes,
                args.repeat,
                Path(__file__),
                args.threads,
                siril=siril,
                warmup=args.warmup,
            )
        return bench_night(folder, args)
    finally:
        if temporary and not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


def warm_kernels() -> None:
    """Compile apcal's kernels into the cache in a child process, untimed, so no round pays for it; and
    its modules' bytecode, which an installed package has (pip compiles it) but a checkout run with
    ``PYTHONDONTWRITEBYTECODE`` (as this project's machines are) would compile in every round: ~0.1 s."""
    started = time.perf_counter()
    compileall.compile_dir(Path(__file__).parent, quiet=2)  # the child's own bench modules too
    code = (
        "import compileall, pathlib, apcal; "
        "compileall.compile_dir(pathlib.Path(apcal.__file__).parent, quiet=2); "
        "from apcal.engines.native.warmup import ensure_compiled; ensure_compiled()"
    )
    subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL)
    print(f"numba cache and bytecode warm ({time.perf_counter() - started:.1f} s, not timed)", flush=True)


def _round_line(runs: list[Measured]) -> str:
    return ", ".join(
        f"{m.tool} {m.seconds:.2f} s {m.peak_rss / (1 << 20):.0f} MiB" if m.ok else f"{m.tool} FAILED"
        for m in runs
    )


def bench_night(folder: Path, args: argparse.Namespace) -> int:
    warm_kernels()
    spec, night = night_of(args, folder)
    read_into_page_cache(night)
    mib = args.memory_limit_bytes / (1 << 20)
    print(f"night: {spec.describe()} in {night}; apcal memory_limit {mib:.0f} MiB, {os.cpu_count()} cores")
    masters: dict[str, dict[str, Path]] = {}
    siril = None if args.no_siril else ensure_siril()
    # Untimed rounds first: a tool's first run after the machine did other work reads its libraries
    # (and apcal its compiled kernels) back from disk; apcal's first round took 5.1-5.4 s against 3.6-4.3.
    for index in range(args.warmup):
        warm = run_round(folder, night, args, siril, {})
        print(f"warm-up round {index + 1} (not counted): {_round_line(warm)}", flush=True)
    rounds: list[list[Measured]] = []
    for index in range(max(1, args.repeat)):
        rounds.append(run_round(folder, night, args, siril, masters))
        print(f"round {index + 1}: {_round_line(rounds[-1])}", flush=True)
    by_tool = print_summary(rounds, args)
    if "apcal" in by_tool:
        print()
        print("agreement (RMS difference / apcal master's noise, interior pixels):")
        built = {t: p for t, p in masters.items() if t in by_tool}
        for line in [*agreement(night, built), *bias_noise_lines(night, built)]:
            print("  " + line)
        if spec.n_flats:
            print("\n".join(flat_scaling_lines(night, folder / "dark_scaling", built)))
    if args.profile:
        print_profile(folder)
    return 0 if all(m.ok for r in rounds for m in r) else 1


if __name__ == "__main__":
    sys.exit(main())
