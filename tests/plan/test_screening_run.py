"""The issue's demonstration: a run with the three bad frames builds the masters a run without them builds."""

from __future__ import annotations

import json

import numpy as np

from apcal.io.image import open_image, read_header
from apcal.recipe.loader import recipe_from_mapping
from apcal.run.runner import run_recipe
from tests.plan.screening_nights import add_light_leak, brighten_flat, copy_night, small_night, warm_sensor


def _run(root, night: str):
    recipe = recipe_from_mapping(
        {
            "apcal": 1,
            "name": night,
            "inputs": [{"path": night}],
            "output": {"dir": f"out_{night}", "format": "fits"},
        },
        base_dir=root,
        environ={},
    )
    outcome = run_recipe(recipe)
    assert outcome.exit_code == 0, [r.message for r in outcome.results]
    return outcome


def test_bad_frames_are_left_out_and_the_masters_equal_those_built_without_them(tmp_path) -> None:
    truth = small_night(tmp_path / "bad")
    copy_night(tmp_path / "bad", tmp_path / "clean")
    bad = [truth.files["flat_L"][2], truth.files["bias"][3], truth.files["dark_60s"][4]]
    brighten_flat(bad[0])
    add_light_leak(bad[1])
    warm_sensor(bad[2])
    for path in bad:
        (tmp_path / "clean" / path.relative_to(tmp_path / "bad")).unlink()

    with_bad, clean = _run(tmp_path, "bad"), _run(tmp_path, "clean")
    assert [r.job_id for r in with_bad.results] == [r.job_id for r in clean.results]
    for a, b in zip(with_bad.results, clean.results, strict=True):
        with open_image(a.output) as ra, open_image(b.output) as rb:
            np.testing.assert_array_equal(ra.read(), rb.read(), err_msg=a.job_id)
        ncombine = [
            {k.name: k.value for k in read_header(p).keywords}["NCOMBINE"] for p in (a.output, b.output)
        ]
        assert ncombine[0] == ncombine[1], a.job_id

    report = json.loads(with_bad.report_path.read_text())
    excluded = {e["path"]: e["reason"] for g in report["groups"] for e in g.get("excluded", [])}
    assert set(excluded) == {str(p) for p in bad}
    assert "above the usable 0.80" in excluded[str(bad[0])]
    assert "gradient" in excluded[str(bad[1])]
    assert "sensor temperature" in excluded[str(bad[2])]
