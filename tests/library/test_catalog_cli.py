"""``apcal library index/list/show/mark-bad/mark-good`` on a library of masters another tool wrote."""

from __future__ import annotations

import json
import math
import os
import sqlite3
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from apcal.cli.main import cli
from apcal.library.catalog import CATALOG_DIR, CATALOG_NAME
from tests.cli.helpers import apcal
from tests.library.helpers import write_master

SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "library.schema.json").read_text())


def run(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


def valid(data: object, definition: str) -> None:
    jsonschema.validate(data, {**SCHEMA, "$ref": f"#/$defs/{definition}"})


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "masters"
    write_master(root / "bias" / "bias_2026-11-20.fits", "Bias", "2026-11-20", seed=1)
    write_master(root / "bias" / "bias_2026-12-01.fits", "Bias", "2026-12-01", seed=2)
    write_master(root / "dark" / "dark_60s.fits", "Dark", "2026-11-20", level=520.0, EXPTIME=60.0, seed=3)
    write_master(root / "flat" / "flat_L.fits", "Flat", "2026-12-05", level=30000.0, FILTER="L", seed=4)
    write_master(root / "raw.fits", "Bias", "2026-12-01", IMAGETYP="BIAS")
    (root / "broken.fits").write_text("not a FITS file")
    return root


def test_index_reports_new_changed_removed_and_unreadable(library: Path) -> None:
    code, out = run("library", "index", library, "--json")
    assert code == 0, out
    data = json.loads(out)
    valid(data, "index")
    assert data["masters"] == 4 and sorted(data["new"]) == [
        "bias/bias_2026-11-20.fits",
        "bias/bias_2026-12-01.fits",
        "dark/dark_60s.fits",
        "flat/flat_L.fits",
    ]
    assert [u["path"] for u in data["unreadable"]] == ["broken.fits"]
    assert [n["path"] for n in data["not_masters"]] == ["raw.fits"]
    assert (library / CATALOG_DIR / CATALOG_NAME).is_file()

    again = json.loads(run("library", "index", library, "--json")[1])
    assert again["new"] == again["changed"] == again["removed"] == [] and again["unchanged"] == 6

    (library / "dark" / "dark_60s.fits").unlink()
    changed = library / "bias" / "bias_2026-12-01.fits"
    os.utime(changed, ns=(5_000_000_000, 5_000_000_000))
    write_master(library / "bias" / "new.fits", "Bias", "2026-12-03", seed=9)
    third = json.loads(run("library", "index", library, "--json")[1])
    assert third["new"] == ["bias/new.fits"] and third["removed"] == ["dark/dark_60s.fits"]
    assert third["changed"] == ["bias/bias_2026-12-01.fits"] and third["masters"] == 4


def test_list_show_and_marks_with_qc_figures(library: Path) -> None:
    code, out = run("library", "list", library, "--type", "bias", "--json")
    assert code == 0, out
    data = json.loads(out)
    valid(data, "list")
    rows = {Path(m["path"]).name: m for m in data["masters"]}
    assert set(rows) == {"bias_2026-11-20.fits", "bias_2026-12-01.fits"}
    assert rows["bias_2026-12-01.fits"]["status"] == "good"
    assert rows["bias_2026-11-20.fits"]["status"] == "superseded"  # same configuration, older
    newest = rows["bias_2026-12-01.fits"]
    assert newest["night"] == "2026-12-01" and newest["valid_until"] == "2027-12-01"
    policy = library.parent / "policy.yaml"  # a rig that keeps bias for 90 days only (DRAGONS' age)
    policy.write_text(
        "apcal: 1\nname: rig\ninputs: [{path: .}]\noutput: {dir: out}\nlibrary: {max_age_days: {bias: 90}}\n"
    )
    _, out = run("library", "list", library, "--type", "bias", "--recipe", policy, "--json")
    short = {Path(m["path"]).name: m for m in json.loads(out)["masters"]}["bias_2026-12-01.fits"]
    assert short["valid_until"] == "2027-03-01"
    assert newest["qc"]["median_adu"] == pytest.approx(500, abs=2)
    # pixel-to-pixel noise: the 5 ADU fixed pattern and 2 ADU of fresh noise; read noise x sqrt(NCOMBINE)
    assert newest["qc"]["noise_adu"] == pytest.approx(math.hypot(5.0, 2.0), rel=0.15)
    assert newest["qc"]["read_noise_adu"] == pytest.approx(newest["qc"]["noise_adu"] * 20**0.5)

    code, out = run(
        "library", "mark-bad", library, library / "bias" / "bias_2026-12-01.fits", "--reason", "light leak"
    )
    assert code == 0 and "bad (light leak)" in out
    shown = json.loads(run("library", "show", library / "bias" / "bias_2026-12-01.fits", "--json")[1])
    valid(shown, "master")
    assert shown["status"] == "bad" and shown["reason"] == "light leak"
    rows = {
        Path(m["path"]).name: m for m in json.loads(run("library", "list", library, "--json")[1])["masters"]
    }
    assert rows["bias_2026-11-20.fits"]["status"] == "good"  # no longer superseded by a bad one

    code, out = run("library", "mark-good", library, "bias/bias_2026-12-01.fits")
    assert code == 0
    shown = json.loads(run("library", "show", library / "bias" / "bias_2026-12-01.fits", "--json")[1])
    assert shown["status"] == "good" and shown["reason"] is None


def test_rebuilt_catalogue_lists_the_same(library: Path) -> None:
    run("library", "mark-bad", library, "bias/bias_2026-12-01.fits", "--reason", "driver update")
    before = run("library", "list", library, "--json")[1]
    (library / CATALOG_DIR / CATALOG_NAME).unlink()
    for extra in ("-wal", "-shm"):
        (library / CATALOG_DIR / (CATALOG_NAME + extra)).unlink(missing_ok=True)
    code, out = run("library", "index", library)
    assert code == 0 and "4 masters catalogued (4 new" in out
    assert run("library", "list", library, "--json")[1] == before


def test_errors_are_one_line(library: Path, tmp_path: Path) -> None:
    for args, said in (
        (("show", tmp_path / "elsewhere.fits"), "not inside a catalogued library"),
        (("mark-bad", library, "nope.fits", "--reason", "x"), "nope.fits: not a master catalogued under"),
        (("show", library / "raw.fits"), "raw.fits: not a master catalogued under"),
        (("list", tmp_path / "nowhere"), "the library root does not exist"),
    ):
        done = apcal("library", *args)
        assert done.returncode == 2, done.stderr
        assert said in done.stderr and len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


def test_a_catalogue_of_another_schema_version_is_read_again(library: Path) -> None:
    run("library", "index", library)
    with sqlite3.connect(library / CATALOG_DIR / CATALOG_NAME) as db:
        db.execute("UPDATE meta SET value = '0' WHERE name = 'schema_version'")
    data = json.loads(run("library", "index", library, "--json")[1])
    assert len(data["new"]) == 4 and data["masters"] == 4


def test_publish_without_a_root_is_a_recipe_error(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "apcal: 1\nname: t\ninputs: [{path: in}]\noutput: {dir: out}\nlibrary: {publish: true}\n"
    )
    done = apcal("validate", recipe)
    assert done.returncode == 2 and "publish needs library.root" in done.stderr


def test_the_listing_reads_at_80_columns_off_a_terminal(tmp_path: Path) -> None:
    """As cron mails it: a block per master (what, when, status; the file; its figures), no line over
    80 columns, figures rounded as people write them."""
    root = tmp_path / "library"
    write_master(root / "bias" / "masterBias_2026-12-01.fits", "Bias", "2026-12-01")
    write_master(
        root / "dark" / "masterDark_300s.fits", "Dark", "2026-12-01", level=510.0, EXPTIME=300.0, EGAIN=0.8
    )
    write_master(root / "flat" / "masterFlat_L.fits", "Flat", "2026-12-01", level=30000.0, FILTER="L")
    done = apcal("library", "list", root)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, lines
    dark = lines[lines.index("dark 300 s, 2026-12-01, ZWO ASI2600MM Pro: good") :][:4]
    assert dark[1] == "  dark/masterDark_300s.fits"
    assert (
        dark[2].startswith("  median 510 ADU, noise ")
        and "dark current 0.0333 ADU/s (0.0267 e-/s)," in dark[2]
    )
    assert dark[3] == "  0 hot pixels"  # wrapped between figures, never inside one
    assert lines[-1] == "3 masters"
    assert any(line.startswith("  median 30000 ADU, noise ") for line in lines)
