"""XISF: our writer and reader against each other and against the (GPL, test-only) ``xisf`` package."""

from __future__ import annotations

import base64
import struct
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import pytest
import xisf as xisf_pkg

from apcal.errors import FrameError
from apcal.io import open_image, read_header, write_image
from apcal.io.xisf import format_value, parse_value
from apcal.vocabulary import Keyword

RNG = np.random.default_rng(7)

KEYWORDS = [
    Keyword("IMAGETYP", "Master Dark", "Type of image"),
    Keyword("EXPTIME", 300.0, "Exposure time [s]"),
    Keyword("NCOMBINE", 25, ""),
    Keyword("TINY", 1.25e-9, "repr keeps every digit"),
    Keyword("COOLER", True, ""),
    Keyword("DEW", False, ""),
    Keyword("QUOTES", "it's \"quoted\" 'twice'", "comment with 'quotes' and \"doubles\""),
    Keyword("MARKUP", "<a & b> ]]> &amp;", "<&>"),
    Keyword("UNICODE", "Café 5°C — Ωmega", "naïve"),
    Keyword("NEWLINE", "two\nlines\ttab", ""),
    Keyword("PADDED", "  leading blanks kept", ""),
    Keyword("UNDEF", None, "no value"),
    Keyword("HISTORY", "ImageIntegration: 25 frames", ""),
    Keyword("COMMENT", "comment text", ""),
    Keyword("HISTORY", "second history line", ""),
]

# What the xisf package returns for each keyword above: it hands back the raw value attribute with the
# outer quotes stripped (inner quotes stay doubled), and COMMENT/HISTORY text in the comment.
XISF_PKG_VIEW = [
    ("IMAGETYP", "Master Dark", "Type of image"),
    ("EXPTIME", "300.0", "Exposure time [s]"),
    ("NCOMBINE", "25", ""),
    ("TINY", "1.25e-09", "repr keeps every digit"),
    ("COOLER", "T", ""),
    ("DEW", "F", ""),
    ("QUOTES", "it''s \"quoted\" ''twice", "comment with 'quotes' and \"doubles\""),
    ("MARKUP", "<a & b> ]]> &amp;", "<&>"),
    ("UNICODE", "Café 5°C — Ωmega", "naïve"),
    ("NEWLINE", "two\nlines\ttab", ""),
    ("PADDED", "leading blanks kept", ""),
    ("UNDEF", "", "no value"),
    ("HISTORY", "", "ImageIntegration: 25 frames"),
    ("COMMENT", "", "comment text"),
    ("HISTORY", "", "second history line"),
]


def _pkg_keywords(meta: dict) -> list[tuple[str, str, str]]:
    """The xisf package's keyword dict, back in file order (it groups repeated names)."""
    out = []
    for name, entries in meta["FITSKeywords"].items():
        out += [(name, e["value"], e["comment"]) for e in entries]
    return out


def _sort_by_name(items):
    return sorted(items, key=lambda t: (t[0], t[1], t[2]))


@pytest.mark.parametrize("shape", [(40, 50), (3, 40, 50), (2, 17, 9)])
def test_our_xisf_reads_back_identically_in_both_readers(tmp_path: Path, shape: tuple[int, ...]) -> None:
    data = RNG.random(shape, dtype=np.float32)
    data.reshape(-1)[:4] = [0.0, 1.0, np.float32(1e-30), np.nextafter(np.float32(1), np.float32(0))]
    path = tmp_path / "master.xisf"
    write_image(path, data, KEYWORDS)

    info = read_header(path)
    assert info.shape == shape
    assert info.sample_format == "float32"
    assert list(info.keywords) == KEYWORDS
    with open_image(path) as reader:
        ours = reader.read()
    assert ours.tobytes() == data.tobytes()  # bit-identical

    meta: dict = {}
    theirs = xisf_pkg.XISF.read(str(path), image_metadata=meta)  # channels last
    assert theirs.dtype == np.float32
    assert np.moveaxis(theirs, -1, 0).reshape(data.shape).tobytes() == data.tobytes()
    assert _sort_by_name(_pkg_keywords(meta)) == _sort_by_name(XISF_PKG_VIEW)
    assert meta["colorSpace"] == ("RGB" if len(shape) == 3 and shape[0] == 3 else "Gray")
    assert meta["bounds"] == "0:1"


