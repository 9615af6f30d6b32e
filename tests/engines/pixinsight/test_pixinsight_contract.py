"""The rendered script, run under Node.js against the PJSR stand-in, does exactly what the plan says.

The stand-in (pjsr_standin.js) rejects unknown or read-only parameter ids, wrong JS types, out-of-range
numbers, unknown enumeration values and incomplete table rows, as read from process-parameters.json;
it records every executeGlobal() with all parameters, every file written with its keywords, and the
windows left open.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from apcal.engines.pixinsight.render import INPUT_HINTS, calibrated_path, render_script
from apcal.engines.pixinsight.runner import parse_status_lines
from apcal.params import CalibrationParams, IntegrationParams
from apcal.plan.model import FlatCalibration, Job, MasterRef, Plan
from apcal.vocabulary import FrameType
from tests.engines.pixinsight.pixinsight_helpers import (
    HOSTILE_VALUE,
    build_plan,
    make_group,
    master_keywords,
    run_standin,
)

ENUM_FIELDS = {"combination", "rejection", "normalization", "rejection_normalization"}
# apcal settings ImageIntegration has no parameter for: never rendered (render refuses other values).
NO_PIXINSIGHT_ID = {"esd_rule"}
FIXED_INTEGRATION = {
    "inputHints": INPUT_HINTS,
    "weightMode": "DontCare",
    "generate64BitResult": False,
    "generateRejectionMaps": False,
    "generateIntegratedImage": True,
    "generateDrizzleData": False,
    "closePreviousImages": False,
    "evaluateSNR": False,
    "useCache": False,
    "subtractPedestals": False,
    "showImages": True,
}


def camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.capitalize() for part in rest)


def defaults(parameters: dict, process: str) -> dict:
    out = {}
    for pid, spec in parameters["processes"][process]["parameters"].items():
        if spec["type"] == "Table":
            out[pid] = []
        elif spec["type"] == "Enumeration":
            out[pid] = spec["defaultName"]
        else:
            out[pid] = spec["default"]
    return out


def expected_integration(parameters: dict, job: Job, inputs, enums: dict) -> dict:
    numbers = {
        camel(f.name): getattr(job.integration, f.name)
        for f in dataclasses.fields(IntegrationParams)
        if f.name not in ENUM_FIELDS | NO_PIXINSIGHT_ID
    }
    return {
        **defaults(parameters, "ImageIntegration"),
        **FIXED_INTEGRATION,
        **numbers,
        **enums,
        "images": [[True, str(path), "", ""] for path in inputs],
    }


def expected_calibration(parameters: dict, job: Job, bias: Path | None, dark: Path, calibrate_dark: bool):
    cal = job.calibration
    assert cal is not None
    return {
        **defaults(parameters, "ImageCalibration"),
        "targetFrames": [[True, str(path)] for path in job.inputs],
        "enableCFA": False,
        "inputHints": INPUT_HINTS,
        "masterBiasEnabled": bias is not None,
        "masterBiasPath": str(bias or ""),
        "masterDarkEnabled": True,
        "masterDarkPath": str(dark),
        "masterFlatEnabled": False,
        "masterFlatPath": "",
        "calibrateBias": False,
        "calibrateDark": calibrate_dark,
        "calibrateFlat": False,
        "optimizeDarks": cal.params.dark_scaling != "none" and calibrate_dark,
        "darkOptimizationLow": cal.params.dark_optimization_low,
        "darkOptimizationWindow": cal.params.dark_optimization_window,
        "evaluateNoise": False,
        "evaluateSignal": False,
        "outputDirectory": str(cal.output_dir),
        "outputExtension": ".xisf",
        "outputPrefix": "",
        "outputPostfix": cal.params.output_postfix,
        "outputSampleFormat": "f32",
        "outputPedestal": cal.params.pedestal,
        "outputPedestalMode": "OutputPedestal_Literal",
        "overwriteExistingFiles": True,
        "onError": "Abort",
    }


def fits_text_value(text: str):
    """Decode the FITS value text the script hands FITSKeyword (the inverse of fits_value_text)."""
    if text.startswith("'"):
        assert text.endswith("'")
        return text[1:-1].replace("''", "'")
    if text in ("T", "F"):
        return text == "T"
    if text == "":
        return None
    return float(text) if any(c in text for c in ".E") else int(text)


def run(node: str, tmp_path: Path, plan: Plan, jobs=None, env=None) -> tuple[dict, str]:
    log = tmp_path / "console log é.txt"
    script = tmp_path / "script.js"
    text = render_script(plan, plan.jobs if jobs is None else jobs, log_path=log)
    assert text.isascii()
    script.write_text(text, encoding="ascii")
    records_path = tmp_path / "records.json"
    done = run_standin(node, script, records_path, env)
    assert done.returncode == 0, done.stderr
    records = json.loads(records_path.read_text(encoding="utf-8"))
    assert records["error"] is None
    assert records["openWindows"] == [], "every window the integrations opened is closed"
    assert log.is_file(), "the console log is written with File.writeFile(path, console.endLog())"
    return records, log.read_text(encoding="utf-8")


def test_recorded_processes_equal_the_plan(node: str, parameters: dict, tmp_path: Path) -> None:
    plan = build_plan(tmp_path)
    bias_job, dark_job, flat_job, raw_flat_job = plan.jobs
    records, log = run(node, tmp_path, plan)

    executions = records["executions"]
    assert [e["process"] for e in executions] == [
        "ImageIntegration",
        "ImageIntegration",
        "ImageCalibration",
        "ImageIntegration",
        "ImageIntegration",
    ]
    assert all(e["ok"] for e in executions)
    bias_dark = {
        "combination": "Average",
        "rejection": "WinsorizedSigmaClip",
        "normalization": "NoNormalization",
        "rejectionNormalization": "NoRejectionNormalization",
    }
    flats = {**bias_dark, "normalization": "Multiplicative", "rejectionNormalization": "EqualizeFluxes"}
    assert flat_job.calibration is not None
    calibrated = [calibrated_path(flat_job.calibration, path) for path in flat_job.inputs]
    assert [c.name for c in calibrated] == [f"L 'lum'_{i:03d} é_c.xisf" for i in range(4)]

    assert executions[0]["params"] == expected_integration(parameters, bias_job, bias_job.inputs, bias_dark)
    assert executions[1]["params"] == expected_integration(parameters, dark_job, dark_job.inputs, bias_dark)
    assert executions[2]["params"] == expected_calibration(
        parameters, flat_job, bias_job.output, dark_job.output, calibrate_dark=True
    )
    assert executions[3]["params"] == expected_integration(parameters, flat_job, calibrated, flats)
    assert executions[4]["params"] == expected_integration(
        parameters, raw_flat_job, raw_flat_job.inputs, flats
    )

    # Masters: 32-bit float XISF written beside the master, then moved onto it, with the job's keywords.
    jobs = plan.jobs
    assert [w["path"] for w in records["writes"]] == [
        str(job.output.with_name(job.output.stem + ".apcal-partial.xisf")) for job in jobs
    ]
    assert records["moves"] == [
        [w["path"], str(job.output)] for w, job in zip(records["writes"], jobs, strict=True)
    ]
    for write, job in zip(records["writes"], jobs, strict=True):
        assert write["format"] == "XISF"
        assert write["options"] == {"bitsPerSample": 32, "ieeefpSampleFormat": True}
        history, *ours = write["keywords"]
        assert history[0] == "HISTORY", "the integration's HISTORY is kept; its IMAGETYP is replaced"
        assert [(name, fits_text_value(value), comment) for name, value, comment in ours] == [
            tuple(keyword) for keyword in job.keywords
        ]
        assert job.output.is_file()
        assert not job.output.with_name(job.output.stem + ".apcal-partial.xisf").exists()
    hostile = records["writes"][0]["keywords"][3]
    assert fits_text_value(hostile[1]) == HOSTILE_VALUE

    statuses = parse_status_lines(log)
    assert {job.id: statuses[job.id]["status"] for job in jobs} == {job.id: "ok" for job in jobs}
    assert {job.id: statuses[job.id]["output"] for job in jobs} == {job.id: str(job.output) for job in jobs}
    assert statuses[flat_job.id]["dark_scales"] == {
        path.name: pytest.approx(0.5 + i / 100) for i, path in enumerate(flat_job.inputs)
    }
    assert all(line.isascii() for line in log.splitlines() if line.startswith("APCAL-STATUS"))


def test_every_apcal_choice_reaches_its_pixinsight_constant(node: str, tmp_path: Path) -> None:
    variants = {
        "median/none/additive/scale": (
            IntegrationParams(
                combination="median",
                rejection="none",
                normalization="additive",
                rejection_normalization="scale",
            ),
            ("Median", "NoRejection", "Additive", "Scale"),
        ),
        "minimum/minmax/additive_scaling": (
            IntegrationParams(
                combination="minimum",
                rejection="minmax",
                normalization="additive_scaling",
                min_max_low=2,
                min_max_high=3,
            ),
            ("Minimum", "MinMax", "AdditiveWithScaling", "NoRejectionNormalization"),
        ),
        "maximum/percentile/multiplicative_scaling": (
            IntegrationParams(
                combination="maximum",
                rejection="percentile",
                normalization="multiplicative_scaling",
                pc_clip_low=0.25,
            ),
            ("Maximum", "PercentileClip", "MultiplicativeWithScaling", "NoRejectionNormalization"),
        ),
        "sigma": (IntegrationParams(rejection="sigma", sigma_low=2.5), ("Average", "SigmaClip")),
        "averaged_sigma": (IntegrationParams(rejection="averaged_sigma"), ("Average", "AveragedSigmaClip")),
        "linear_fit": (
            IntegrationParams(rejection="linear_fit", linear_fit_high=3.5),
            ("Average", "LinearFit"),
        ),
        "esd": (IntegrationParams(rejection="esd", esd_alpha=0.1), ("Average", "Rejection_ESD")),
        "auto with 3 frames": (
            IntegrationParams(rejection="auto").resolved(3, "bias"),
            ("Average", "PercentileClip"),
        ),
        "auto with 40 bias frames": (
            IntegrationParams(rejection="auto").resolved(40, "bias"),
            ("Average", "WinsorizedSigmaClip"),
        ),
        "auto with 16 flats, range clipping, no truncation": (
            IntegrationParams(
                rejection="auto", range_clip_low=True, range_low=0.01, truncate_on_out_of_range=False
            ).resolved(16, "flat"),
            ("Average", "LinearFit"),
        ),
    }
    base = build_plan(tmp_path)
    template = base.jobs[0]
    jobs = tuple(
        dataclasses.replace(
            template, id=name, integration=params, output=template.output.with_name(f"master {i}.xisf")
        )
        for i, (name, (params, _)) in enumerate(variants.items())
    )
    plan = dataclasses.replace(base, jobs=jobs)
    records, _ = run(node, tmp_path, plan)
    for execution, job, (_, names) in zip(records["executions"], jobs, variants.values(), strict=True):
        got = execution["params"]
        recorded = (got["combination"], got["rejection"], got["normalization"], got["rejectionNormalization"])
        assert recorded[: len(names)] == names, job.id
        for f in dataclasses.fields(IntegrationParams):
            if f.name not in ENUM_FIELDS | NO_PIXINSIGHT_ID:
                assert got[camel(f.name)] == getattr(job.integration, f.name), (job.id, f.name)


def test_a_failing_group_does_not_stop_the_others(node: str, tmp_path: Path) -> None:
    plan = build_plan(tmp_path)
    bias_job, dark_job, flat_job, raw_flat_job = plan.jobs
    raw_flat_job.inputs[1].unlink()  # ImageIntegration throws on a missing file
    records, log = run(node, tmp_path, plan, env={"PJSR_STANDIN_FAIL_MATCH": "gain100_300s"})

    statuses = parse_status_lines(log)
    assert statuses[bias_job.id]["status"] == "ok"
    assert statuses[dark_job.id] == {
        **statuses[dark_job.id],
        "status": "failed",
        "message": "ImageIntegration failed",
    }
    # The flat needs this run's master dark, which was not built: checked with File.exists, not tried.
    assert statuses[flat_job.id]["status"] == "failed"
    assert statuses[flat_job.id]["message"] == (
        f"master dark not found: {dark_job.output} (job {dark_job.id} did not build it)"
    )
    assert statuses[raw_flat_job.id]["status"] == "failed"
    assert "file not found" in statuses[raw_flat_job.id]["message"]
    assert [e["process"] for e in records["executions"]] == ["ImageIntegration"] * 3
    assert bias_job.output.is_file()
    for job in (dark_job, flat_job, raw_flat_job):
        assert not job.output.exists()
        assert not job.output.with_name(job.output.stem + ".apcal-partial.xisf").exists()


def test_fits_output_and_a_library_bias(node: str, parameters: dict, tmp_path: Path) -> None:
    plan = build_plan(
        tmp_path,
        output_format="fits",
        library_bias=True,
        calibration=CalibrationParams(
            dark_optimization_low=2.5, dark_optimization_window=512, pedestal=100, output_postfix="_cal"
        ),
    )
    bias_job, dark_job, flat_job, _ = plan.jobs
    # Only the dark and the flats run: the library bias is used as is.
    records, log = run(node, tmp_path, plan, jobs=(dark_job, flat_job))
    cal = flat_job.calibration
    assert cal is not None and cal.bias is not None
    assert records["executions"][1]["params"] == expected_calibration(
        parameters, flat_job, cal.bias.path, dark_job.output, calibrate_dark=True
    )
    assert [w["format"] for w in records["writes"]] == ["FITS", "FITS"]
    assert records["writes"][1]["path"].endswith("masterFlat_L 'lum'.apcal-partial.fits")
    assert flat_job.output.suffix == ".fits" and flat_job.output.read_bytes().startswith(b"SIMPLE  =")
    assert {s["status"] for s in parse_status_lines(log).values()} == {"ok"}
    assert bias_job.id not in parse_status_lines(log)


def test_a_flat_dark_is_subtracted_as_is(node: str, parameters: dict, tmp_path: Path) -> None:
    base = build_plan(tmp_path)
    flatdark = make_group(tmp_path, FrameType.FLATDARK, "fd 2s")
    fd_job = dataclasses.replace(
        base.jobs[0],
        id="flatdark:fd",
        group=flatdark,
        output=base.master_dir / "masterFlatDark_fd.xisf",
        keywords=master_keywords(FrameType.FLATDARK, 3),
    )
    flat_job = dataclasses.replace(
        base.jobs[2],
        calibration=FlatCalibration(
            bias=None,
            dark=None,
            flatdark=MasterRef(fd_job.output, FrameType.FLATDARK, "run", job_id=fd_job.id),
            params=CalibrationParams(),
            output_dir=base.calibrated_dir / "L 'lum'",
        ),
        depends_on=(fd_job.id,),
    )
    plan = dataclasses.replace(base, jobs=(fd_job, flat_job))
    records, log = run(node, tmp_path, plan)
    assert records["executions"][1]["params"] == expected_calibration(
        parameters, flat_job, None, fd_job.output, calibrate_dark=False
    )
    assert {s["status"] for s in parse_status_lines(log).values()} == {"ok"}


def test_duplicate_calibrated_names_fail_that_job_only(node: str, tmp_path: Path) -> None:
    base = build_plan(tmp_path)
    flat_job = base.jobs[2]
    twin = flat_job.group.frames[0].path.parent.parent / "elsewhere" / flat_job.group.frames[0].path.name
    twin_frame = dataclasses.replace(flat_job.group.frames[0], path=twin)
    twin.parent.mkdir()
    twin.write_bytes(b"x")
    group = dataclasses.replace(flat_job.group, frames=(*flat_job.group.frames, twin_frame))
    flat_job = dataclasses.replace(flat_job, group=group)
    plan = dataclasses.replace(base, jobs=(base.jobs[0], base.jobs[1], flat_job))
    records, log = run(node, tmp_path, plan)
    statuses = parse_status_lines(log)
    assert statuses[flat_job.id]["status"] == "failed"
    assert "same file name" in statuses[flat_job.id]["message"]
    assert [e["process"] for e in records["executions"]] == ["ImageIntegration"] * 2


@pytest.mark.parametrize(
    ("statement", "complaint"),
    [
        ("P.sigmaLoww = 4;", "unknown parameter 'sigmaLoww'"),
        ("P.integrationImageId = 'x';", "read-only"),
        ("P.overrideImageType = true;", "unknown parameter 'overrideImageType'"),  # newer builds only
        ("P.sigmaLow = '4';", "expected a finite number"),
        ("P.sigmaLow = 11;", "above the maximum 10"),
        ("P.minMaxLow = 1.5;", "expected an integer"),
        ("P.clipLow = 1;", "expected a Boolean"),
        ("P.rejection = ImageIntegration.prototype.Winsorized;", "expected one of"),
        ("P.rejection = 42;", "expected one of"),
        ("P.images = [[true, 'a.fits']];", "must have 4 columns"),
        ("P.images = [[true, 'a.fits', '', 0]];", "expected a String"),
        ("var x = P.integrationImageID;", "no parameter or method 'integrationImageID'"),
        ("console.beginLog('/tmp/x.log');", "takes no arguments"),
        ("File.writeTextFile('/tmp/x', 3);", "expected a String"),
    ],
)
def test_the_standin_is_strict(node: str, tmp_path: Path, statement: str, complaint: str) -> None:
    script = tmp_path / "bad.js"
    script.write_text(f"var P = new ImageIntegration;\n{statement}\n", encoding="utf-8")
    done = run_standin(node, script, tmp_path / "records.json")
    assert done.returncode == 1
    assert complaint in done.stderr


def test_non_finite_numbers_never_reach_the_script(tmp_path: Path) -> None:
    plan = build_plan(tmp_path)
    job = dataclasses.replace(plan.jobs[0], integration=IntegrationParams(sigma_low=float("nan")))
    with pytest.raises(ValueError, match="non-finite"):
        render_script(plan, (job,), log_path=tmp_path / "log")
    job = dataclasses.replace(plan.jobs[0], integration=IntegrationParams(rejection="auto"))
    with pytest.raises(ValueError, match=r"ImageIntegration\.rejection has no equivalent for 'auto'"):
        render_script(plan, (job,), log_path=tmp_path / "log")


def test_an_esd_rule_pixinsight_lacks_fails_the_job_not_the_script(node: str, tmp_path: Path) -> None:
    """ImageIntegration always counts ESD outliers its own way: a Rosner job is reported failed, unrun."""
    plan = build_plan(tmp_path)
    rosner = dataclasses.replace(
        plan.jobs[0], integration=IntegrationParams(rejection="esd", esd_rule="rosner")
    )
    records, log = run(node, tmp_path, plan, jobs=(rosner,))
    status = parse_status_lines(log)[rosner.id]
    assert status["status"] == "failed"
    assert "esd_rule 'rosner' has no PixInsight equivalent" in status["message"]
    assert records["executions"] == []
    # The same rule with another algorithm is irrelevant and runs.
    fine = dataclasses.replace(rosner, integration=IntegrationParams(rejection="sigma", esd_rule="rosner"))
    records, log = run(node, tmp_path, plan, jobs=(fine,))
    assert parse_status_lines(log)[fine.id]["status"] == "ok"


@pytest.mark.parametrize("scaling", ["optimize", "pixinsight", "exposure", "none"])
def test_each_dark_scaling_renders_imagecalibrations_settings(
    node: str, parameters: dict, tmp_path: Path, scaling: str
) -> None:
    """ImageCalibration scales a dark only by its own optimization: pixinsight is it; optimize and
    exposure (apcal's own) fall back to it and the script says so; none turns it off."""
    params = CalibrationParams(dark_scaling=scaling, dark_optimization_low=2.0, dark_optimization_window=256)
    plan = build_plan(tmp_path, calibration=params)
    bias_job, dark_job, flat_job, _ = plan.jobs
    records, log = run(node, tmp_path, plan, jobs=(bias_job, dark_job, flat_job))
    recorded = records["executions"][2]["params"]
    assert recorded == expected_calibration(
        parameters, flat_job, bias_job.output, dark_job.output, calibrate_dark=True
    )
    assert recorded["optimizeDarks"] is (scaling != "none")
    assert (recorded["darkOptimizationLow"], recorded["darkOptimizationWindow"]) == (2.0, 256)
    script = render_script(plan, (flat_job,), log_path=tmp_path / "log.txt")
    cannot = f"// dark_scaling: {scaling} is apcal's own and PixInsight's ImageCalibration cannot do it"
    assert (cannot in script) == (scaling in ("optimize", "exposure"))
    assert f"// dark_scaling: {scaling}" in script
    scales = parse_status_lines(log)[flat_job.id]["dark_scales"]
    assert set(scales) == ({p.name for p in flat_job.inputs} if scaling != "none" else set())
