"""What every image format shares: header info, the row-block reader, planar files, sample encodings.

The format modules (:mod:`apcal.io.fits`, :mod:`apcal.io.xisf`) build on this module, and the
dispatcher :mod:`apcal.io.image` picks one of them by the file's extension. The conventions below hold
for every format.
Format-neutral image I/O: read headers, read pixels in row blocks, write float32 masters.

The format follows the file name's extension, case-insensitively: ``.fit``, ``.fits`` and ``.fts`` are
FITS (:mod:`apcal.io.fits`), ``.xisf`` is XISF (:mod:`apcal.io.xisf`); anything else is a
:class:`~apcal.errors.FrameError`.

Pixel values follow PixInsight's normalized convention, whatever the file stores:

* unsigned integers (FITS ``BITPIX`` 8, or 16/32/64 with the ``BZERO = 2**(bits-1)`` offset; XISF
  ``UInt8/16/32``) are divided by ``2**bits - 1``: a 16-bit ADU of 65535 reads 1.0, 0 reads 0.0;
* signed integers without the offset (FITS ``BITPIX`` 16/32 with ``BZERO = 0``) are read as PixInsight
  does by default (its "signed integer images store physical pixel data" option off): the whole range of
  the storage type maps onto [0, 1], so -32768 reads 0.0 and 32767 reads 1.0 — the same numbers as the
  unsigned case, since both map the stored 16 bits alike;
* floating point data are returned as stored (FITS: after ``BZERO``/``BSCALE``; XISF: rescaled from its
  ``bounds`` attribute when that is not ``0:1``), except that FITS float data clearly in ADU are divided
  by 65535 (:mod:`apcal.io.adu`), and ±infinity becomes NaN: every consumer (statistics, screening,
  calibration, integration) treats NaN as a missing sample, so an infinite sample is missing too.
  Only float data can hold infinities, so integer data never pay for the check.

Rows are in storage order in both formats: numpy row 0 is the first row in the file.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from io import BufferedReader
from pathlib import Path

import numpy as np

from apcal.errors import FrameError
from apcal.vocabulary import ImageFormat, Keyword

FITS_SUFFIXES = frozenset({".fit", ".fits", ".fts"})
XISF_SUFFIXES = frozenset({".xisf"})


# Cards the writers never copy from a source frame: they describe the source's data layout (the
# writer produces the master's own), BLANK is invalid for float data, and the source's checksums
# would be wrong for the master.
STRUCTURAL = frozenset(
    {
        "SIMPLE",
        "BITPIX",
        "NAXIS",
        "EXTEND",
        "BZERO",
        "BSCALE",
        "END",
        "BLANK",
        "XTENSION",
        "PCOUNT",
        "GCOUNT",
        "CHECKSUM",
        "DATASUM",
        "ZIMAGE",
        "ZBITPIX",
        "ZNAXIS",
        "ZCMPTYPE",
        "ZQUANTIZ",
        "ZDITHER0",
    }
)
_STRUCTURAL_RE = re.compile(r"^(NAXIS|ZNAXIS|ZTILE|ZNAME|ZVAL)\d+$")


def is_structural(name: str) -> bool:
    """True for cards describing the data layout, which a master's writer produces itself."""
    return name in STRUCTURAL or bool(_STRUCTURAL_RE.match(name))


@dataclass(frozen=True)
class HeaderInfo:
    """What a file's header says, without its pixels.

    ``keywords`` are in file order with upper-case names and typed values (strings without FITS padding,
    int, float, bool, or None for an undefined value); COMMENT and HISTORY cards are kept as
    ``Keyword("COMMENT"|"HISTORY", text, "")``. ``shape`` is in numpy order: ``(rows, cols)`` for one
    channel, ``(channels, rows, cols)`` otherwise. ``sample_format`` is the stored sample type after the
    FITS ``BZERO`` convention (``BITPIX 16`` with ``BZERO 32768`` is ``"uint16"``). ``data_end`` is the
    byte offset where the image's data end (FITS: data start + pixels; XISF: the attachment's position +
    size), None when the header does not say (tile-compressed FITS, inline or embedded XISF data).
    """

    keywords: tuple[Keyword, ...]
    shape: tuple[int, ...]
    sample_format: str
    data_end: int | None = None


