"""FITS headers and pixels through astropy, with row-block reads that never load a whole frame.

Which HDU is the image: the primary HDU when it has data, else the first image extension (``IMAGE`` or a
tile-compressed image) — fpack'ed files and some capture programs keep an empty primary. Keywords are
then the extension's, followed by the primary's that the extension does not repeat (the primary
usually carries the observation keywords).

Pixel reads: astropy gives the header and the data offset (``HDUList.fileinfo``); the reader then
seeks to the requested rows and converts only those. ``hdu.data`` is not used because with ``BZERO``
scaled integers (every 16-bit camera frame) astropy materialises the whole scaled frame in memory even
with ``memmap=True``. Tile-compressed images are read through astropy's ``section``, which
decompresses only the tiles that hold the requested rows.

Integer scaling: BSCALE must be 1 and BZERO 0 or 2**(bits-1) (-128 for BITPIX 8: signed bytes); other
integer scalings are rejected with a FrameError rather than guessed at. ``BLANK`` is ignored. Floating
point data get BZERO/BSCALE applied (some MaxIm DL files store float data with BZERO 32768); float data
clearly in ADU are then divided by 65535, decided once per file from a few rows when it is first opened
for pixels (:mod:`apcal.io.adu`, remembered with the header).

astropy warnings on odd headers are captured, never raised: a truncated data unit is reported as a
FrameError when the pixels are opened, and ignored by :func:`read_fits_header`.

Each uncompressed image's header is parsed once per process: a run reads every frame's header to plan,
then opens the same files to stack them, and astropy takes ~2.5 ms per header (0.15 s of a 60-frame
night). What was found (keywords, data offset, encoding; not astropy's Header) is kept by the file's
identity — absolute path, device, inode, size and modification time in nanoseconds — so a file
replaced or rewritten since is parsed again. Up to :data:`_LOCATED_CACHE` files are remembered.
"""

from __future__ import annotations

import math
import re
import unicodedata
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.io.fits.card import Undefined

from apcal.errors import FrameError
from apcal.io.adu import ADU_FULL_SCALE, looks_like_adu, probe_rows
from apcal.io.base import HeaderInfo, ImageReader, PlanarFile, SampleEncoding, is_structural, one_line
from apcal.vocabulary import HeaderValue, Keyword

_STANDARD_NAME = re.compile(r"^[A-Z0-9_-]{1,8}$")
_COMMENTARY = frozenset({"COMMENT", "HISTORY", ""})

_BITPIX_DTYPES = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


# --- reading ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Located:
    """The image HDU of a file: its header, where its data starts, and how to decode it."""

    header: fits.Header | None  # None once remembered (only compressed images need it, never cached)
    keywords: tuple[Keyword, ...]
    index: int
    data_offset: int
    shape3: tuple[int, int, int]  # (channels, rows, cols)
    sample_format: str
    encoding: SampleEncoding
    compressed: bool
    adu: bool | None = None  # float data: read as ADU (/65535)? None until the pixels were probed


#: How many files' located images :func:`_recall` remembers (a few hundred bytes of keywords each).
_LOCATED_CACHE = 4096
FileKey = tuple[str, int, int, int, int]
_located: OrderedDict[FileKey, _Located] = OrderedDict()


def _file_key(path: Path) -> FileKey | None:
    """The file's identity for the header cache; None when it cannot be stat'ed (the parse then
    reports why)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (str(path.absolute()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _recall(key: FileKey | None) -> _Located | None:
    if key is None:
        return None
    found = _located.get(key)
    if found is not None:
        _located.move_to_end(key)
    return found


def _remember(path: Path, key: FileKey | None, located: _Located) -> None:
    """Keep an uncompressed image's location, unless the file changed while it was parsed."""
    if key is None or located.compressed or _file_key(path) != key:
        return
    _located[key] = replace(located, header=None)
    while len(_located) > _LOCATED_CACHE:
        _located.popitem(last=False)


