"""An external program's output, kept within bounds: the head and the tail, never a gigabyte in the log.

A PixInsight that loops printing (a script error in a loop, a verbose module) once left a 1 GB run log;
Siril prints a progress line per frame. What a program prints is copied into the log as it comes, up to
:data:`HEAD_BYTES`; after that only the last :data:`TAIL_BYTES` are kept, and written after a line
saying how much was left out (and whose output it was). Files a program writes (PixInsight's console
log, the script's status lines) are read the same way.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import IO

HEAD_BYTES = 1024 * 1024
TAIL_BYTES = 1024 * 1024
_CHUNK = 64 * 1024


def _omitted(count: int, label: str) -> bytes:
    return f"\n[... {count} bytes of {label} output left out ...]\n".encode()


def copy_capped(
    source: IO[bytes], dest: IO[bytes], label: str, head: int = HEAD_BYTES, tail: int = TAIL_BYTES
) -> None:
    """Copy ``source`` to ``dest`` until end of file, keeping only its first ``head`` and last ``tail``
    bytes when it is longer than both (``label`` names the program in the line about the cut)."""
    written = 0
    kept = bytearray()
    dropped = 0
    while chunk := source.read(_CHUNK):
        if written < head:
            part = chunk[: head - written]
            dest.write(part)
            written += len(part)
            chunk = chunk[len(part) :]
        if chunk:
            kept += chunk
            if len(kept) > tail:
                dropped += len(kept) - tail
                del kept[: len(kept) - tail]
    if dropped:
        dest.write(_omitted(dropped, label))
    dest.write(bytes(kept))


def start_copier(source: IO[bytes], dest: IO[bytes], label: str) -> threading.Thread:
    """:func:`copy_capped` in a daemon thread (join it once the process has ended)."""
    thread = threading.Thread(
        target=copy_capped, args=(source, dest, label), daemon=True, name="apcal-engine-output"
    )
    thread.start()
    return thread


def read_capped(path: Path, label: str, head: int = HEAD_BYTES, tail: int = TAIL_BYTES) -> bytes:
    """The bytes of ``path``, or its first ``head`` and last ``tail`` with a note between when longer."""
    with open(path, "rb") as file:
        size = file.seek(0, 2)
        file.seek(0)
        if size <= head + tail:
            return file.read()
        first = file.read(head)
        file.seek(size - tail)
        return first + _omitted(size - head - tail, label) + file.read()
