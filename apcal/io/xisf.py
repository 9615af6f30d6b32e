"""XISF 1.0 (PixInsight's native format): our own reader and writer of monolithic files.

Hand-written from the XISF 1.0 specification (pixinsight.com/doc/docs/XISF-1.0-spec) because the only
Python implementation, the ``xisf`` package, is GPL-3 and apcal is MIT; ``xisf`` is used in the tests
only, to cross-check both directions.

Layout of a monolithic file: the signature ``XISF0100``, the XML header's length (uint32, little
endian), 4 reserved zero bytes, the UTF-8 XML header, then data blocks at the byte offsets the header
names (``location="attachment:POS:SIZE"``).

Writer: one ``Float32`` image, ``bounds="0:1"``, planar, little endian, its block aligned to 4096 bytes
(zero padding after the header). FITS keywords become ``<FITSKeyword name value comment/>``, less the
structural ones of a FITS source such as BITPIX and BZERO (:func:`apcal.io.base.is_structural`).
Values are formatted as FITS does: strings quoted with doubled inner quotes, ``T``/``F``, numbers as
Python's ``repr``; non-finite floats become strings. COMMENT/HISTORY text goes in the ``comment``
attribute, as PixInsight writes it. Characters XML 1.0 cannot hold (control characters) become '?'.

Reader: the first ``<Image>`` of the header; ``attachment``, ``inline`` and ``embedded`` locations;
``UInt8/16/32/64`` and ``Float32/64``; planar or normal (interleaved) pixel storage; little or big byte
order; ``bounds``; ``zlib`` and ``zlib+sh`` compression (an attached planar block is inflated in bounded
chunks to a temporary file when the image is opened, see :mod:`apcal.io.xisf_inflate`; the declared
size must match the geometry before anything is inflated); other codecs (lz4, zstd: not in Python's
standard library) raise FrameError when the pixels
are opened (their header still reads). The XML is parsed with ``xml.etree`` after refusing
any DOCTYPE, so no entity can be declared or expanded. ``<Property>`` elements are not read.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO
from xml.sax.saxutils import escape, quoteattr

import numpy as np

import apcal
from apcal.errors import FrameError
from apcal.io.base import HeaderInfo, ImageReader, PlanarFile, SampleEncoding, is_structural, one_line
from apcal.io.integrity import xisf_checksum_attribute
from apcal.io.xisf_inflate import inflate_to_file, remove
from apcal.vocabulary import HeaderValue, Keyword

SIGNATURE = b"XISF0100"
NAMESPACE = "http://www.pixinsight.com/xisf"
BLOCK_ALIGNMENT = 4096
MAX_HEADER_BYTES = 64 * 1024 * 1024  # a sanity limit: real headers are kilobytes

_SAMPLE_FORMATS = {
    "UInt8": ("uint8", "u1"),
    "UInt16": ("uint16", "u2"),
    "UInt32": ("uint32", "u4"),
    "UInt64": ("uint64", "u8"),
    "Float32": ("float32", "f4"),
    "Float64": ("float64", "f8"),
}
_COMMENTARY = frozenset({"COMMENT", "HISTORY"})
# Characters XML 1.0 cannot carry at all, even escaped.
_XML_INVALID = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_INT_RE = re.compile(r"^[+-]?\d+$")
_FLOAT_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([EeDd][+-]?\d+)?$")


# --- keyword values ---------------------------------------------------------------------------------


def format_value(value: HeaderValue) -> str:
    """A keyword value as FITS writes it: ``'text'`` (inner quotes doubled), ``T``/``F``, or a number."""
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return "T" if value else "F"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            return format_value(repr(number))
        return repr(number)
    return "'" + str(value).replace("'", "''") + "'"


def parse_value(text: str) -> HeaderValue:
    """The typed value of a FITS-formatted value string (the inverse of :func:`format_value`)."""
    stripped = text.strip()
    if not stripped:
        return None
    if stripped.startswith("'"):
        inner = stripped[1:-1] if len(stripped) >= 2 and stripped.endswith("'") else stripped[1:]
        return inner.replace("''", "'").rstrip()
    if stripped == "T":
        return True
    if stripped == "F":
        return False
    if _INT_RE.match(stripped):
        return int(stripped)
    if _FLOAT_RE.match(stripped):
        return float(stripped.replace("D", "E").replace("d", "e"))
    return stripped  # an unquoted string some writers produce


# --- reading ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ImageInfo:
    keywords: tuple[Keyword, ...]
    shape3: tuple[int, int, int]  # (channels, rows, cols)
    sample_format: str
    encoding: SampleEncoding
    planar: bool
    location: tuple[str, ...]
    compression: tuple[str, int, int] | None  # (codec, uncompressed size, shuffle item size or 0)
    element: ET.Element


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _read_xml(path: Path, file: IO[bytes]) -> ET.Element:
    head = file.read(16)
    if len(head) == 0:
        raise FrameError(f"{path}: empty file (0 bytes)")
    if len(head) < 16 or head[:8] != SIGNATURE:
        raise FrameError(f"{path}: not an XISF file (no XISF0100 signature)")
    (length,) = struct.unpack("<I", head[8:12])
    if length == 0 or length > MAX_HEADER_BYTES:
        raise FrameError(f"{path}: corrupt XISF header length ({length} bytes)")
    raw = file.read(length)
    if len(raw) < length:
        raise FrameError(f"{path}: truncated XISF header ({len(raw)} of {length} bytes)")
    raw = raw.rstrip(b"\0")  # some writers pad the header with NULs inside the declared length
    if re.search(rb"<!\s*(DOCTYPE|ENTITY)", raw, re.IGNORECASE):
        raise FrameError(f"{path}: XISF header has a DOCTYPE or entity declaration (refused)")
    try:
        root = ET.fromstring(raw.decode("utf-8"))
    except (UnicodeDecodeError, ET.ParseError) as exc:
        raise FrameError(f"{path}: corrupt XISF header ({one_line(exc)})") from exc
    if _local(root.tag) != "xisf":
        raise FrameError(f"{path}: XISF header root is <{_local(root.tag)}>, not <xisf>")
    return root


def _parse_image(path: Path, root: ET.Element) -> _ImageInfo:
    image = next((el for el in root if _local(el.tag) == "Image"), None)
    if image is None:
        raise FrameError(f"{path}: no image in this XISF file")
    attr = image.attrib
    try:
        dims = [int(x) for x in attr["geometry"].split(":")]
    except (KeyError, ValueError) as exc:
        raise FrameError(f"{path}: invalid XISF image geometry {attr.get('geometry')!r}") from exc
    if len(dims) != 3 or min(dims) <= 0:
        raise FrameError(f"{path}: unsupported XISF geometry {attr['geometry']!r} (need cols:rows:channels)")
    cols, rows, channels = dims
    fmt = attr.get("sampleFormat", "")
    if fmt not in _SAMPLE_FORMATS:
        raise FrameError(f"{path}: unsupported XISF sample format {fmt!r}")
    sample_format, code = _SAMPLE_FORMATS[fmt]
    order = attr.get("byteOrder", "little")
    if order not in ("little", "big"):
        raise FrameError(f"{path}: invalid XISF byteOrder {order!r}")
    dtype = np.dtype(("<" if order == "little" else ">") + code)
    storage = attr.get("pixelStorage", "Planar")
    if storage not in ("Planar", "Normal"):
        raise FrameError(f"{path}: invalid XISF pixelStorage {storage!r}")
    lo, hi = _bounds(path, attr.get("bounds"), dtype)
    location = tuple(attr.get("location", "").split(":"))
    if location[0] not in ("attachment", "inline", "embedded") or (
        location[0] == "attachment" and (len(location) != 3 or not all(p.isdigit() for p in location[1:]))
    ):
        raise FrameError(f"{path}: unsupported XISF data location {attr.get('location')!r}")
    compression = _compression(path, attr.get("compression"))
    needed = channels * rows * cols * dtype.itemsize
    if compression is not None and compression[1] != needed:  # checked before anything is inflated
        raise FrameError(
            f"{path}: XISF compressed data declares {compression[1]} bytes, the image needs {needed}"
        )
    return _ImageInfo(
        keywords=tuple(_keyword(el) for el in image if _local(el.tag) == "FITSKeyword"),
        shape3=(channels, rows, cols),
        sample_format=sample_format,
        encoding=SampleEncoding(dtype, lo=lo, hi=hi),
        planar=storage == "Planar",
        location=location,
        compression=compression,
        element=image,
    )


def _bounds(path: Path, text: str | None, dtype: np.dtype) -> tuple[float, float]:
    if text is None:
        return (0.0, float(2 ** (8 * dtype.itemsize) - 1)) if dtype.kind == "u" else (0.0, 1.0)
    try:
        lo, hi = (float(x) for x in text.split(":"))
    except ValueError as exc:
        raise FrameError(f"{path}: invalid XISF bounds {text!r}") from exc
    if not hi > lo:
        raise FrameError(f"{path}: invalid XISF bounds {text!r}")
    return lo, hi


def _compression(path: Path, text: str | None) -> tuple[str, int, int] | None:
    if not text:
        return None
    parts = text.split(":")
    codec = parts[0]
    try:
        size = int(parts[1])
        item = int(parts[2]) if len(parts) > 2 else 0
    except (IndexError, ValueError) as exc:
        raise FrameError(f"{path}: invalid XISF compression {text!r}") from exc
    if codec.endswith("+sh") and item <= 0:
        raise FrameError(f"{path}: invalid XISF compression {text!r} (byte shuffling needs an item size)")
    return codec, size, item


def _keyword(element: ET.Element) -> Keyword:
    name = element.get("name", "").strip().upper()
    value = element.get("value", "")
    comment = element.get("comment", "")
    if name in _COMMENTARY:
        # PixInsight keeps the text in the comment; accept it in the value too.
        text = parse_value(value) if value.strip() else comment
        return Keyword(name, "" if text is None else str(text), "")
    return Keyword(name, parse_value(value), comment)


def _header(path: Path) -> _ImageInfo:
    try:
        with open(path, "rb") as file:
            return _parse_image(path, _read_xml(path, file))
    except FileNotFoundError as exc:
        raise FrameError(f"{path}: file not found") from exc
    except IsADirectoryError as exc:
        raise FrameError(f"{path}: is a folder, not an XISF file") from exc
    except OSError as exc:
        raise FrameError(f"{path}: cannot read ({one_line(exc)})") from exc


def read_image_element(path: Path) -> ET.Element:
    """The first ``<Image>`` element of the header, attributes as written (checksum, location, ...)."""
    return _header(Path(path)).element


def read_xisf_header(path: Path) -> HeaderInfo:
    """Keywords, shape and sample format from the XML header; reads no pixel data."""
    info = _header(Path(path))
    channels, rows, cols = info.shape3
    data_end = None
    if info.location[0] == "attachment":
        data_end = int(info.location[1]) + int(info.location[2])
    shape = (rows, cols) if channels == 1 else info.shape3
    return HeaderInfo(info.keywords, shape, info.sample_format, data_end)


class XisfReader(ImageReader):
    """Row-block reader of the first image of an XISF file.

    Attached planar blocks are read by seeking to the rows asked for (a compressed one in the file it
    was inflated to); inline, embedded or interleaved blocks are decoded into memory once, when the file
    is opened.
    """

    def __init__(self, path: Path):
        path = Path(path)
        self._file: PlanarFile | None = None
        self._memory: np.ndarray | None = None
        self._inflated: Path | None = None
        info = _header(path)
        channels, rows, cols = info.shape3
        super().__init__(path, (rows, cols) if channels == 1 else info.shape3, info.keywords)
        self._info = info
        if info.compression is not None and info.compression[0] not in ("zlib", "zlib+sh"):
            self._closed = True
            codec = info.compression[0]
            raise FrameError(f"{path}: compressed XISF not supported (codec {codec!r}; only zlib is)")
        self._closed = True  # until the file is open and checked
        expected = channels * rows * cols * info.encoding.dtype.itemsize
        try:
            if info.location[0] == "attachment":
                position, size = int(info.location[1]), int(info.location[2])
                file_size = path.stat().st_size
                if file_size < position + size:
                    end = position + size
                    raise FrameError(
                        f"{path}: truncated XISF data block ({file_size} bytes, the block ends at {end})"
                    )
                if info.compression is not None and info.planar:  # inflated to disk, read by rows
                    codec, declared, item = info.compression
                    with open(path, "rb") as file:
                        file.seek(position)
                        self._inflated = inflate_to_file(
                            path, file, size, declared, item if codec == "zlib+sh" else None
                        )
                    self._file = PlanarFile(self._inflated, 0, info.shape3, info.encoding.dtype)
                    if os.name != "nt":  # the open file keeps its data; nothing is left on disk
                        remove(self._inflated)
                elif info.compression is None and info.planar:
                    if size != expected:
                        raise FrameError(
                            f"{path}: XISF data block is {size} bytes, the image needs {expected}"
                        )
                    self._file = PlanarFile(path, position, info.shape3, info.encoding.dtype)
                else:
                    with open(path, "rb") as file:
                        file.seek(position)
                        self._memory = self._decode(file.read(size), expected)
            else:
                self._memory = self._decode(self._inline_bytes(info), expected)
        except OSError as exc:
            raise FrameError(f"{path}: cannot read ({one_line(exc)})") from exc
        self._closed = False

    def _inline_bytes(self, info: _ImageInfo) -> bytes:
        if info.location[0] == "inline":
            encoding = info.location[1] if len(info.location) > 1 else ""
            text = info.element.text or ""
        else:  # embedded: a <Data encoding="..."> child element
            data = next((el for el in info.element if _local(el.tag) == "Data"), None)
            if data is None:
                raise FrameError(f"{self.path}: XISF embedded image without a <Data> element")
            encoding = data.get("encoding", "")
            text = data.text or ""
        text = "".join(text.split())
        try:
            if encoding == "base64":
                return base64.b64decode(text, validate=True)
            if encoding in ("hex", "base16"):
                return binascii.unhexlify(text)
        except (ValueError, binascii.Error) as exc:
            raise FrameError(f"{self.path}: corrupt XISF inline data ({one_line(exc)})") from exc
        raise FrameError(f"{self.path}: unsupported XISF data encoding {encoding!r}")

    def _decode(self, block: bytes, expected: int) -> np.ndarray:
        """Inflate and un-shuffle if needed; return the samples as (channels, rows, cols)."""
        info = self._info
        if info.compression is not None:
            codec, size, item = info.compression
            try:
                block = zlib.decompressobj().decompress(block, size + 1)  # bounded: never a bomb
            except zlib.error as exc:
                raise FrameError(f"{self.path}: corrupt compressed XISF data ({one_line(exc)})") from exc
            if len(block) != size:
                raise FrameError(f"{self.path}: XISF data inflates to {len(block)} bytes, header says {size}")
            if codec == "zlib+sh":
                block = _unshuffle(block, item)
        if len(block) != expected:
            raise FrameError(
                f"{self.path}: XISF data block is {len(block)} bytes, the image needs {expected}"
            )
        channels, rows, cols = info.shape3
        samples = np.frombuffer(block, dtype=info.encoding.dtype)
        if info.planar:
            return samples.reshape(channels, rows, cols)
        return samples.reshape(rows, cols, channels).transpose(2, 0, 1)

    def _read_block(self, start: int, stop: int) -> np.ndarray:
        info = self._info
        if self._memory is not None:
            raw = self._memory[:, start:stop, :]
        else:
            assert self._file is not None
            out = np.empty((info.shape3[0], stop - start, self.cols), dtype=np.float32)
            self._file.read_into(start, stop, out, info.encoding)
            return out
        return info.encoding.normalize(raw)

    def _read_into(self, start: int, stop: int, out: np.ndarray) -> None:
        info = self._info
        if self._memory is not None:
            info.encoding.normalize(self._memory[:, start:stop, :], out=out)
        else:
            assert self._file is not None
            self._file.read_into(start, stop, out, info.encoding)

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._memory = None
        remove(self._inflated)
        self._inflated = None


def _unshuffle(block: bytes, item: int) -> bytes:
    """Undo XISF byte shuffling: byte k of every item was stored together, k = 0 .. item-1."""
    count = len(block) // item
    body = np.frombuffer(block, dtype=np.uint8, count=count * item).reshape(item, count)
    return body.T.tobytes() + block[count * item :]


# --- writing ----------------------------------------------------------------------------------------


def write_xisf(
    path: Path, data: np.ndarray, keywords: Sequence[Keyword], *, creator: str | None = None
) -> None:
    """Write float32 ``data`` ((rows, cols) or (channels, rows, cols)) as a monolithic XISF file.

    Not atomic by itself (see :func:`apcal.io.image.write_image`).
    """
    array = np.ascontiguousarray(data, dtype="<f4")
    if array.ndim == 2:
        array = array[np.newaxis]
    size = array.nbytes
    checksum = xisf_checksum_attribute(array.reshape(-1).data.cast("B"))
    creator = creator or f"apcal {apcal.__version__}"
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    position = BLOCK_ALIGNMENT
    while True:  # the offset's own digits change the header length; settle on a fixed point
        xml = _header_xml(array.shape, position, size, keywords, creator, created, checksum).encode("utf-8")
        needed = -(-(16 + len(xml)) // BLOCK_ALIGNMENT) * BLOCK_ALIGNMENT
        if needed == position:
            break
        position = needed
    with open(path, "wb") as file:
        file.write(SIGNATURE + struct.pack("<I", len(xml)) + b"\0\0\0\0")
        file.write(xml)
        file.write(b"\0" * (position - 16 - len(xml)))
        file.write(array.reshape(-1).data.cast("B"))


def _header_xml(
    shape: tuple[int, int, int],
    position: int,
    size: int,
    keywords: Sequence[Keyword],
    creator: str,
    created: str,
    checksum: str,
) -> str:
    channels, rows, cols = shape
    color = "RGB" if channels == 3 else "Gray"
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<xisf version="1.0" xmlns="{NAMESPACE}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{NAMESPACE} http://pixinsight.com/xisf/xisf-1.0.xsd">',
        f'<Image geometry="{cols}:{rows}:{channels}" sampleFormat="Float32" bounds="0:1" '
        f'colorSpace="{color}" location="attachment:{position}:{size}" checksum="{checksum}">',
    ]
    for keyword in keywords:
        if not is_structural(str(keyword.name).strip().upper()):
            lines.append(_keyword_xml(keyword))
    lines += [
        "</Image>",
        "<Metadata>",
        f'<Property id="XISF:CreationTime" type="TimePoint" value="{created}"/>',
        f'<Property id="XISF:CreatorApplication" type="String">{escape(_xml_text(creator))}</Property>',
        f'<Property id="XISF:BlockAlignmentSize" type="UInt16" value="{BLOCK_ALIGNMENT}"/>',
        "</Metadata>",
        "</xisf>",
    ]
    return "\n".join(lines)


def _keyword_xml(keyword: Keyword) -> str:
    name = str(keyword.name).strip().upper()
    if name in _COMMENTARY or not name:
        # PixInsight keeps commentary text in the comment attribute; a blank-name card becomes COMMENT.
        name = name or "COMMENT"
        value, comment = "", "" if keyword.value is None else str(keyword.value)
    else:
        value, comment = format_value(keyword.value), str(keyword.comment or "")
    return (
        f"<FITSKeyword name={quoteattr(_xml_text(name))} value={quoteattr(_xml_text(value))} "
        f"comment={quoteattr(_xml_text(comment))}/>"
    )


def _xml_text(text: str) -> str:
    return _XML_INVALID.sub("?", text)
