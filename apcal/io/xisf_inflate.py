"""Inflate a compressed XISF data block to a temporary file, in bounded chunks, never whole in memory.

A zlib block of a few megabytes can inflate to gigabytes: inflating it with one ``zlib.decompress`` call
(what the reader did) drove a 5 MB file to 7.1 GB of memory, whatever ``engine.memory_limit`` said. So:

* the size the header declares for the inflated data must equal what the image's geometry needs,
  checked before anything is inflated (and the geometry itself is bounded by
  ``headers.max_image_megapixels`` when frames are discovered);
* the block is inflated :data:`CHUNK` bytes at a time into an unnamed temporary file, and inflating
  stops with an error as soon as it would exceed the declared size;
* byte shuffling (``zlib+sh``) is undone chunk by chunk from that file into a second one.

The reader then reads rows from the inflated file as from an uncompressed one, so memory stays within
what the engine asks for, plus one chunk.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from apcal.errors import FrameError

CHUNK = 8 * 1024 * 1024


def inflate_to_file(path: Path, source: BinaryIO, compressed: int, inflated: int, item: int | None) -> Path:
    """Inflate ``compressed`` bytes read from ``source`` (positioned at the block) into a new temporary
    file holding exactly ``inflated`` bytes, unshuffled when ``item`` is given; returns its path (the
    caller removes it). FrameError naming ``path`` for corrupt data or a size other than declared."""
    shuffled = _temporary()
    try:
        _inflate(path, source, compressed, inflated, shuffled)
        if not item or item <= 1:
            return shuffled
        plain = _temporary()
        try:
            _unshuffle(shuffled, plain, inflated, item)
        except BaseException:
            plain.unlink(missing_ok=True)
            raise
        shuffled.unlink(missing_ok=True)
        return plain
    except BaseException:
        shuffled.unlink(missing_ok=True)
        raise


def _temporary() -> Path:
    fd, name = tempfile.mkstemp(prefix="apcal-xisf-", suffix=".raw")
    os.close(fd)
    return Path(name)


def _inflate(path: Path, source: BinaryIO, compressed: int, inflated: int, out_path: Path) -> None:
    inflater = zlib.decompressobj()
    written = 0
    left = compressed
    with open(out_path, "wb") as out:
        pending = b""
        while left > 0 or pending:
            if not pending:
                pending = source.read(min(CHUNK, left))
                if not pending:
                    raise FrameError(f"{path}: truncated XISF data block")
                left -= len(pending)
            try:
                # never more than declared plus one byte: a bomb is caught after writing `inflated` bytes
                piece = inflater.decompress(pending, min(CHUNK, inflated - written + 1))
            except zlib.error as exc:
                raise FrameError(f"{path}: corrupt compressed XISF data ({exc})") from exc
            pending = inflater.unconsumed_tail
            written += len(piece)
            if written > inflated:
                raise FrameError(f"{path}: XISF data inflates to more than the {inflated} bytes declared")
            out.write(piece)
            if inflater.eof:
                break
        if written != inflated:
            raise FrameError(f"{path}: XISF data inflates to {written} bytes, header says {inflated}")


def _unshuffle(source: Path, target: Path, size: int, item: int) -> None:
    """Undo XISF byte shuffling chunk by chunk: byte k of every item was stored in plane k."""
    count = size // item
    per_chunk = max(1, CHUNK // item)
    with open(source, "rb") as src, open(target, "wb") as out:
        for first in range(0, count, per_chunk):
            n = min(per_chunk, count - first)
            planes = np.empty((item, n), dtype=np.uint8)
            for k in range(item):
                src.seek(k * count + first)
                planes[k] = np.frombuffer(src.read(n), dtype=np.uint8)
            out.write(planes.T.tobytes())
        src.seek(count * item)
        out.write(src.read())  # bytes after the last whole item are stored as they are


def remove(path: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(OSError):
            path.unlink()
