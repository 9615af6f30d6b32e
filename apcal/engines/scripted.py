"""What the engines that run an external program on a rendered script share: writing the script,
appending to the run log, reading back what the program wrote, checking each master it claims to have
built, and showing the command as the user would type it.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path

from apcal.engines.capture import read_capped
from apcal.errors import FrameError
from apcal.io.temporary_names import script_temporary


def master_problem(path: Path) -> str | None:
    """Why ``path`` is not a usable master (None when its header reads and its pixels are all there)."""
    if not path.is_file():
        return f"{path} was not written"
    from apcal.io.base import truncation
    from apcal.io.image import read_header  # here: keeps numpy out of `apcal --help`

    try:
        cut = truncation(path, read_header(path))
    except (FrameError, OSError) as error:
        return f"{path} cannot be read: {error}"
    return cut


def write_script(path: Path, text: str) -> None:
    """Write ``text`` (ASCII only: both renderers escape everything else) to ``path`` atomically."""
    temporary = script_temporary(path)
    temporary.write_text(text, encoding="ascii")
    os.replace(temporary, path)


def append_log(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as log:
        log.write(text)


def collect(path: Path, label: str) -> str:
    """The text of a temporary file the program wrote (empty if it did not), removing the file."""
    try:
        text = read_capped(path, label).decode("utf-8", errors="replace")  # a runaway program: head, tail
    except FileNotFoundError:
        return ""
    path.unlink(missing_ok=True)
    return text


def command_line(command: Sequence[str]) -> str:
    """The command as the user would type it in their shell."""
    return subprocess.list2cmdline(list(command)) if os.name == "nt" else shlex.join(command)
