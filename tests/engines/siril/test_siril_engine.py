"""The Siril engine end to end with the real siril-cli on a small synthetic night (no stand-in)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from apcal.io.image import read_header
from tests.cli.helpers import apcal
from tests.engines.siril.siril_helpers import siril_cli, small_night


@pytest.fixture(scope="module")
def verified(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """``apcal verify --engines native,siril --json`` once on the small night: (folder, its JSON)."""
    siril_cli()
    folder = tmp_path_factory.mktemp("verify")
    small_night(folder)
    done = apcal("verify", "r.yaml", "--engines", "native,siril", "--json", cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder, json.loads(done.stdout)


def test_siril_builds_every_master_and_agrees_with_native(verified: tuple[Path, dict]) -> None:
    _, data = verified
    by_type = {c["type"]: c for c in data["comparisons"]}
    assert sorted(by_type) == ["bias", "dark", "flat"]
    for kind in ("bias", "dark"):
        assert by_type[kind]["verdict"] == "agree"
        assert 0 < by_type[kind]["difference"]["rms_sigma"] <= 0.3  # identical masters would be suspect
    flat = by_type["flat"]
    assert flat["verdict"] == "agree" and 0 < flat["difference"]["relative_rms"] <= 0.001
    for comparison in data["comparisons"]:  # both engines report what they rejected
        low, high = comparison["rejected"]["siril"]
        assert 0 < low < 0.05 and 0 < high < 0.05
        assert comparison["rejected"]["native"] is not None


def test_script_log_and_masters_land_in_the_seed_layout(verified: tuple[Path, dict]) -> None:
    folder, _ = verified
    out = folder / "out" / "verify" / "siril"
    scripts = list((out / "logs").glob("*_siril.ssf"))
    assert len(scripts) == 1
    stamp = scripts[0].name.removesuffix("_siril.ssf")
    log = (out / "logs" / f"{stamp}.log").read_text()
    assert log.count("----- Siril output (") == 3 and "Stacked sequence successfully" in log
    assert not list((out / "logs").glob("*_siril_work"))  # the work folder is removed
    script = scripts[0].read_text()
    assert script.startswith("# apcal") and "requires 1." in script and script.count("\nstack ") == 3
    masters = sorted(p.name.split("_")[0] for p in (out / "master").glob("*.xisf"))
    assert masters == ["masterBias", "masterDark", "masterFlat"]


def test_siril_masters_carry_the_native_engines_header_cards(verified: tuple[Path, dict]) -> None:
    folder, _ = verified
    native = folder / "out" / "verify" / "native" / "master"
    for siril_master in (folder / "out" / "verify" / "siril" / "master").glob("*.xisf"):
        cards = {k.name: k.value for k in read_header(siril_master).keywords if k.name != "HISTORY"}
        reference = {k.name: k.value for k in read_header(native / siril_master.name).keywords}
        reference.pop("HISTORY", None)
        assert cards == reference, siril_master.name


def test_the_verify_page_shows_a_difference_image_per_master(verified: tuple[Path, dict]) -> None:
    _, data = verified
    page = Path(data["html"]).read_text()
    assert page.count('<img class="diff" src="data:image/png;base64,') == 3
    assert page.count('<td class="agree">agree</td>') == 3  # the summary table's verdicts


def test_a_group_siril_cannot_stack_fails_alone_with_sirils_message(tmp_path: Path) -> None:
    siril_cli()
    recipe = small_night(tmp_path)
    # The flats are not calibrated with this run's masters, so they do not depend on the bias.
    recipe.write_text(recipe.read_text().replace("use_new_masters: true", "use_new_masters: false"))
    # One bias rewritten as 64-bit integers by a careless tool: a valid FITS file that apcal's header
    # screening and reader accept; Siril refuses to stack a sequence of mixed precision.
    frame = sorted((tmp_path / "frames").rglob("*BIAS*.fits"))[3]
    with fits.open(frame) as hdul:
        data, header = hdul[0].data.astype(np.int64), hdul[0].header.copy()
    for key in ("BZERO", "BSCALE"):
        header.remove(key, ignore_missing=True)
    fits.PrimaryHDU(data, header).writeto(frame, overwrite=True)
    done = apcal("run", recipe.name, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    failed = [line for line in done.stderr.splitlines() if line.startswith("error: failed")]
    assert len(failed) == 1 and failed[0].startswith("error: failed bias")
    assert "Siril: Stacking error: input images have different precision" in failed[0]
    masters = sorted(p.name.split("_")[0] for p in (tmp_path / "out" / "master").glob("*.xisf"))
    assert masters == ["masterDark", "masterFlat"]
    (log,) = (tmp_path / "out" / "logs").glob("2*[0-9].log")
    assert "log: Stacking error: input images have different precision" in log.read_text()


def test_script_only_writes_a_script_siril_runs_by_hand(tmp_path: Path) -> None:
    binary = siril_cli()
    recipe = small_night(tmp_path)
    text = recipe.read_text().replace("{name: siril}", "{name: siril, siril: {script_only: true}}")
    recipe.write_text(text)
    done = apcal("run", recipe.name, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (script,) = (tmp_path / "out" / "logs").glob("*_siril.ssf")
    assert f"build them with: siril-cli -s {script}" in " ".join(done.stderr.split())
    assert not list((tmp_path / "out" / "master").glob("*"))  # nothing built: the script is for later
    ran = subprocess.run([binary, "-s", script], capture_output=True, text=True, timeout=300, check=False)
    assert ran.returncode == 0, ran.stdout[-2000:]
    work = script.with_name(script.name.replace("_siril.ssf", "_siril_work"))
    assert sorted(p.parent.name for p in work.glob("*/master.fit")) == ["01", "02", "03"]
