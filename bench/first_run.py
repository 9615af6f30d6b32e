"""A newcomer's first run: the README's install and ``apcal demo`` in a fresh clone with a fresh HOME.

    python bench/first_run.py DIR [--repo PATH]

Clones the repository (default: the one holding this script, at its HEAD) into DIR/clone, makes
DIR/home the HOME of every command (empty caches: pip's, matplotlib's, apcal's compiled kernels), runs
the README's first command in two timed steps (``python3 -m venv .venv && pip install -e .``, then
``apcal demo``) and prints the demo's wall time against issue 19's 30 s, its peak RSS, and whether the
console said what it was compiling. DIR must not exist yet or be empty (not a test).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from measure import run_measured

TARGET_SECONDS = 30.0
ANNOUNCED = "compiling the native engine, once per install"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="an empty or new folder for the clone and its HOME")
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    folder = args.folder.absolute()
    if folder.exists() and any(folder.iterdir()):
        print(f"{folder} is not empty: pass a new folder (a first run needs empty caches)")
        return 2
    clone, home = folder / "clone", folder / "home"
    home.mkdir(parents=True)
    subprocess.run(["git", "clone", "--quiet", str(args.repo), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "NUMBA_", "MPL", "VIRTUAL_ENV"))}
    env["HOME"] = str(home)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", ".venv"], cwd=clone, env=env, check=True)
    pip = [str(clone / ".venv/bin/pip"), "install", "-q", "-e", "."]
    subprocess.run(pip, cwd=clone, env=env, check=True, stderr=subprocess.DEVNULL)
    install = time.perf_counter() - start
    log = folder / "demo.log"
    os.environ.clear()
    os.environ.update(env)  # run_measured's child inherits this environment
    demo = run_measured("apcal demo", [str(clone / ".venv/bin/apcal"), "demo"], cwd=clone, log=log)
    said = ANNOUNCED in log.read_text()
    print(f"install (venv + pip install -e .): {install:.1f} s")
    verdict = "met" if demo.ok and demo.seconds <= TARGET_SECONDS else "NOT met"
    print(f"apcal demo: {demo.seconds:.1f} s wall (target <= {TARGET_SECONDS:.0f} s: {verdict}), ", end="")
    print(f"peak RSS {demo.peak_rss / (1 << 20):.0f} MiB, exit {'0' if demo.ok else demo.detail}")
    print(f"console said what it was compiling: {'yes' if said else 'NO'} (the whole output: {log})")
    return 0 if demo.ok and said else 1


if __name__ == "__main__":
    sys.exit(main())
