"""release_free_memory gives freed heap pages back to the system (glibc), in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

import pytest

from apcal.engines.native.memory import _malloc_trim, release_free_memory

PROGRAM = """
from apcal.engines.native.memory import release_free_memory

def rss_mb():
    return int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) // 1024

# ~190 MB in 64 KiB blocks (below glibc's mmap threshold: they live in the heap), every page touched;
# keep one block in 16 so the freed ones are holes the heap's automatic top trimming cannot return.
blocks = [bytearray(64 * 1024) for _ in range(3000)]
for block in blocks:
    block[::4096] = b'x' * len(block[::4096])
kept = blocks[::16]
del blocks
before = rss_mb()
release_free_memory()
print(before, rss_mb())
"""


@pytest.mark.skipif(_malloc_trim() is None, reason="needs glibc's malloc_trim (Linux)")
def test_freed_heap_pages_go_back_to_the_system() -> None:
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True)
    before, after = map(int, out.stdout.split())
    assert before - after > 100, (before, after)


def test_without_glibc_it_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    _malloc_trim.cache_clear()
    try:
        assert _malloc_trim() is None
        release_free_memory()  # no error
    finally:
        _malloc_trim.cache_clear()
