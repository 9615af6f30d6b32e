"""Run a tool in a child process and measure it: wall time and the child's own peak RSS (not a test).

Peak memory is the child's ``ru_maxrss`` as ``wait4`` returns it for that one child: exact (the kernel's
high-water mark, not a sampled figure) and not mixed with any other child's. Rounds of several tools
are summarized by medians, with the per-round ratios listed, because a shared machine moves every
tool's wall time by 10-20 % from one minute to the next while the ratios within a round move less.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Measured:
    tool: str
    seconds: float
    peak_rss: int  # bytes
    ok: bool
    detail: str = ""
    cpu: float = 0.0  # user + system seconds of the child (and of the children it waited for)


def run_measured(tool: str, command: list[str], cwd: Path | None = None, log: Path | None = None) -> Measured:
    """Run ``command``; wall time and the child's peak RSS (ru_maxrss from wait4, in KiB on Linux).

    The file system's dirty pages are flushed first, untimed: a tool that writes without syncing (Siril's
    masters, 90 MB on the IMX294 night, and ccdproc's, 200 MB; apcal fsyncs its own) would otherwise
    leave its writeback to run during the next tool's timed run."""
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115
    os.sync()
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
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(tool, seconds, usage.ru_maxrss * 1024, proc.returncode == 0, detail, cpu)


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


def round_ratios(rounds: list[list[Measured]], numerator: str, denominator: str) -> list[tuple[float, float]]:
    """Per round, (wall time ratio, peak RSS ratio) of ``numerator`` over ``denominator`` where both ran."""
    ratios = []
    for r in rounds:
        by_tool = {m.tool: m for m in r if m.ok}
        if numerator in by_tool and denominator in by_tool:
            a, b = by_tool[numerator], by_tool[denominator]
            ratios.append((a.seconds / b.seconds, a.peak_rss / max(b.peak_rss, 1)))
    return ratios


def ratio_range(rounds: list[list[Measured]], numerator: str, denominator: str) -> str:
    """Every round's numerator/denominator wall-time ratio, or '' for one round."""
    ratios = [wall for wall, _ in round_ratios(rounds, numerator, denominator)]
    if len(ratios) < 2:
        return ""
    listed = ", ".join(f"{r:.2f}" for r in ratios)
    return f" (per round {listed}; range {min(ratios):.2f}-{max(ratios):.2f})"


def parse_size(text: str) -> int:
    """Bytes from '1G', '512M', '1GiB' or a plain number."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def print_rounds_table(rounds: list[list[Measured]]) -> None:
    """Every round's wall time and peak RSS per tool, one line per round (all rounds, not only medians)."""
    tools = list(dict.fromkeys(m.tool for r in rounds for m in r))
    print(f"{'round':6s} " + " ".join(f"{t + ' s':>11s} {t + ' MiB':>12s}" for t in tools))
    for index, r in enumerate(rounds, 1):
        by_tool = {m.tool: m for m in r}
        cells = []
        for t in tools:
            m = by_tool.get(t)
            if m is None or not m.ok:
                cells.append(f"{'FAILED' if m else '-':>11s} {'':>12s}")
            else:
                cells.append(f"{m.seconds:11.2f} {m.peak_rss / (1 << 20):12.0f}")
        print(f"{index:<6d} " + " ".join(cells))
