"""The three doors values take into a script: JSON string literals, finite numbers, known enum constants."""

from __future__ import annotations

import json
import subprocess
from pathlib import PurePosixPath, PureWindowsPath

import pytest

from apcal.engines.pixinsight.render import ENUMS, enum_constant, fits_value_text, js_literal, js_number
from apcal.params import COMBINATIONS, NORMALIZATIONS, REJECTION_NORMALIZATIONS, REJECTIONS

HOSTILE_STRINGS = [
    "",
    "plain \"double\" and 'single' quotes",
    "C:\\Program Files\\PixInsight\\bin\\PixInsight.exe",
    "line one\nline two\r\n\ttab",
    "</script><script>alert(1)</script> & <!-- -->",
    "é ñ 日本 \u2028 \u2029 \U0001f52d",
    "\x00 nul and \x1b escape",
    "${template} `backtick` \\u0041",
]


def test_js_literals_evaluate_to_the_same_values_in_javascript(node: str) -> None:
    values = [*HOSTILE_STRINGS, str(PureWindowsPath("D:/Astro Data/flats 'L'")), True, False, None, 0, -3]
    literals = [js_literal(value) for value in values]
    literals.append(js_literal(PurePosixPath("/tmp/a b/c")))
    assert all(literal.isascii() for literal in literals)
    assert not any(c in "".join(literals) for c in "<>&\n")
    program = "process.stdout.write(JSON.stringify([" + ", ".join(literals) + "]))"
    done = subprocess.run([node, "-e", program], capture_output=True, check=True, timeout=30)
    assert json.loads(done.stdout.decode("utf-8")) == [*values, "/tmp/a b/c"]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_raise(value: float) -> None:
    with pytest.raises(ValueError, match="non-finite"):
        js_number(value)
    with pytest.raises(ValueError):
        js_literal(value)


def test_numbers_and_other_types() -> None:
    assert [js_number(v) for v in (0, 3, -2, 0.1, 3.0, 1e-5, 1.5e300)] == [
        "0",
        "3",
        "-2",
        "0.1",
        "3.0",
        "1e-05",
        "1.5e+300",
    ]
    with pytest.raises(TypeError):
        js_number(True)
    with pytest.raises(TypeError):
        js_literal(object())


def test_fits_value_text() -> None:
    assert fits_value_text("O'Brien") == "'O''Brien'"
    assert fits_value_text(True) == "T"
    assert fits_value_text(False) == "F"
    assert fits_value_text(None) == ""
    assert fits_value_text(-10.0) == "-10.0"
    assert fits_value_text(1.5e-7) == "1.5E-07"
    assert fits_value_text(42) == "42"


def test_every_apcal_choice_has_a_pixinsight_element(parameters: dict) -> None:
    vocabularies = {
        "combination": COMBINATIONS,
        "rejection": tuple(r for r in REJECTIONS if r != "auto"),  # the plan resolves auto per group
        "normalization": NORMALIZATIONS,
        "rejectionNormalization": REJECTION_NORMALIZATIONS,
    }
    for parameter, values in vocabularies.items():
        assert set(ENUMS[("ImageIntegration", parameter)]) == set(values)
    for (process, parameter), table in ENUMS.items():
        elements = parameters["processes"][process]["parameters"][parameter]["values"]
        for value, element in table.items():
            assert element in elements, (process, parameter, element)
            assert enum_constant(value, process, parameter) == f"{process}.prototype.{element}"
