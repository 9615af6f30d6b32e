"""What each engine declares it can do, and what the user is told when a plan asks for more."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from apcal.demo.camera import CameraModel, NightPlan
from apcal.demo.synthetic import generate_night
from apcal.engines.capabilities import CAPABILITIES, assess
from apcal.engines.native.engine import NativeEngine
from apcal.engines.pixinsight import PixInsightEngine
from apcal.errors import EngineError
from apcal.params import DARK_SCALINGS, RESOLVED_REJECTIONS, IntegrationParams
from apcal.plan.darkscaling import dark_scaling_notes
from apcal.plan.model import PixelScreening, Plan
from apcal.recipe.model import EngineSettings, PixInsightSettings, Screening
from tests.cli.helpers import apcal
from tests.engines.pixinsight.pixinsight_helpers import build_plan


def _asking_everything(plan: Plan) -> Plan:
    """``plan`` with pixel screening on every job, rejection maps on and FITS output."""
    screening = PixelScreening(Screening(), min_frames=3, sensor_temp_tolerance=2.0)
    jobs = tuple(dataclasses.replace(job, screening=screening) for job in plan.jobs)
    return dataclasses.replace(plan, jobs=jobs, rejection_maps=True, output_format="fits")


def test_the_native_engine_honours_every_setting(tmp_path: Path) -> None:
    plan = _asking_everything(build_plan(tmp_path))
    rosner = IntegrationParams(rejection="esd", esd_rule="rosner")
    first = dataclasses.replace(plan.jobs[0], integration=rosner)
    plan = dataclasses.replace(plan, jobs=(first, *plan.jobs[1:]))
    verdict = assess(plan, "native")
    assert verdict.warnings == () and verdict.refusals == ()
    NativeEngine(EngineSettings()).check(plan)  # does not raise


def test_pixinsight_warns_of_each_setting_it_leaves_out(tmp_path: Path) -> None:
    plain = build_plan(tmp_path)  # no screening, no maps, XISF: only the rejection counts are missing
    assert assess(plain, "pixinsight").warnings == (
        "the pixinsight engine does not count rejected pixels: the report's master statistics have no "
        "rejected fractions",
    )
    warnings = assess(_asking_everything(plain), "pixinsight").warnings
    assert len(warnings) == 4, warnings
    assert "does not screen frames on their pixels (screening.enabled)" in warnings[0]
    assert "(4 of 4 masters)" in warnings[0]
    assert warnings[1] == "the pixinsight engine does not write rejection maps (output.rejection_maps)"
    assert warnings[3] == (
        "the pixinsight engine writes calibrated flats as xisf, not fits (output.format applies to the "
        "masters only)"
    )


def test_fits_output_without_calibrated_flats_is_no_format_warning(tmp_path: Path) -> None:
    plan = dataclasses.replace(build_plan(tmp_path), output_format="fits")
    plan = dataclasses.replace(plan, jobs=tuple(j for j in plan.jobs if j.calibration is None))
    assert not [w for w in assess(plan, "pixinsight").warnings if "calibrated flats" in w]


def test_pixinsight_refuses_an_esd_rule_it_lacks_before_anything_is_written(tmp_path: Path) -> None:
    plan = build_plan(tmp_path)
    esd = IntegrationParams(rejection="esd", esd_rule="rosner")
    rosner = dataclasses.replace(plan.jobs[0], integration=esd)
    plan = dataclasses.replace(plan, jobs=(rosner, *plan.jobs[1:]))
    (refusal,) = assess(plan, "pixinsight").refusals
    assert refusal.startswith(f"{rosner.id}: esd_rule 'rosner' is not available in the pixinsight engine")
    with pytest.raises(EngineError, match="esd_rule 'rosner' is not available") as caught:
        PixInsightEngine(PixInsightSettings(script_only=True)).check(plan)
    assert caught.value.exit_code == 2
    assert not plan.logs_dir.exists()
    # The rule is irrelevant to other methods: no refusal.
    sigma = dataclasses.replace(rosner, integration=IntegrationParams(rejection="sigma", esd_rule="rosner"))
    assert assess(dataclasses.replace(plan, jobs=(sigma, *plan.jobs[1:])), "pixinsight").refusals == ()


def test_native_and_pixinsight_run_every_resolved_rejection_siril_the_ones_it_has() -> None:
    for engine in ("native", "pixinsight"):
        assert CAPABILITIES[engine].rejections == frozenset(RESOLVED_REJECTIONS)
    # Siril's stack: p, s, w, l (and m, a, g, which match none of apcal's methods exactly)
    assert CAPABILITIES["siril"].rejections == {"none", "percentile", "sigma", "winsorized", "linear_fit"}


@pytest.mark.parametrize(
    ("params", "refusal"),
    [
        (IntegrationParams(rejection="minmax"), "rejection 'minmax' is not available in the siril engine"),
        (IntegrationParams(rejection="esd"), "rejection 'esd' is not available in the siril engine"),
        (
            IntegrationParams(range_clip_low=True),
            "range clipping (range_clip_low/range_clip_high) has no Siril",
        ),
        (IntegrationParams(clip_high=False), "Siril always clips both sides"),
    ],
)
def test_siril_refuses_what_would_build_another_master(
    tmp_path: Path, params: IntegrationParams, refusal: str
) -> None:
    plan = build_plan(tmp_path)
    plan = dataclasses.replace(plan, jobs=(dataclasses.replace(plan.jobs[0], integration=params),))
    (found,) = assess(plan, "siril").refusals
    assert found.startswith(f"{plan.jobs[0].id}: {refusal}")


def test_siril_warns_of_settings_it_ignores_once_per_setting(tmp_path: Path) -> None:
    plan = build_plan(tmp_path)
    median = IntegrationParams(combination="median", rejection="sigma")
    jobs = tuple(dataclasses.replace(job, integration=median) for job in plan.jobs)
    warnings = assess(dataclasses.replace(plan, jobs=jobs), "siril").warnings
    n = len(jobs)
    expected = f"Siril's median stacking does not reject (rejection sigma is ignored) ({n} of {n} masters)"
    assert expected in warnings


@pytest.mark.parametrize("engine", sorted(CAPABILITIES))
@pytest.mark.parametrize("scaling", DARK_SCALINGS)
def test_the_dark_scaling_note_agrees_with_the_declared_scalings(engine: str, scaling: str) -> None:
    """The plan layer's note (below the engines) says exactly what the capabilities declare."""
    assert bool(dark_scaling_notes(scaling, engine)) == (scaling not in CAPABILITIES[engine].dark_scalings)


