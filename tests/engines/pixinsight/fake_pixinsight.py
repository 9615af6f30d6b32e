#!/usr/bin/env python3
"""A stand-in PixInsight executable for the engine's tests (the conftest wraps it in an executable file).

It records its whole argv (the executable first) to ``$APCAL_FAKE_PI_DIR/argv.json`` and "runs" the
``-r=`` script with the PJSR stand-in under Node (``$APCAL_FAKE_PI_NODE`` ``$APCAL_FAKE_PI_STANDIN``),
so the masters the script names are written. ``$APCAL_FAKE_PI_MODE`` picks a misbehaviour:

* ``ok`` (default): run the script, exit with Node's code;
* ``crash``: run nothing, print a message, exit 3;
* ``hang``: start a child that sleeps (its pid in ``child.pid``), then sleep: only a process-group kill
  ends both;
* ``lost-output``: run the script, then delete every master it moved into place, exit 0;
* ``corrupt-output``: run the script, then overwrite every master with bytes no reader accepts;
* ``silent``: run nothing, exit 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    workdir = Path(os.environ["APCAL_FAKE_PI_DIR"])
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "argv.json").write_text(json.dumps(argv), encoding="utf-8")
    mode = os.environ.get("APCAL_FAKE_PI_MODE", "ok")
    print(f"fake PixInsight: mode {mode}", flush=True)

    if mode == "crash":
        print("fake PixInsight: segmentation fault (simulated)", file=sys.stderr, flush=True)
        return 3
    if mode == "silent":
        return 0
    if mode == "hang":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        (workdir / "child.pid").write_text(str(child.pid), encoding="utf-8")
        time.sleep(3600)
        return 0

    scripts = [arg.split("=", 1)[1] for arg in argv if arg.startswith("-r=")]
    if len(scripts) != 1:
        print(f"fake PixInsight: expected one -r=<script>, got {argv}", file=sys.stderr)
        return 2
    records = workdir / "records.json"
    node = subprocess.run(
        [os.environ["APCAL_FAKE_PI_NODE"], os.environ["APCAL_FAKE_PI_STANDIN"], scripts[0], str(records)],
        check=False,
    )
    if mode in ("lost-output", "corrupt-output"):
        for _, target in json.loads(records.read_text(encoding="utf-8"))["moves"]:
            if mode == "lost-output":
                Path(target).unlink()
            else:
                Path(target).write_bytes(b"not an image")
        return 0
    return node.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))
