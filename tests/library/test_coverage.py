"""``apcal library coverage``: which of tonight's light configurations lack a master, in the issue's shape."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from tests.cli.helpers import apcal
from tests.library.helpers import write_frames, write_master

SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "library.schema.json").read_text())


def test_an_ha_night_with_only_an_l_flat_misses_the_ha_flat(tmp_path: Path) -> None:
    root = tmp_path / "library"
    bias = write_master(root / "bias" / "bias.fits", "Bias", "2026-11-20", seed=1)
    dark = write_master(root / "dark" / "dark300.fits", "Dark", "2026-11-20", EXPTIME=300.0, seed=2)
    flat = write_master(
        root / "flat" / "flat_L.fits", "Flat", "2026-12-04", level=30000.0, FILTER="L", seed=3
    )
    night = tmp_path / "night"
    write_frames(night / "L", "LIGHT", "2026-12-05", EXPTIME=300.0, FILTER="L")
    write_frames(night / "Ha", "LIGHT", "2026-12-05", count=2, EXPTIME=300.0, FILTER="Ha")

    done = apcal("library", "coverage", root, night, "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    jsonschema.validate(data, {**SCHEMA, "$ref": "#/$defs/coverage"})
    by_filter = {c["keys"]["filter"]: c for c in data["configurations"]}
    assert set(by_filter) == {"L", "Ha"}
    assert by_filter["L"]["missing"] == [] and by_filter["L"]["frames"] == 3
    assert by_filter["L"]["masters"] == {"bias": str(bias), "dark": str(dark), "flat": str(flat)}
    assert by_filter["Ha"]["missing"] == ["flat"] and by_filter["Ha"]["frames"] == 2
    assert by_filter["Ha"]["masters"] == {"bias": str(bias), "dark": str(dark), "flat": None}
    assert by_filter["L"]["keys"] == {
        "camera": "ZWO ASI2600MM Pro",
        "set_temp": -10.0,
        "gain": None,
        "offset": None,
        "readout": None,
        "binning": "1x1",
        "shape": "64x48",
        "exposure": 300.0,
        "filter": "L",
        "night": "2026-12-05",
    }

    text = apcal("library", "coverage", root, night)
    assert "flat: MISSING (no master flat of this camera, filter, binning and size)" in text.stdout


def test_an_expired_or_bad_master_counts_as_missing(tmp_path: Path) -> None:
    root = tmp_path / "library"
    bias = write_master(root / "bias.fits", "Bias", "2025-01-01", seed=1)  # 700 days before the lights
    write_master(root / "dark.fits", "Dark", "2026-11-20", EXPTIME=300.0, seed=2)
    write_master(root / "flat.fits", "Flat", "2026-12-04", level=30000.0, FILTER="L", seed=3)
    night = write_frames(tmp_path / "night", "LIGHT", "2026-12-05", EXPTIME=300.0, FILTER="L")
    apcal("library", "mark-bad", root, root / "dark.fits", "--reason", "hot pixels")
    data = json.loads(apcal("library", "coverage", root, night, "--json").stdout)
    (config,) = data["configurations"]
    assert config["missing"] == ["bias", "dark"] and config["masters"]["bias"] is None
    text = apcal("library", "coverage", root, night).stdout
    assert "bias: MISSING (no master bias matches the lights (1 older than the maximum age))" in text
    assert bias.exists()
