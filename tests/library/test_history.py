"""``apcal library history``: QC figures per configuration over time, change points named, plots."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from tests.cli.helpers import apcal
from tests.library.helpers import write_master

SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "library.schema.json").read_text())
NIGHTS = ("2026-06-10", "2026-07-12", "2026-08-15", "2026-09-14", "2026-10-16", "2026-11-20")


def test_a_read_noise_step_is_named_with_its_night(tmp_path: Path) -> None:
    root = tmp_path / "library"
    for i, night in enumerate(NIGHTS):
        noisy = night >= "2026-09-14"  # a driver update: more read noise from that night on
        write_master(
            root / "bias" / f"bias_{night}.fits", "Bias", night, noise=6.0 if noisy else 2.0, seed=i + 1
        )
        write_master(root / "other" / f"bias_{night}.fits", "Bias", night, seed=50 + i, INSTRUME="QHY268M")
    write_master(root / "dark" / "dark.fits", "Dark", "2026-09-01", EXPTIME=60.0, seed=99)

    done = apcal("library", "history", root, "--camera", "zwo asi2600mm pro", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    jsonschema.validate(data, {**SCHEMA, "$ref": "#/$defs/history"})
    assert [(line["camera"], line["type"], len(line["points"])) for line in data["lines"]] == [
        ("ZWO ASI2600MM Pro", "bias", 6),
        ("ZWO ASI2600MM Pro", "dark", 1),
    ]
    bias = data["lines"][0]
    changes = {c["figure"]: c for c in bias["changes"]}
    assert changes["read_noise_adu"]["since"] == "2026-09-14"
    # noise of fixed pattern (5 ADU) and fresh noise: hypot(5, 6) / hypot(5, 2) - 1 = +45 %
    assert 0.3 < changes["read_noise_adu"]["change"] < 0.6
    assert "median_adu" not in changes  # the level did not move

    page = tmp_path / "history.html"
    text = apcal("library", "history", root, "--html", page)
    assert text.returncode == 0, text.stderr
    assert "ZWO ASI2600MM Pro bias" in text.stdout and "read noise +" in text.stdout
    assert "since 2026-09-14" in text.stdout and "QHY268M bias" in text.stdout
    html = page.read_text()
    assert html.count("<img") == 3 and "read noise +" in html and "data:image/png;base64," in html


def test_dark_current_comes_from_the_rigs_bias_and_its_rise_is_named(tmp_path: Path) -> None:
    root = tmp_path / "library"
    write_master(root / "bias" / "bias.fits", "Bias", "2026-06-01", level=500.0)
    write_master(root / "bias" / "bias_bad.fits", "Bias", "2026-09-01", level=900.0, seed=7)
    write_master(root / "bias" / "bias_hot.fits", "Bias", "2026-09-01", level=700.0, seed=8, GAIN=300)
    assert (
        apcal("library", "mark-bad", root, root / "bias" / "bias_bad.fits", "--reason", "leak").returncode
        == 0
    )
    # 300 s darks at 1.5 e-/ADU: 0.02 ADU/s of dark current, 0.04 from the night the cooler weakened
    for i, night in enumerate(NIGHTS):
        rate = 0.04 if night >= "2026-09-14" else 0.02
        write_master(
            root / "dark" / f"dark_{night}.fits",
            "Dark",
            night,
            level=500.0 + rate * 300,
            seed=20 + i,
            EXPTIME=300.0,
            EGAIN=1.5,
        )
    write_master(root / "dark" / "unmatched.fits", "Dark", "2026-06-02", EXPTIME=300.0, GAIN=200, seed=40)

    done = apcal("library", "list", root, "--type", "dark", "--json")
    assert done.returncode == 0, done.stderr
    darks = {Path(m["path"]).name: m["qc"] for m in json.loads(done.stdout)["masters"]}
    first = darks["dark_2026-06-10.fits"]
    # the good bias of the same keys (not the bad one at 900 ADU, not the GAIN 300 one at 700)
    assert abs(first["dark_current_adu_s"] - 0.02) < 0.004
    assert abs(first["dark_current_e_s"] - 1.5 * first["dark_current_adu_s"]) < 1e-9
    assert darks["unmatched.fits"]["dark_current_adu_s"] is None  # no bias at GAIN 200: no guess

    history = json.loads(apcal("library", "history", root, "--json").stdout)
    dark_line = next(line for line in history["lines"] if line["type"] == "dark" and len(line["points"]) == 6)
    changes = {c["figure"]: c for c in dark_line["changes"]}
    assert changes["dark_current_adu_s"]["since"] == "2026-09-14"
    assert 0.6 < changes["dark_current_adu_s"]["change"] < 1.4
