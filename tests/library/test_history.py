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