def test_structural_keywords_of_a_fits_source_are_not_copied(tmp_path: Path) -> None:
    path = tmp_path / "from_fits.xisf"
    source = [Keyword("SIMPLE", True), Keyword("BITPIX", 16), Keyword("NAXIS", 2), Keyword("NAXIS1", 765)]
    source += [Keyword("BZERO", 32768.0), Keyword("BSCALE", 1.0), Keyword("EXPTIME", 120.0, "s")]
    write_image(path, np.zeros((3, 3), np.float32), source)
    assert read_header(path).keywords == (Keyword("EXPTIME", 120.0, "s"),)


def test_file_layout_follows_the_spec(tmp_path: Path) -> None:
    path = tmp_path / "layout.xisf"
    data = RNG.random((30, 20), dtype=np.float32)
    write_image(path, data, KEYWORDS)
    content = path.read_bytes()
    assert content[:8] == b"XISF0100"
    (length,) = struct.unpack("<I", content[8:12])
    assert content[12:16] == b"\0\0\0\0"
    xml = content[16 : 16 + length].decode("utf-8")
    assert xml.startswith("<?xml") and xml.rstrip().endswith("</xisf>")
    assert 'xmlns="http://www.pixinsight.com/xisf"' in xml
    assert 'geometry="20:30:1"' in xml and 'sampleFormat="Float32"' in xml and 'colorSpace="Gray"' in xml
    assert 'location="attachment:4096:2400"' in xml
    assert set(content[16 + length : 4096]) <= {0}
    assert np.frombuffer(content[4096:], "<f4").reshape(30, 20).tobytes() == data.tobytes()
    assert "XISF:CreatorApplication" in xml


def test_large_header_moves_data_to_next_alignment_boundary(tmp_path: Path) -> None:
    path = tmp_path / "many.xisf"
    keywords = [Keyword(f"K{i:05d}", "x" * 60, "c" * 30) for i in range(200)]  # ~30 kB of XML
    data = RNG.random((8, 8), dtype=np.float32)
    write_image(path, data, keywords)
    content = path.read_bytes()
    (length,) = struct.unpack("<I", content[8:12])
    position = int(content[16 : 16 + length].decode().split('location="attachment:')[1].split(":")[0])
    assert position % 4096 == 0 and position >= 16 + length
    assert read_header(path).keywords == tuple(keywords)
    meta: dict = {}
    theirs = xisf_pkg.XISF.read(str(path), image_metadata=meta)
    assert theirs[..., 0].tobytes() == data.tobytes()


@pytest.mark.parametrize(
    ("dtype", "sample_format"),
    [
        ("uint8", "uint8"),
        ("uint16", "uint16"),
        ("uint32", "uint32"),
        ("float32", "float32"),
        ("float64", "float64"),
    ],
)
@pytest.mark.parametrize("channels", [1, 3])
def test_we_read_xisf_written_by_the_xisf_package(
    tmp_path: Path, dtype: str, sample_format: str, channels: int
) -> None:
    if np.dtype(dtype).kind == "u":
        info = np.iinfo(dtype)
        data = RNG.integers(0, info.max, size=(23, 31, channels), endpoint=True, dtype=dtype)
        data[0, 0, 0], data[0, 1, 0] = 0, info.max
        expected = (data.astype(np.float64) / info.max).astype(np.float32)
    else:
        data = RNG.random((23, 31, channels)).astype(dtype)
        expected = data.astype(np.float32)
    path = tmp_path / "theirs.xisf"
    meta = {
        "FITSKeywords": {
            "IMAGETYP": [{"value": "'DARK'", "comment": "frame"}],
            "EXPTIME": [{"value": "120.", "comment": ""}],
        }
    }
    xisf_pkg.XISF.write(str(path), data, creator_app="xisf-test", image_metadata=meta)
    shape = (23, 31) if channels == 1 else (3, 23, 31)
    info_ = read_header(path)
    assert info_.shape == shape and info_.sample_format == sample_format
    assert list(info_.keywords) == [Keyword("IMAGETYP", "DARK", "frame"), Keyword("EXPTIME", 120.0, "")]
    with open_image(path) as reader:
        whole = reader.read()
        np.testing.assert_array_equal(whole, np.moveaxis(expected, -1, 0).reshape(shape))
        np.testing.assert_array_equal(reader.read_rows(3, 11), whole[..., 3:11, :])
    if np.dtype(dtype).kind == "u":
        assert whole.reshape(-1)[0] == 0.0 and whole.reshape(-1)[1] == 1.0