def image_format(path: Path) -> ImageFormat:
    """``"fits"`` or ``"xisf"`` from the extension; FrameError for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix in FITS_SUFFIXES:
        return "fits"
    if suffix in XISF_SUFFIXES:
        return "xisf"
    kind = suffix or "(no extension)"
    raise FrameError(f"{path}: unsupported file type {kind!r} (expected .fit, .fits, .fts or .xisf)")


def truncation(path: Path, info: HeaderInfo) -> str | None:
    """Why the file at ``path`` cannot hold the data its header ``info`` declares (None when it can).

    A file cut short by a full disk or an interrupted copy has a readable header and missing pixels;
    this finds it from the file's size alone, without reading a pixel.
    """
    if info.data_end is None:
        return None
    size = Path(path).stat().st_size
    if size >= info.data_end:
        return None
    kind = "FITS data unit" if image_format(path) == "fits" else "XISF data block"
    return f"{path}: truncated {kind} ({size} bytes, the image needs {info.data_end})"


# --- shared by the format readers -------------------------------------------------------------------


@dataclass(frozen=True)
class SampleEncoding:
    """How stored samples become normalized float32: ``((stored * scale + offset) - lo) / (hi - lo)``.

    ``dtype`` is the stored numpy dtype with its byte order. FITS integers use ``offset = 2**(bits-1)``
    (their ``BZERO`` offset, or PixInsight's mapping of signed data), ``lo = 0``, ``hi = 2**bits - 1``.
    """

    dtype: np.dtype
    scale: float = 1.0
    offset: float = 0.0
    lo: float = 0.0
    hi: float = 1.0

    def normalize(self, raw: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Normalized float32 copy of ``raw`` (any shape), written into ``out`` when given (a float32
        array of ``raw``'s shape; the same numbers either way) and returned."""
        if raw.dtype.kind in "iu" and raw.dtype.itemsize == 2:  # cameras' samples: one compiled pass
            from apcal.io._samples import is_16bit, normalize_16bit  # numba: only when pixels are read

            target = np.empty(raw.shape, np.float32) if out is None else out
            if is_16bit(raw, target):
                normalize_16bit(raw, target, self.scale, self.offset - self.lo, self.hi - self.lo)
                return target
        # float32 holds every integer up to 2**24 exactly, so 8/16-bit data are converted in float32;
        # wider integers and float64 go through float64 before the final rounding to float32.
        wide = (raw.dtype.kind in "iu" and raw.dtype.itemsize > 2) or raw.dtype.itemsize > 4
        if out is not None and not wide:
            np.copyto(out, raw, casting="unsafe")
            work = out
        else:
            work = raw.astype(np.float64 if wide else np.float32)
        if self.scale != 1.0:
            work *= work.dtype.type(self.scale)
        shift = self.offset - self.lo
        if shift:
            work += work.dtype.type(shift)
        span = self.hi - self.lo
        if span != 1.0:
            work /= work.dtype.type(span)
        if out is not None:
            if work is not out:
                np.copyto(out, work, casting="unsafe")
            result = out
        else:
            result = work if work.dtype == np.float32 else work.astype(np.float32)
        if raw.dtype.kind == "f":
            infinite_to_nan(result)
        return result


def infinite_to_nan(values: np.ndarray) -> None:
    """Turn ±infinity into NaN in place, so it counts as a missing sample (see the module docstring).

    Non-finite samples are rare: the minimum and the maximum (which are NaN or infinite whenever a
    sample is) tell whether there are any, and only then the infinities are located and replaced.
    Measured: a 3 Mpx float32 FITS frame reads from the page cache in 4.8 ms instead of 3.7 ms
    (+0.36 ms per million samples); 16-bit frames (3.2 ms) never run it.
    """
    if values.size and not (math.isfinite(values.min()) and math.isfinite(values.max())):
        values[np.isinf(values)] = np.nan


class ImageReader:
    """An open image file, read in row blocks as normalized float32; a context manager.

    ``shape`` is in numpy order (see :class:`HeaderInfo`). The file stays open between calls, so a
    stacking driver can hold many readers and read the same rows of each in turn with bounded memory:
    a block costs its float32 result plus, per reader, one reused buffer of stored samples. (Exceptions:
    compressed, inline and interleaved XISF are decoded whole when opened; tile-compressed FITS
    decompresses the tiles covering the block.) Calls on one reader are serialized by a lock.
    Subclasses implement :meth:`_read_block`.
    """

    path: Path
    shape: tuple[int, ...]
    #: The header's keywords, as :func:`read_header` gives them: parsed once, when the file is opened.
    keywords: tuple[Keyword, ...]
    #: True when the file's float samples are in ADU and read divided by 65535 (:mod:`apcal.io.adu`).
    scaled_from_adu: bool = False

    def __init__(self, path: Path, shape: tuple[int, ...], keywords: tuple[Keyword, ...]):
        self.path = path
        self.shape = shape
        self.keywords = keywords
        self._lock = threading.Lock()
        self._closed = False

    @property
    def rows(self) -> int:
        return self.shape[-2]

    @property
    def cols(self) -> int:
        return self.shape[-1]

    @property
    def channels(self) -> int:
        return self.shape[0] if len(self.shape) == 3 else 1

    def read_rows(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """Rows ``start:stop`` as float32: ``(stop-start, cols)`` or ``(channels, stop-start, cols)``.

        With ``out`` (a writable float32 array of that shape, e.g. a slice of a stacking buffer) the
        rows are converted straight into it and ``out`` is returned: no float32 block is allocated, and
        a planar file's stored samples pass through a small reused buffer (:data:`READ_SLAB_BYTES`).
        """
        if not 0 <= start <= stop <= self.rows:
            raise ValueError(f"{self.path}: rows {start}:{stop} outside 0:{self.rows}")
        if self._closed:
            raise ValueError(f"{self.path}: reader is closed")
        if out is not None:
            rows = (stop - start, self.cols)
            expected = rows if len(self.shape) == 2 else (self.channels, *rows)
            if out.shape != expected or out.dtype != np.float32 or not out.flags.writeable:
                raise ValueError(
                    f"{self.path}: out must be a writable float32 array of shape {expected}, "
                    f"not {out.dtype} {out.shape}"
                )
            with self._lock:
                self._read_into(start, stop, out if out.ndim == 3 else out[None])
            return out
        with self._lock:
            block = self._read_block(start, stop)
        return block if len(self.shape) == 3 else block[0]

    def read(self) -> np.ndarray:
        """The whole image, same convention as :meth:`read_rows`."""
        return self.read_rows(0, self.rows)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self) -> ImageReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # A reader dropped without close() must not leak its file handle (ResourceWarning in tests).
        if not getattr(self, "_closed", True):
            self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, shape={self.shape})"

    def _read_block(self, start: int, stop: int) -> np.ndarray:
        """Normalized float32 rows, always 3-D ``(channels, stop-start, cols)``."""
        raise NotImplementedError

    def _read_into(self, start: int, stop: int, out: np.ndarray) -> None:
        """Normalized rows into the float32 ``out`` of shape ``(channels, stop-start, cols)``.

        This default copies :meth:`_read_block`'s result; planar readers convert slab by slab instead.
        """
        out[...] = self._read_block(start, stop)

    def _close(self) -> None:
        raise NotImplementedError


