"""Bad files beside a good night: each is skipped with its reason (or read, by design), the run exits 0,
its masters equal a clean run's, and a rerun finds everything up to date.

The whole corpus goes into one night and one run (a bad file must not spoil its neighbours either);
each case is then checked on its own against that run's report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from apcal.frames.model import shown_path
from tests.hardening import corpus
from tests.hardening.corpus import (
    FILE_CASES,
    as_plain_user,
    assert_same_masters,
    last_report,
    leftovers,
    run_apcal,
)

CORPUS = "zz_corpus"


@pytest.fixture(scope="module")
def corpus_run(template: Path, tmp_path_factory: pytest.TempPathFactory):
    night = corpus.copy_night(template, tmp_path_factory.mktemp("corpus") / "n")
    made = {}
    for name, case in FILE_CASES.items():
        folder = night / "frames" / CORPUS / name
        folder.mkdir(parents=True)
        made[name] = case.make(folder, night)
    first = run_apcal("run", "recipe.yaml", cwd=night)
    report = last_report(night)
    second = run_apcal("run", "recipe.yaml", cwd=night)
    return night, made, first, report, second


def test_the_corpus_run_exits_0_and_its_masters_equal_a_clean_runs(corpus_run, clean) -> None:
    night, _, first, report, second = corpus_run
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr + first.stdout
    assert report["summary"] == {"built": 3}
    assert_same_masters(night, clean)
    assert leftovers(night) == []
    # the HTML report (odd file names included) was written too
    assert (night / "out" / "logs" / f"{Path(report['log']).stem}_report.html").is_file()
    assert "could not write" not in first.stderr
    # a rerun completes: nothing to do, nothing failing every night
    assert second.returncode == 0, second.stderr
    assert last_report(night)["summary"] == {"up_to_date": 3}


@pytest.mark.parametrize("name", sorted(FILE_CASES))
def test_each_bad_file_gets_its_reason(corpus_run, name: str) -> None:
    _, made, first, report, _ = corpus_run
    case = FILE_CASES[name]
    assert first.returncode == 0
    path = shown_path(made[name])
    if case.reason is not None:
        reasons = [s["reason"] for s in report["skipped_files"] if s["path"] == path]
        assert reasons, f"{path} not listed among the skipped files"
        assert any(case.reason in r for r in reasons), reasons
    else:
        skipped = [g for g in report["skipped_groups"] if g["name"].endswith(case.group)]
        assert [g["reason"] for g in skipped] == ["1 frame, fewer than min_frames (3)"]
        assert all(path not in g["group"]["frames"] for g in report["groups"])


def test_a_non_utf8_name_is_shown_with_escapes_everywhere(corpus_run) -> None:
    night, made, first, report, _ = corpus_run
    shown = shown_path(made["non_utf8_name"])
    assert shown.endswith("bias_\\xff\\xfe.fits")
    log = Path(report["log"]).read_text(encoding="utf-8")  # valid UTF-8 throughout
    assert "Logging error" not in log + first.stderr
    plan = run_apcal("plan", "recipe.yaml", "--files", cwd=night, env={"COLUMNS": "400"})
    assert plan.returncode == 0, plan.stderr
    assert "bias_\\xff\\xfe.fits" in plan.stdout


def test_an_unreadable_file_is_skipped(night: Path, clean) -> None:
    bad = corpus.unreadable(night / "frames" / CORPUS, night)
    result = run_apcal("run", "recipe.yaml", "-q", cwd=night, **as_plain_user())
    assert result.returncode == 0, result.stderr
    skipped = {s["path"]: s["reason"] for s in last_report(night)["skipped_files"]}
    assert skipped[str(bad)] == f"{bad}: permission denied"
    assert_same_masters(night, clean)


def test_a_group_mixing_bitpix_integrates_the_same_values(night: Path, clean) -> None:
    """One bias rewritten as float32 holding the same normalized values: the master is unchanged."""
    bias = sorted((night / "frames").rglob("*_BIAS_*.fits"))[1]
    header, pixels = corpus.read_fits(bias)
    bias.unlink()
    fits.PrimaryHDU(pixels.astype(np.float32) / np.float32(65535), header=header).writeto(bias)
    result = run_apcal("run", "recipe.yaml", "-q", cwd=night)
    assert result.returncode == 0, result.stderr
    assert_same_masters(night, clean)


def test_nan_and_inf_pixels_are_rejected_not_spread(night: Path, clean) -> None:
    """A dark with NaN, +inf and -inf pixels (float32): the master stays finite and otherwise equal."""
    dark = sorted((night / "frames").rglob("*_DARK_*.fits"))[0]
    header, pixels = corpus.read_fits(dark)
    data = pixels.astype(np.float32) / np.float32(65535)
    bad = [(3, 4), (5, 6), (7, 8)]
    for (row, col), value in zip(bad, (np.nan, np.inf, -np.inf), strict=True):
        data[row, col] = value
    dark.unlink()
    fits.PrimaryHDU(data, header=header).writeto(dark)
    result = run_apcal("run", "recipe.yaml", "-q", cwd=night)
    assert result.returncode == 0, result.stderr
    built = corpus.masters(night)
    assert sorted(built) == sorted(clean)
    for name, image in built.items():
        assert np.isfinite(image).all(), name
        np.testing.assert_allclose(image, clean[name], atol=2e-4, err_msg=name)