@contextmanager
def _astropy_errors(path: Path) -> Iterator[list[warnings.WarningMessage]]:
    """Turn astropy/OS failures into a one-line FrameError; collect (never raise) astropy's warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield caught
        except FrameError:
            raise
        except FileNotFoundError as exc:
            raise FrameError(f"{path}: file not found") from exc
        except IsADirectoryError as exc:
            raise FrameError(f"{path}: is a folder, not a FITS file") from exc
        except PermissionError as exc:
            raise FrameError(f"{path}: permission denied") from exc
        except (OSError, ValueError, TypeError, KeyError, IndexError, EOFError) as exc:
            reason = one_line(exc)
            if "No SIMPLE card found" in reason:
                reason = "no SIMPLE card at the start"
            raise FrameError(f"{path}: not a readable FITS file ({reason})") from exc


def _open(path: Path) -> fits.HDUList:
    if path.is_file() and path.stat().st_size == 0:
        raise FrameError(f"{path}: empty file (0 bytes)")
    return fits.open(path, memmap=False, lazy_load_hdus=True, do_not_scale_image_data=True)


def _locate(path: Path, hdul: fits.HDUList, caught: list[warnings.WarningMessage]) -> _Located:
    """Find the image HDU in an open HDUList (which stays open for compressed images)."""
    primary = hdul[0]
    if _naxis(primary.header) > 0:
        return _describe(path, hdul, 0, primary.header, ())
    _raise_if_broken_header(path, caught)
    for index, hdu in enumerate(hdul):  # lazily reads headers, seeking over data units
        if index == 0:
            continue
        if isinstance(hdu, fits.ImageHDU | fits.CompImageHDU) and _naxis(hdu.header) > 0:
            return _describe(path, hdul, index, hdu.header, _keywords(primary.header))
    raise FrameError(f"{path}: no image in this FITS file (empty primary HDU and no image extension)")


def _raise_if_broken_header(path: Path, caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        text = str(w.message)
        if "Header size is not multiple of 2880" in text or "Header missing END card" in text:
            raise FrameError(f"{path}: truncated or corrupt FITS header")


def _naxis(header: fits.Header) -> int:
    naxis = header.get("NAXIS", 0)
    if not isinstance(naxis, int) or naxis == 0:
        return 0
    return naxis if all(header.get(f"NAXIS{i}", 0) for i in range(1, naxis + 1)) else 0


def _describe(
    path: Path, hdul: fits.HDUList, index: int, header: fits.Header, inherited: tuple[Keyword, ...]
) -> _Located:
    naxis = header["NAXIS"]
    dims = [int(header[f"NAXIS{i}"]) for i in range(1, naxis + 1)]  # FITS order: cols first
    if naxis == 2:
        shape3 = (1, dims[1], dims[0])
    elif naxis == 3:
        shape3 = (dims[2], dims[1], dims[0])
    else:
        raise FrameError(f"{path}: {naxis}-dimensional FITS data is not an image (need 2 or 3 axes)")
    bitpix = header.get("BITPIX")
    if bitpix not in _BITPIX_DTYPES:
        raise FrameError(f"{path}: invalid BITPIX {bitpix!r}")
    sample_format, encoding = _encoding(path, header, bitpix)
    own = _keywords(header)
    names = {k.name for k in own}
    keywords = own + tuple(k for k in inherited if k.name not in names and not is_structural(k.name))
    compressed = isinstance(hdul[index], fits.CompImageHDU)
    offset = 0 if compressed else int(hdul.fileinfo(index)["datLoc"])
    return _Located(header, keywords, index, offset, shape3, sample_format, encoding, compressed)


def _encoding(path: Path, header: fits.Header, bitpix: int) -> tuple[str, SampleEncoding]:
    dtype = np.dtype(_BITPIX_DTYPES[bitpix])
    bzero = header.get("BZERO", 0)
    bscale = header.get("BSCALE", 1)
    if not isinstance(bzero, int | float) or not isinstance(bscale, int | float):
        raise FrameError(f"{path}: invalid BZERO/BSCALE ({bzero!r}, {bscale!r})")
    if bitpix < 0:
        return f"float{-bitpix}", SampleEncoding(dtype, scale=float(bscale), offset=float(bzero))
    bits = bitpix
    half = 2 ** (bits - 1)
    full = float(2**bits - 1)
    if bscale != 1:
        raise FrameError(f"{path}: unsupported integer scaling BSCALE={bscale} (only 1 is supported)")
    if bits == 8:
        # FITS bytes are unsigned; BZERO -128 marks signed bytes, which map like signed 16-bit data.
        if bzero == 0:
            return "uint8", SampleEncoding(dtype, hi=full)
        if bzero == -128:
            return "int8", SampleEncoding(dtype, hi=full)
    elif bzero == half:
        # The unsigned convention: physical = stored + 2**(bits-1), normalized by 2**bits - 1.
        return f"uint{bits}", SampleEncoding(dtype, offset=float(half), hi=full)
    elif bzero == 0:
        # Signed data: PixInsight's default maps [-2**(bits-1), 2**(bits-1)-1] onto [0, 1] — the same
        # arithmetic on the stored numbers as the unsigned convention.
        return f"int{bits}", SampleEncoding(dtype, offset=float(half), hi=full)
    raise FrameError(f"{path}: unsupported integer scaling BZERO={bzero} for BITPIX {bitpix}")


def _keywords(header: fits.Header) -> tuple[Keyword, ...]:
    return tuple(_keyword(card) for card in header.cards)


def _keyword(card: fits.Card) -> Keyword:
    name = card.keyword.upper()
    if name in _COMMENTARY:
        return Keyword(name, str(card.value), "")
    try:
        value = card.value
        comment = card.comment
    except Exception:  # a card astropy cannot parse: keep its text rather than lose the header
        text = card.image[10:] if card.image[8:10] == "= " else card.image[8:]
        return Keyword(name, text.strip(), "")
    return Keyword(name, _typed(value), str(comment or ""))


def _typed(value: object) -> HeaderValue:
    if isinstance(value, Undefined) or value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, str):
        return value.rstrip()
    return str(value)  # complex values


def read_fits_header(path: Path) -> HeaderInfo:
    """Header of the image HDU (see the module docstring); reads no pixel data."""
    path = Path(path)
    key = _file_key(path)
    located = _recall(key)
    if located is None:
        with _astropy_errors(path) as caught, _open(path) as hdul:
            located = _locate(path, hdul, caught)
            _raise_if_broken_header(path, caught)
        _remember(path, key, located)
    channels, rows, cols = located.shape3
    shape = (rows, cols) if channels == 1 else located.shape3
    data_end = None
    if not located.compressed:
        data_end = located.data_offset + channels * rows * cols * located.encoding.dtype.itemsize
    return HeaderInfo(located.keywords, shape, located.sample_format, data_end)


class FitsReader(ImageReader):
    """Row-block reader of a FITS image; keeps the file open, reads only the rows asked for."""

    def __init__(self, path: Path):
        path = Path(path)
        self._hdul: fits.HDUList | None = None
        self._file: PlanarFile | None = None
        key = _file_key(path)
        located = _recall(key)
        if located is None:
            with _astropy_errors(path) as caught:
                hdul = _open(path)
                try:
                    located = _locate(path, hdul, caught)
                    _raise_if_broken_header(path, caught)
                    if located.compressed:
                        self._hdul = hdul  # astropy decompresses the tiles read_rows asks for
                    else:
                        hdul.close()
                except BaseException:
                    hdul.close()
                    raise
            _remember(path, key, located)
        channels, rows, cols = located.shape3
        super().__init__(path, (rows, cols) if channels == 1 else located.shape3, located.keywords)
        self._located = located
        if not located.compressed:
            needed = located.data_offset + channels * rows * cols * located.encoding.dtype.itemsize
            size = path.stat().st_size
            if size < needed:
                self._closed = True
                raise FrameError(f"{path}: truncated FITS data unit ({size} bytes, the image needs {needed})")
            try:
                self._file = PlanarFile(path, located.data_offset, located.shape3, located.encoding.dtype)
            except OSError as exc:
                self._closed = True
                raise FrameError(f"{path}: cannot open ({one_line(exc)})") from exc
        if located.sample_format.startswith("float") and located.adu is None:
            try:
                located = self._probe_adu(located)
            except BaseException:
                self.close()
                raise
            if not located.compressed and key is not None and key in _located:
                _located[key] = replace(located, header=None)
        self._located = located
        self.scaled_from_adu = bool(located.adu)

    def _probe_adu(self, located: _Located) -> _Located:
        """``located`` with the float data's scale decided (:mod:`apcal.io.adu`) from a few rows read as
        stored; in ADU, the encoding divides by 65535 from now on."""
        rows = probe_rows(located.shape3[1])
        samples = np.concatenate([self._read_block(r, r + 1).reshape(-1) for r in rows])
        if not looks_like_adu(samples):
            return replace(located, adu=False)
        return replace(located, adu=True, encoding=replace(located.encoding, hi=ADU_FULL_SCALE))

    def _read_block(self, start: int, stop: int) -> np.ndarray:
        located = self._located
        if self._hdul is not None:
            return self._read_compressed(start, stop)
        assert self._file is not None
        out = np.empty((located.shape3[0], stop - start, self.cols), dtype=np.float32)
        self._file.read_into(start, stop, out, located.encoding)
        return out

    def _read_into(self, start: int, stop: int, out: np.ndarray) -> None:
        if self._hdul is not None:
            out[...] = self._read_compressed(start, stop)
            return
        assert self._file is not None
        self._file.read_into(start, stop, out, self._located.encoding)

    def _read_compressed(self, start: int, stop: int) -> np.ndarray:
        assert self._hdul is not None
        hdu = self._hdul[self._located.index]
        with _astropy_errors(self.path):
            cube = hdu.header["NAXIS"] == 3
            section = hdu.section[:, start:stop, :] if cube else hdu.section[start:stop, :]
            raw = np.asarray(section)
        raw = raw.reshape(self._located.shape3[0], stop - start, self.cols)
        # do_not_scale_image_data keeps the stored integers, so the usual encoding applies.
        return self._located.encoding.normalize(raw)

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._hdul is not None:
            self._hdul.close()
            self._hdul = None


# --- writing ----------------------------------------------------------------------------------------


def write_fits(path: Path, data: np.ndarray, keywords: Sequence[Keyword]) -> None:
    """Write float32 ``data`` (BITPIX -32) with ``keywords`` to ``path`` (not atomic: see write_image).

    Keywords: structural cards are skipped (:func:`is_structural`); COMMENT/HISTORY become such cards
    (long text continues on further cards); names longer than 8 characters or outside FITS's character
    set become HIERARCH cards; long string values use the CONTINUE convention, long comments are
    truncated to fit their card; non-ASCII text is transliterated (accents dropped, other characters
    become '?'); non-finite floats are written as strings ('nan', 'inf'); names that are not printable
    ASCII are skipped.
    """
    header = fits.Header()
    with warnings.catch_warnings(record=True):  # "comment will be truncated" and HIERARCH notices
        warnings.simplefilter("always")
        for keyword in keywords:
            card = _card(keyword)
            if card is not None:
                header.append(card, useblanks=False, bottom=True)
        # A big-endian copy: given a native array, astropy byte-swaps it in place while writing, which
        # would briefly corrupt the caller's array.
        hdu = fits.PrimaryHDU(data=np.array(data, dtype=">f4"), header=header)
        hdu.writeto(path, output_verify="silentfix", overwrite=True, checksum=True)  # see apcal.io.integrity


def _card(keyword: Keyword) -> fits.Card | tuple[str, str] | None:
    name = str(keyword.name).strip().upper()
    if is_structural(name):
        return None
    if name in _COMMENTARY:
        text = _ascii("" if keyword.value is None else str(keyword.value))
        return fits.Card(name, text)
    if not name or any(not (32 < ord(ch) < 127) and ch != " " for ch in name) or "=" in name:
        return None
    value = _fits_value(keyword.value)
    comment = _ascii(str(keyword.comment or ""))
    if not _STANDARD_NAME.match(name):
        name = f"HIERARCH {name}"
    return fits.Card(name, value, comment)


def _fits_value(value: HeaderValue) -> object:
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else str(float(value))
    return _ascii(str(value))


def _ascii(text: str) -> str:
    """Printable ASCII for a FITS card: accents dropped, anything else outside ASCII becomes '?'."""
    if text.isascii() and text.isprintable():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(
        ch if (ch.isascii() and ch.isprintable()) else "?"
        for ch in decomposed
        if not unicodedata.combining(ch)
    )