@pytest.mark.parametrize("shuffle", [False, True])
def test_zlib_compressed_xisf_from_the_xisf_package(tmp_path: Path, shuffle: bool) -> None:
    data = (np.arange(64 * 48, dtype=np.uint16).reshape(64, 48, 1) % 1000).astype(np.uint16)
    path = tmp_path / "zlib.xisf"
    xisf_pkg.XISF.write(str(path), data, codec="zlib", shuffle=shuffle)
    assert b'compression="zlib' in path.read_bytes()[:4096]
    with open_image(path) as reader:
        np.testing.assert_array_equal(reader.read(), (data[..., 0] / np.float32(65535)).astype(np.float32))
        np.testing.assert_array_equal(reader.read_rows(5, 9), reader.read()[5:9])


def test_lz4_compressed_xisf_is_refused_cleanly(tmp_path: Path) -> None:
    data = np.zeros((64, 48, 1), dtype=np.uint16)
    path = tmp_path / "lz4.xisf"
    xisf_pkg.XISF.write(str(path), data, codec="lz4hc", shuffle=True)
    assert read_header(path).shape == (64, 48)  # the header is fine
    with pytest.raises(FrameError, match=r"lz4\.xisf: compressed XISF not supported"):
        open_image(path)


# --- hand-built files: features our writer does not produce ---------------------------------------------


def _handmade(
    path: Path, image_attrs: dict[str, str], body: bytes, *, children: str = "", doctype: str = ""
) -> None:
    """An XISF file assembled here, independent of apcal's writer; ``POS`` in location is filled in."""
    position = 4096
    attrs = dict(image_attrs)
    if attrs.get("location") == "attachment":
        attrs["location"] = f"attachment:{position}:{len(body)}"
    attr_text = " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items())
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>{doctype}<xisf version="1.0" xmlns="http://www.pixinsight.com/xisf">'
        f"<Image {attr_text}>{children}</Image></xisf>"
    ).encode()
    head = b"XISF0100" + struct.pack("<I", len(xml)) + b"\0" * 4 + xml
    tail = body if image_attrs.get("location") == "attachment" else b""
    path.write_bytes(head + b"\0" * (position - len(head)) + tail)


def test_big_endian_uint16(tmp_path: Path) -> None:
    data = RNG.integers(0, 65535, size=(6, 5), endpoint=True, dtype=np.uint16)
    path = tmp_path / "be.xisf"
    _handmade(
        path,
        {"geometry": "5:6:1", "sampleFormat": "UInt16", "byteOrder": "big", "location": "attachment"},
        data.astype(">u2").tobytes(),
    )
    with open_image(path) as reader:
        np.testing.assert_array_equal(reader.read(), (data / np.float32(65535)).astype(np.float32))


def test_normal_pixel_storage_is_deinterleaved(tmp_path: Path) -> None:
    data = RNG.random((4, 5, 3), dtype=np.float32)  # rows, cols, channels interleaved
    path = tmp_path / "normal.xisf"
    attrs = {"geometry": "5:4:3", "sampleFormat": "Float32", "bounds": "0:1", "pixelStorage": "Normal"}
    _handmade(path, {**attrs, "colorSpace": "RGB", "location": "attachment"}, data.tobytes())
    with open_image(path) as reader:
        np.testing.assert_array_equal(reader.read(), np.moveaxis(data, -1, 0))


def test_float_bounds_are_rescaled_to_unit_range(tmp_path: Path) -> None:
    data = np.array([[0.0, 32767.5, 65535.0]], dtype=np.float32)
    path = tmp_path / "bounds.xisf"
    attrs = {"geometry": "3:1:1", "sampleFormat": "Float32", "bounds": "0:65535", "location": "attachment"}
    _handmade(path, attrs, data.tobytes())
    with open_image(path) as reader:
        np.testing.assert_allclose(reader.read(), [[0.0, 0.5, 1.0]], rtol=0, atol=1e-7)


