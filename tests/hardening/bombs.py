"""Makers of hostile files for the bomb tests: compressed XISF written by hand, and recipes that expand."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import numpy as np

from apcal.io.xisf import _keyword_xml
from apcal.vocabulary import Keyword


def compressed_xisf(
    path: Path,
    data: np.ndarray,
    keywords: list[Keyword],
    *,
    shuffle: bool = True,
    stream: bytes | None = None,
    declared: int | None = None,
    geometry: str | None = None,
) -> None:
    """A monolithic XISF of uint16 ``data`` (rows, cols), its block ``zlib`` (or ``zlib+sh``) compressed.

    ``stream`` replaces the compressed block and ``declared`` the inflated size the header states (for
    bombs and lies), ``geometry`` the ``cols:rows:channels`` it claims."""
    raw = np.ascontiguousarray(data, dtype="<u2").tobytes()
    if shuffle:
        raw = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 2).T.tobytes()
    block = zlib.compress(raw, 6) if stream is None else stream
    size = len(data.tobytes()) if declared is None else declared
    codec = f"zlib+sh:{size}:2" if shuffle else f"zlib:{size}"
    rows, cols = data.shape
    offset = 65536
    cards = "\n".join(_keyword_xml(k) for k in keywords)
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<xisf version="1.0" xmlns="http://www.pixinsight.com/xisf">\n'
        f'<Image geometry="{geometry or f"{cols}:{rows}:1"}" sampleFormat="UInt16" colorSpace="Gray" '
        f'location="attachment:{offset}:{len(block)}" compression="{codec}">\n{cards}\n</Image>\n</xisf>'
    ).encode()
    with open(path, "wb") as file:
        file.write(b"XISF0100" + struct.pack("<I", len(xml)) + b"\0\0\0\0" + xml)
        file.write(b"\0" * (offset - 16 - len(xml)))
        file.write(block)


def zlib_of_zeros(total: int) -> bytes:
    """``total`` zero bytes, zlib-compressed without holding them in memory."""
    packer = zlib.compressobj(9)
    chunk = bytes(16 * 1024 * 1024)
    parts = []
    left = total
    while left:
        n = min(left, len(chunk))
        parts.append(packer.compress(chunk[:n]))
        left -= n
    parts.append(packer.flush())
    return b"".join(parts)


def run_measured(args: list[str], cwd: Path, timeout: float = 300) -> tuple[int, str, int]:
    """``python -m apcal ARGS``: exit code, stderr and the child's own peak resident memory in bytes
    (``wait4`` reports that child's usage alone)."""
    err_path = cwd / ".stderr.txt"
    with open(err_path, "w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "apcal", *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=err
        )
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = err_path.read_text(errors="backslashreplace")
    err_path.unlink()
    return process.returncode, stderr, usage.ru_maxrss * 1024


BILLION_LAUGHS = (
    "apcal: 1\nname: lol\n"
    + "".join(
        f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" if i else 'l0: &l0 ["lol", "lol", "lol"]\n'
        for i in range(10)
    )
    + "inputs: [{path: frames}]\noutput: {dir: out}\n"
)
