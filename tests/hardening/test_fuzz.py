"""Property-based fuzzing: the header path from a real file to a Frame, and the recipe loader, never raise
anything but their documented errors (FrameError, RecipeError), whatever the input.

tests/frames/test_normalize.py already fuzzes ``frame_type`` and ``normalize_keywords`` on mappings; here
the values go through a real FITS file and ``read_frame`` (typing, plausibility, observing night).
"""

from __future__ import annotations

import math
import tempfile
import warnings
from pathlib import Path

import numpy as np
import yaml
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apcal.errors import FrameError, RecipeError
from apcal.frames.model import Frame
from apcal.frames.normalize import implausible_values, read_frame
from apcal.recipe import load_recipe
from apcal.recipe.model import Headers
from apcal.vocabulary import FrameType

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_printable = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
_card_values = st.one_of(
    _printable,
    st.integers(-(2**62), 2**62),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.sampled_from(["-1", "999", "1e308", "nan", "2026-13-45T25:61:61", "2026-11-23", "2*2", "0x0"]),
)
_card_names = st.sampled_from(
    [
        "IMAGETYP",
        "FRAME",
        "EXPTIME",
        "EXPOSURE",
        "SET-TEMP",
        "CCD-TEMP",
        "XBINNING",
        "BINNING",
        "GAIN",
        "DATE-OBS",
        "TIME-OBS",
        "FILTER",
        "INSTRUME",
        "APCALMST",
    ]
)


@FUZZ
@given(
    cards=st.dictionaries(_card_names, _card_values, max_size=8),
    imagetyp=st.sampled_from(["BIAS", "Dark Frame", "Flat Field", "LIGHT", "Master Dark", "weird", ""]),
    timezone=st.sampled_from([None, "Europe/Berlin", "America/New_York"]),
)
def test_read_frame_returns_a_frame_or_a_frame_error(cards, imagetyp, timezone) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "frame.fits"
        hdu = fits.PrimaryHDU(np.zeros((2, 3), dtype=np.uint16))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hdu.header["IMAGETYP"] = imagetyp
            for name, value in cards.items():
                hdu.header[name] = value
            hdu.writeto(path, output_verify="silentfix")
        try:
            frame = read_frame(path, Headers({}, {}, timezone=timezone))
        except FrameError as exc:
            assert str(exc).startswith(str(path))
            assert "\n" not in str(exc)
            return
    assert isinstance(frame, Frame) and isinstance(frame.type, FrameType)
    assert frame.shape == (2, 3)
    if frame.type is not FrameType.LIGHT:
        assert implausible_values(frame.keywords) == []
        exposure = frame.exposure
        assert exposure is None or (math.isfinite(exposure) and exposure >= 0)


_recipe_keys = st.sampled_from(
    [
        "apcal",
        "name",
        "inputs",
        "output",
        "grouping",
        "engine",
        "extends",
        "vars",
        "headers",
        "library",
        "integration",
        "calibration",
        "path",
        "dir",
        "format",
        "flat",
        "bias",
        "timeout",
        "x",
    ]
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["${root}", "${env:HOME}", "${env:NOPE:-x}", "${", "frames", "xisf", "native"]),
)
_documents = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(_recipe_keys, st.text(max_size=6)), inner, max_size=5),
    ),
    max_leaves=25,
)


@FUZZ
@given(document=st.dictionaries(_recipe_keys, _documents, max_size=8))
def test_the_recipe_loader_raises_only_recipe_errors_on_any_structure(document) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "recipe.yaml"
        path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
        try:
            load_recipe(path, environ={"HOME": folder})
        except RecipeError as exc:
            assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)


@FUZZ
@given(text=st.text(max_size=200))
def test_the_recipe_loader_raises_only_recipe_errors_on_any_text(text) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "recipe.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            load_recipe(path, environ={})
        except RecipeError as exc:
            assert exc.problems
