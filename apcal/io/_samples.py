"""16-bit stored samples to normalized float32 in one compiled pass (the readers' hot loop).

Cameras store 16-bit integers, and a master's integration reads every sample of every frame once,
in a reader thread beside the kernel's threads: on a 2-core machine, whatever the conversion costs
is taken from the kernel. numpy needs three passes over the output (convert, add the offset, divide
by the span: ~0.9-1.1 ns per sample); this loop does the same float32 operations in one pass
(~0.35 ns), so the numbers are the same to the bit (tests compare every 16-bit value). Big-endian
FITS data are byte-swapped here, in the loop: numba takes native byte order only.

Imported only when pixels are read (:meth:`apcal.io.base.SampleEncoding.normalize`): header reads
(``apcal plan``) never load numba.
"""

from __future__ import annotations

from apcal.jit import configure_numba

configure_numba()  # before numba is imported: the cache folder and vector width

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402


@njit(cache=True, nogil=True)
def _normalize16(raw, out, swap, signed, scale, shift, span):
    """out[i] = ((x * scale) + shift) / span in float32, x the stored 16-bit integer raw[i] (byte-swapped
    when ``swap``, two's complement when ``signed``); each operation only when it changes the value,
    as :meth:`SampleEncoding.normalize` does."""
    for i in range(raw.size):
        u = raw[i]
        if swap:
            u = np.uint16((u >> 8) | ((u & 0xFF) << 8))
        v = np.float32(np.int16(u)) if signed else np.float32(u)
        if scale != 1:
            v = v * scale
        if shift != 0:
            v = v + shift
        if span != 1:
            v = v / span
        out[i] = v


def is_16bit(raw: np.ndarray, out: np.ndarray) -> bool:
    """Whether :func:`normalize_16bit` takes ``raw`` into ``out``: 16-bit integers of either byte
    order, both arrays contiguous and of one size."""
    return (
        raw.dtype.kind in "iu"
        and raw.dtype.itemsize == 2
        and raw.size == out.size
        and raw.flags.c_contiguous
        and out.flags.c_contiguous
        and out.dtype == np.float32
    )


def normalize_16bit(raw: np.ndarray, out: np.ndarray, scale: float, shift: float, span: float) -> None:
    """Write ``((raw * scale) + shift) / span`` into ``out`` in float32 (see :func:`is_16bit`);
    ``scale``, ``shift`` and ``span`` are rounded to float32, as numpy's in-place float32 operations
    round them."""
    _normalize16(
        raw.reshape(-1).view(np.uint16),
        out.reshape(-1),
        not raw.dtype.isnative,
        raw.dtype.kind == "i",
        np.float32(scale),
        np.float32(shift),
        np.float32(span),
    )
