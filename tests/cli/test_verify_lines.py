"""``apcal verify``'s text output, as rendered: a block per master that reads at 80 columns."""

from __future__ import annotations

from apcal.cli.verify_cmd import comparison_lines

FLAT = {
    "job": "flat/INSTRUME_ZWO-ASI2600MM-Pro_SET-TEMP_-10_GAIN_100_FILTER_L_BIN_1x1",
    "type": "flat",
    "reference": {"engine": "native", "master": "/out/verify/native/master/masterFlat_L.xisf"},
    "other": {"engine": "siril", "master": "/out/verify/siril/master/masterFlat_L.xisf"},
    "difference": {"rms_sigma": 0.0734, "p999_sigma": 0.6214, "relative_rms": 0.000793},
    "rejected": {"native": [0.00026825, 0.0014062], "siril": [0.00246, 0.00812]},
    "tolerance": "relative rms <= 0.1%",
    "verdict": "agree",
    "message": "",
}


def test_a_comparison_reads_as_a_block_within_80_columns() -> None:
    assert comparison_lines(FLAT) == [
        "agree flat: siril against native",
        "  rms 0.073 sigma, 99.9% 0.621 sigma, relative rms 0.0793 %",
        "  tolerance relative rms <= 0.1%",
        "  rejected low/high: native 0.027 %/0.141 %, siril 0.246 %/0.812 %",
        "  flat/INSTRUME_ZWO-ASI2600MM-Pro_SET-TEMP_-10_GAIN_100_FILTER_L_BIN_1x1",
    ]
    assert all(len(line) <= 80 for line in comparison_lines(FLAT))


def test_a_master_one_engine_could_not_build_says_why_and_has_no_figures() -> None:
    failed = {**FLAT, "difference": None, "rejected": {"native": [0.0003, 0.0014], "siril": None}}
    failed |= {"verdict": "failed", "message": "siril did not build this master (see its run log)"}
    lines = comparison_lines(failed)
    assert lines[0] == "failed flat: siril against native"
    assert lines[1] == "  siril did not build this master (see its run log)"
    assert lines[3] == "  rejected low/high: native 0.030 %/0.140 %"
