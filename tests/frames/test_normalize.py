"""Header normalization: frame-type spellings of every capture program, canonical keywords, values."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apcal.errors import FrameError
from apcal.frames.normalize import MASTER_KEYWORD, frame_type, normalize_keywords, read_frame
from apcal.vocabulary import FrameType
from tests.frames.helpers import headers, parse_dump, write_fits

B, D, F, FD, L = FrameType.BIAS, FrameType.DARK, FrameType.FLAT, FrameType.FLATDARK, FrameType.LIGHT


# fmt: off
RAW_SPELLINGS = [
        # N.I.N.A.
        ("LIGHT", L), ("DARK", D), ("BIAS", B), ("FLAT", F), ("DARKFLAT", FD),
        # Sequence Generator Pro pads to 8 characters
        ("LIGHT   ", L), ("DARK    ", D), ("BIAS    ", B), ("FLAT    ", F),
        # APT, MaxIm DL, KStars/Ekos
        ("Light Frame", L), ("Dark Frame", D), ("Bias Frame", B), ("Flat Field", F), ("Flat Frame", F),
        ("Tricolor Image", L),
        # INDIGO, Seestar, any case
        ("Light", L), ("Dark", D), ("Bias", B), ("Flat", F), ("DarkFlat", FD), ("dark", D), ("bIaS", B),
        # flat darks however they are written
        ("Flat Dark", FD), ("Dark Flat", FD), ("FLAT_DARK", FD), ("flat-dark", FD),
        # IRAF
        ("Zero", B), ("zero", B), ("object", L),
]
MASTER_SPELLINGS = [
        ("Master Bias", B), ("Master Dark", D), ("Master Flat", F), ("Master Flat Dark", FD),
        ("Master Dark Flat", FD), ("MASTER DARK", D), ("master flat", F), ("Master Light", L),
        ("MasterFlat", F),  # Astro Pixel Processor's CALFRAME spelling
]
# fmt: on


@pytest.mark.parametrize(("value", "expected"), RAW_SPELLINGS)
def test_raw_frame_type_spellings(value: str, expected: FrameType) -> None:
    assert frame_type({"IMAGETYP": value}) == (expected, False)


@pytest.mark.parametrize(("value", "expected"), MASTER_SPELLINGS)
def test_master_spellings_are_masters(value: str, expected: FrameType) -> None:
    assert frame_type({"IMAGETYP": value}) == (expected, True)


def test_indi_frame_keyword_when_imagetyp_is_absent() -> None:
    assert frame_type({"FRAME": "Dark"}) == (D, False)
    assert frame_type({"FRAME": "Flat"}) == (F, False)
    # IMAGETYP wins when both are there
    assert frame_type({"IMAGETYP": "Bias Frame", "FRAME": "Dark"}) == (B, False)


def test_app_calframe_marks_a_master() -> None:
    assert frame_type({"CALFRAME": "MasterDark"}) == (D, True)


def test_apcal_marker_makes_a_master() -> None:
    assert frame_type({"IMAGETYP": "DARK", MASTER_KEYWORD: True}) == (D, True)
    assert frame_type({"IMAGETYP": "DARK", MASTER_KEYWORD: "T"}) == (D, True)
    assert frame_type({"IMAGETYP": "DARK", MASTER_KEYWORD: False}) == (D, False)


def test_unknown_or_missing_type_is_none() -> None:
    assert frame_type({}) == (None, False)
    assert frame_type({"IMAGETYP": "Something Else"}) == (None, False)
    assert frame_type({"IMAGETYP": "   "}) == (None, False)
    assert frame_type({"IMAGETYP": 3.0}) == (None, False)


def test_recipe_aliases_win_and_ignore_case_and_blanks() -> None:
    aliases = {"Calib  Zero": FrameType.BIAS, "LIGHT": FrameType.DARK}
    assert frame_type({"IMAGETYP": "calib zero"}, aliases) == (B, False)
    assert frame_type({"IMAGETYP": "CALIBZERO "}, aliases) == (B, False)
    # an alias overrides a built-in spelling
    assert frame_type({"IMAGETYP": "light"}, aliases) == (D, False)


def test_keyword_aliases_fold_to_canonical_names() -> None:
    out = normalize_keywords(
        {"EXPTIME": 300, "SETTEMP": "-10", "CCD_TEMP": -9.8, "CCDXBIN": 2, "CCDYBIN": 2, "BLKLEVEL": 8}
    )
    assert out["EXPOSURE"] == 300.0 and "EXPTIME" not in out
    assert out["SET-TEMP"] == -10.0 and "SETTEMP" not in out
    assert out["CCD-TEMP"] == -9.8
    assert (out["XBINNING"], out["YBINNING"]) == (2.0, 2.0)
    assert out["OFFSET"] == 8.0 and "BLKLEVEL" not in out


def test_dwarf_binning_and_exp() -> None:
    out = normalize_keywords({"BINNING": "2*2     ", "EXP": 15.0})
    assert (out["XBINNING"], out["YBINNING"], out["EXPOSURE"]) == (2.0, 2.0, 15.0)
    assert normalize_keywords({"BINNING": "3x3"})["YBINNING"] == 3.0


def test_gain_strings_and_numbers_compare_equal() -> None:
    assert normalize_keywords({"GAIN": "100"})["GAIN"] == normalize_keywords({"GAIN": "100.0"})["GAIN"]
    assert normalize_keywords({"GAIN": 100})["GAIN"] == 100.0
    assert normalize_keywords({"GAIN": " 1.0D2 "})["GAIN"] == 100.0  # FITS D exponent


def test_egain_is_not_gain() -> None:
    out = normalize_keywords({"EGAIN": 1.0022})
    assert "GAIN" not in out and out["EGAIN"] == 1.0022


def test_values_are_trimmed_and_typed() -> None:
    raw = {"INSTRUME": "ST-7    ", "OBJECT": "        ", "SIMPLE": True, "GAIN": float("nan")}
    out = normalize_keywords(raw)
    assert out["INSTRUME"] == "ST-7"
    assert out["OBJECT"] is None
    assert out["SIMPLE"] is True
    assert out["GAIN"] is None


def test_recipe_keyword_alias_is_used_first() -> None:
    out = normalize_keywords({"ISOSPEED": 800, "GAIN": 0}, {"isospeed": "gain"})
    assert out["GAIN"] == 800.0


def test_exptime_wins_over_a_blank_exposure() -> None:
    assert normalize_keywords({"EXPTIME": 2, "EXPOSURE": "  "})["EXPOSURE"] == 2.0
    assert normalize_keywords({"EXPOSURE": "  ", "EXPTIME": 2})["EXPOSURE"] == 2.0


def test_split_date_and_time_obs_are_joined() -> None:
    assert normalize_keywords({"DATE-OBS": "2012-02-06", "TIME-OBS": "11:45:25"})["DATE-OBS"] == (
        "2012-02-06T11:45:25"
    )


# The expected type of every real header dump, written after reading each one.
DUMPS = {
    "Celestron_AstroFX.txt": (L, False),  # IMAGETYP 'LIGHT   '
    "MaxIm_DL_4.07.txt": (D, False),  # 'DARK    '
    "MaxIm_DL_4.10.txt": (B, False),  # 'BIAS    '
    "MaxIm_DL_5.15.txt": (F, False),  # 'FLAT    '
    "MaxIm_DL_6.18.txt": (L, False),  # 'LIGHT   '
    "SBIG_CCDOps.txt": (None, False),  # CCDOps writes no IMAGETYP
    "ZWO_Seestar_S50.txt": (L, False),  # 'Light   '
    "header_app.hdr": (None, False),  # APP integration: no type keyword at all
    "header_app2.hdr": (F, True),  # APP master flat: CALFRAME 'MasterFlat'
    "header_apt.hdr": (L, False),  # 'Light Frame'
    "header_dwarflab.hdr": (None, False),  # DWARF II writes no type
    "header_maximdl.hdr": (L, False),  # 'Light Frame'
    "header_nina.hdr": (L, False),  # 'LIGHT'
    "header_pixinsight.hdr": (L, True),  # 'Master Light'
    "header_seestar.hdr": (L, False),  # 'Light   '
    "header_sgp_fixed_wcs.hdr": (L, False),  # 'LIGHT   '
    "header_sharpcap.hdr": (None, False),  # SharpCap 3 writes no type
    "sgp_header.hdr": (L, False),
    "sharpcap4_nina_header.hdr": (L, False),
    "sharpcap4_sharpcap_header.hdr": (None, False),  # SharpCap 4 writes no type
    "wcs_header_m106.hdr": (None, False),  # a WCS fragment
}


def test_every_dump_is_listed(realdata: Path) -> None:
    assert sorted(p.name for p in (realdata / "headers").iterdir()) == sorted(DUMPS)


@pytest.mark.parametrize("name", sorted(DUMPS))
def test_real_header_dumps_normalize(realdata: Path, name: str) -> None:
    raw = parse_dump(realdata / "headers" / name)
    assert frame_type(raw) == DUMPS[name]
    out = normalize_keywords(raw)
    assert all(k == k.strip().upper() for k in out)
    assert all(v is None or isinstance(v, str | float | bool) for v in out.values())


def test_real_dump_values(realdata: Path) -> None:
    dumps = realdata / "headers"
    dwarf = normalize_keywords(parse_dump(dumps / "header_dwarflab.hdr"))
    assert (dwarf["EXPOSURE"], dwarf["XBINNING"], dwarf["YBINNING"], dwarf["GAIN"]) == (15.0, 2.0, 2.0, 110.0)
    sgp = normalize_keywords(parse_dump(dumps / "sgp_header.hdr"))
    assert (sgp["EXPOSURE"], sgp["SET-TEMP"], sgp["GAIN"], sgp["OFFSET"]) == (30.0, -18.0, 120.0, 30.0)
    pix = normalize_keywords(parse_dump(dumps / "header_pixinsight.hdr"))
    assert (pix["EXPOSURE"], pix["XBINNING"]) == (120.0, 1.0)  # PixInsight writes numbers as strings
    assert "GAIN" not in pix  # EGAIN is e-/ADU, not the gain setting
    sharpcap = normalize_keywords(parse_dump(dumps / "sharpcap4_sharpcap_header.hdr"))
    assert (sharpcap["OFFSET"], sharpcap["SET-TEMP"], sharpcap["EXPOSURE"]) == (8.0, 0.0, 280.0)


def test_read_frame_reads_a_fit_file(tmp_path: Path) -> None:
    path = write_fits(
        tmp_path / "dark.fit",
        {"IMAGETYP": "Dark Frame", "EXPTIME": 2.0, "GAIN": "100", "DATE-OBS": "2026-03-08T03:30:00"},
        shape=(6, 8),
    )
    frame = read_frame(path, headers(timezone="America/New_York"))
    assert frame.type is D and not frame.is_master
    assert frame.shape == (6, 8)
    assert frame.exposure == 2.0
    assert frame.keywords["GAIN"] == 100.0
    assert frame.raw_keywords["GAIN"] == "100"
    assert str(frame.night) == "2026-03-07"
    assert frame.fingerprint.size == path.stat().st_size
    assert frame.fingerprint.mtime_ns == path.stat().st_mtime_ns
    assert len(frame.fingerprint.header_hash) == 64


def test_header_hash_follows_the_header(tmp_path: Path) -> None:
    a = read_frame(write_fits(tmp_path / "a.fits", {"IMAGETYP": "BIAS"}, fill=1), headers())
    b = read_frame(write_fits(tmp_path / "b.fits", {"IMAGETYP": "BIAS"}, fill=2), headers())
    c = read_frame(write_fits(tmp_path / "c.fits", {"IMAGETYP": "BIAS", "GAIN": 1}, fill=1), headers())
    assert a.fingerprint.header_hash == b.fingerprint.header_hash  # pixels are not hashed
    assert a.fingerprint.header_hash != c.fingerprint.header_hash


def test_read_frame_without_type_raises_frame_error_naming_the_file(tmp_path: Path) -> None:
    path = write_fits(tmp_path / "x.fits", {"EXPTIME": 1.0})
    with pytest.raises(FrameError, match=r"x\.fits.*unknown frame type"):
        read_frame(path, headers())


_values = st.one_of(
    st.text(max_size=30),
    st.integers(),
    st.just(10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
_names = st.one_of(
    st.sampled_from(
        [
            "IMAGETYP",
            "FRAME",
            "CALFRAME",
            "BINNING",
            "XBINNING",
            "EXPTIME",
            "EXP",
            "GAIN",
            "DATE-OBS",
            "TIME-OBS",
            MASTER_KEYWORD,
            "SET-TEMP",
            "OFFSET",
            "BLKLEVEL",
        ]
    ),
    st.text(max_size=12),
)


@given(
    raw=st.dictionaries(_names, _values, max_size=12),
    type_aliases=st.dictionaries(st.text(max_size=10), st.sampled_from(list(FrameType)), max_size=3),
    keyword_aliases=st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3),
)
def test_normalize_never_raises(raw, type_aliases, keyword_aliases) -> None:
    kind, is_master = frame_type(raw, type_aliases)
    assert kind is None or isinstance(kind, FrameType)
    assert isinstance(is_master, bool)
    out = normalize_keywords(raw, keyword_aliases)
    for value in out.values():
        assert value is None or isinstance(value, str | float | bool)
        if isinstance(value, str):
            assert value == value.strip() and value