def test_inline_and_embedded_locations(tmp_path: Path) -> None:
    data = RNG.random((2, 3), dtype=np.float32)
    encoded = base64.b64encode(data.tobytes()).decode()
    inline = tmp_path / "inline.xisf"
    attrs = {"geometry": "3:2:1", "sampleFormat": "Float32", "bounds": "0:1"}
    _handmade(inline, {**attrs, "location": "inline:base64"}, b"", children=encoded)
    embedded = tmp_path / "embedded.xisf"
    _handmade(
        embedded, {**attrs, "location": "embedded"}, b"", children=f'<Data encoding="base64">{encoded}</Data>'
    )
    for path in (inline, embedded):
        with open_image(path) as reader:
            np.testing.assert_array_equal(reader.read(), data)


def test_doctype_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "entity.xisf"
    doctype = '<!DOCTYPE xisf [<!ENTITY boom "boom">]>'
    attrs = {"geometry": "1:1:1", "sampleFormat": "Float32", "bounds": "0:1", "location": "attachment"}
    _handmade(path, attrs, b"\0" * 4, doctype=doctype)
    with pytest.raises(FrameError, match=r"entity\.xisf.*DOCTYPE"):
        read_header(path)


def test_value_formatting_round_trip() -> None:
    for value in [
        "",
        "x",
        "it's",
        "''",
        "  lead",
        True,
        False,
        0,
        -7,
        12345678901234,
        0.1,
        -2.5e-300,
        1e300,
        None,
    ]:
        assert parse_value(format_value(value)) == (value.rstrip() if isinstance(value, str) else value)
    assert format_value("it's") == "'it''s'"
    assert format_value(True) == "T" and format_value(1.0) == "1.0"
    assert parse_value("'DARK    '") == "DARK"
    assert parse_value("1.5D3") == 1500.0
    assert parse_value("unquoted text") == "unquoted text"
    assert format_value(float("inf")) == "'inf'"


# --- errors --------------------------------------------------------------------------------------------


def _frame_error(path: Path, call) -> str:
    with pytest.raises(FrameError) as excinfo:
        call(path)
    message = str(excinfo.value)
    assert str(path) in message and "\n" not in message
    return message


def test_zero_byte_xisf(tmp_path: Path) -> None:
    path = tmp_path / "empty.xisf"
    path.write_bytes(b"")
    for call in (read_header, open_image):
        assert "empty" in _frame_error(path, call)


def test_text_file_named_xisf(tmp_path: Path) -> None:
    path = tmp_path / "notes.xisf"
    path.write_text("hello\n" * 100)
    for call in (read_header, open_image):
        assert "not an XISF file" in _frame_error(path, call)


def test_truncated_xisf_data_keeps_header_readable(tmp_path: Path) -> None:
    path = tmp_path / "cut.xisf"
    write_image(path, RNG.random((100, 100), dtype=np.float32), [Keyword("IMAGETYP", "Master Flat", "")])
    path.write_bytes(path.read_bytes()[:-1000])
    info = read_header(path)  # reads only the XML header
    assert info.shape == (100, 100) and info.keywords == (Keyword("IMAGETYP", "Master Flat", ""),)
    assert "truncated" in _frame_error(path, open_image)


def test_truncated_xisf_header(tmp_path: Path) -> None:
    path = tmp_path / "cuthead.xisf"
    write_image(path, RNG.random((10, 10), dtype=np.float32), KEYWORDS)
    path.write_bytes(path.read_bytes()[:300])
    for call in (read_header, open_image):
        assert "truncated XISF header" in _frame_error(path, call)


def test_corrupt_xml(tmp_path: Path) -> None:
    path = tmp_path / "bad.xisf"
    xml = b"<xisf version='1.0'><Image geometry='1:1:1'"
    path.write_bytes(b"XISF0100" + struct.pack("<I", len(xml)) + b"\0" * 4 + xml)
    for call in (read_header, open_image):
        assert "corrupt XISF header" in _frame_error(path, call)


def test_xisf_without_image(tmp_path: Path) -> None:
    path = tmp_path / "noimage.xisf"
    xml = (
        b'<?xml version="1.0"?><xisf version="1.0" xmlns="http://www.pixinsight.com/xisf"><Metadata/></xisf>'
    )
    path.write_bytes(b"XISF0100" + struct.pack("<I", len(xml)) + b"\0" * 4 + xml)
    for call in (read_header, open_image):
        assert "no image" in _frame_error(path, call)