def _tiny_night(folder: Path) -> None:
    """Three bias, darks and flats of 48 x 32 pixels: enough for `apcal plan`, which reads headers only."""
    night = NightPlan(
        n_bias=3, dark_exposures=(300.0,), n_darks=3, filters=("L",), flat_exposures=(2.0,), n_flats=3
    )
    generate_night(folder, CameraModel(rows=32, cols=48), night)


def test_apcal_plan_shows_the_warnings_and_exits_2_on_a_refusal(tmp_path: Path) -> None:
    _tiny_night(tmp_path / "frames")
    recipe = (
        "apcal: 1\nname: p\ninputs: [{path: frames}]\noutput: {dir: out, rejection_maps: true}\n"
        "engine: {name: pixinsight, pixinsight: {script_only: true}}\n"
    )
    (tmp_path / "r.yaml").write_text(recipe)
    rosner = "integration: {bias: {rejection: esd, esd_rule: rosner}}\n"
    table = apcal("plan", "r.yaml", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    text = " ".join(table.stdout.split())
    assert "warning: the pixinsight engine does not write rejection maps (output.rejection_maps)" in text
    assert "warning: the pixinsight engine does not screen frames on their pixels" in text
    shown = json.loads(apcal("plan", "r.yaml", "--json", cwd=tmp_path).stdout)["engine"]
    assert shown["name"] == "pixinsight" and shown["refusals"] == [] and len(shown["warnings"]) == 3

    (tmp_path / "r.yaml").write_text(recipe + rosner)
    refused = apcal("plan", "r.yaml", cwd=tmp_path)
    assert refused.returncode == 2
    assert "esd_rule 'rosner' is not available in the pixinsight engine" in refused.stderr
    assert "Traceback" not in refused.stderr
    # The same plan is fine for the native engine.
    native_recipe = recipe.replace("pixinsight, pixinsight: {script_only: true}", "native")
    (tmp_path / "r.yaml").write_text(native_recipe + rosner)
    native = apcal("plan", "r.yaml", "--json", cwd=tmp_path)
    assert native.returncode == 0, native.stderr
    assert json.loads(native.stdout)["engine"] == {"name": "native", "warnings": [], "refusals": []}


def test_apcal_plan_shows_what_siril_cannot_do(tmp_path: Path) -> None:
    _tiny_night(tmp_path / "frames")
    recipe = "apcal: 1\nname: p\ninputs: [{path: frames}]\noutput: {dir: out}\nengine: {name: siril}\n"
    (tmp_path / "r.yaml").write_text(recipe)
    shown = apcal("plan", "r.yaml", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "warning: the siril engine does not screen frames on their pixels" in " ".join(
        shown.stdout.split()
    )
    (tmp_path / "r.yaml").write_text(recipe + "integration: {dark: {rejection: minmax}}\n")
    refused = apcal("plan", "r.yaml", cwd=tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "rejection 'minmax' is not available in the siril engine" in refused.stderr