#: Stored samples a planar reader converts at a time in :meth:`PlanarFile.read_into` (and keeps).
READ_SLAB_BYTES = 1 << 20


class PlanarFile:
    """An open file holding one planar image block (channel after channel) at byte ``offset``.

    :meth:`read` reads only the rows asked for, one seek per channel, into a buffer reused from call to
    call: a fresh large allocation per block costs page faults that cut throughput several-fold in
    measurements. The returned array is a view of that buffer, valid until the next call.
    """

    def __init__(self, path: Path, offset: int, shape3: tuple[int, int, int], dtype: np.dtype):
        self.path = path
        self.offset = offset
        self.shape3 = shape3
        self.dtype = dtype
        self._buffer = np.empty(0, dtype=dtype)
        self._file: BufferedReader | None = open(path, "rb")  # noqa: SIM115 - held open across reads

    def read(self, start: int, stop: int) -> np.ndarray:
        """Stored samples of rows ``start:stop``, shape ``(channels, stop-start, cols)``, in ``dtype``."""
        if self._file is None:
            raise ValueError(f"{self.path}: file is closed")
        channels, rows, cols = self.shape3
        count = (stop - start) * cols
        if self._buffer.size < channels * count:
            self._buffer = np.empty(channels * count, dtype=self.dtype)
        out = self._buffer[: channels * count].reshape(channels, stop - start, cols)
        row_bytes = cols * self.dtype.itemsize
        for c in range(channels):
            self._file.seek(self.offset + (c * rows + start) * row_bytes)
            got = self._file.readinto(out[c].reshape(-1).view(np.uint8).data)
            if got != count * self.dtype.itemsize:
                raise FrameError(
                    f"{self.path}: truncated pixel data (rows {start}:{stop} of channel {c} missing)"
                )
        return out

    def read_into(self, start: int, stop: int, out: np.ndarray, encoding: SampleEncoding) -> None:
        """Rows ``start:stop`` normalized by ``encoding`` into the float32 ``out`` ``(channels, rows, cols)``.

        Reads at most :data:`READ_SLAB_BYTES` of stored samples at a time into a reused buffer (one row
        when a row is larger), so a reader keeps that much, not a whole block, between calls.
        """
        if self._file is None:
            raise ValueError(f"{self.path}: file is closed")
        channels, rows, cols = self.shape3
        row_bytes = cols * self.dtype.itemsize
        slab = max(1, READ_SLAB_BYTES // row_bytes)
        if self._buffer.size < min(slab, stop - start) * cols:
            self._buffer = np.empty(min(slab, stop - start) * cols, dtype=self.dtype)
        for c in range(channels):
            for r0 in range(start, stop, slab):
                r1 = min(stop, r0 + slab)
                raw = self._buffer[: (r1 - r0) * cols].reshape(r1 - r0, cols)
                self._file.seek(self.offset + (c * rows + r0) * row_bytes)
                got = self._file.readinto(raw.reshape(-1).view(np.uint8).data)
                if got != raw.nbytes:
                    raise FrameError(
                        f"{self.path}: truncated pixel data (rows {r0}:{r1} of channel {c} missing)"
                    )
                encoding.normalize(raw, out=out[c, r0 - start : r1 - start])

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._buffer = np.empty(0, dtype=self.dtype)


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (astropy's messages span several)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
