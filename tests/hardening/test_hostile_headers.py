"""Hostile header values (FILTER and INSTRUME with '/', '..', quotes, backslashes, newlines, ``</script>``,
300 characters) in real FITS files: every name stays inside the output folder, and the PixInsight script
built from them stays valid and does what the plan says (run under Node against the PJSR stand-in)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from apcal.io.image import write_image
from apcal.vocabulary import Keyword
from tests.hardening.corpus import (
    HOSTILE_VALUES,
    donor,
    last_report,
    leftovers,
    read_fits,
    run_apcal,
    write_variant,
)
from tests.hardening.test_faults import fake_pixinsight, pixinsight_env  # noqa: F401 - a fixture

SAFE_NAME = re.compile(r"^master(Bias|Dark|Flat)_[A-Za-z0-9._+-]{1,150}\.xisf$")


def add_hostile_flats(night: Path) -> int:
    """Three flats per hostile FILTER and three per hostile INSTRUME; returns the number of groups.

    FITS cards cannot hold control characters (astropy refuses such a file, and apcal skips it with
    that reason), XISF keywords can: values with newlines go into XISF frames.
    """
    header, pixels = read_fits(donor(night))
    for label, value in HOSTILE_VALUES.items():
        for key in ("FILTER", "INSTRUME"):
            for i in range(3):
                cards = {"IMAGETYP": "FLAT", "EXPOSURE": 1.0, "EXPTIME": 1.0, "FRAMENUM": i, key: value}
                path = night / "frames" / "hostile" / f"{key}_{label}_{i}.fits"
                if value.isprintable():
                    write_variant(path, night, cards=cards)
                    continue
                keywords = [Keyword(c.keyword, c.value, c.comment) for c in header.cards if c.keyword]
                keywords = [k for k in keywords if k.name not in cards]
                keywords += [Keyword(name, v, "") for name, v in cards.items()]
                write_image(path.with_suffix(".xisf"), pixels.astype(np.float32) / 65535, keywords)
    return 2 * len(HOSTILE_VALUES)


def test_hostile_values_stay_inside_the_output_and_the_script_does_what_the_plan_says(
    night: Path,
    fake_pixinsight: Path,  # noqa: F811
) -> None:
    hostile_groups = add_hostile_flats(night)
    plan = run_apcal("plan", "recipe.yaml", "--json", cwd=night)
    assert plan.returncode == 0, plan.stderr
    jobs = json.loads(plan.stdout)["jobs"]
    assert len(jobs) == 3 + hostile_groups

    before = {p for p in night.rglob("*")}
    result = run_apcal("run", "recipe.yaml", cwd=night, env=pixinsight_env(night, "ok"))
    assert result.returncode == 0, result.stderr
    report = last_report(night)
    assert report["summary"] == {"built": len(jobs)}

    out = (night / "out").resolve()
    master = out / "master"
    outputs = sorted(Path(job["output"]) for job in jobs)
    assert outputs == sorted(Path(g["output"]) for g in report["groups"])
    assert len(set(outputs)) == len(outputs)  # distinct values, distinct masters
    for path in outputs:
        assert path.resolve().parent == master, path
        assert SAFE_NAME.match(path.name), path.name
        assert "_." not in path.name and ".." not in path.name  # no part starts with a dot
        assert path.is_file()
    # nothing written outside the output folder (fake-pi/ holds the stand-in's own records)
    after = {p for p in night.rglob("*") if not p.resolve().is_relative_to(out) and "fake-pi" not in p.parts}
    assert after == before
    assert leftovers(night) == []

    # the script ran to its end under the stand-in and moved exactly the plan's masters into place
    records = json.loads((night / "fake-pi" / "records.json").read_text(encoding="utf-8"))
    assert records["error"] is None
    assert sorted(Path(target) for _, target in records["moves"]) == outputs
    script = next((night / "out" / "logs").glob("*_calibrate_masters.js")).read_text(encoding="ascii")
    assert "</script>" not in script
    html = next((night / "out" / "logs").glob("*_report.html")).read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html
