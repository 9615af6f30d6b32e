"""The Siril script's doors: quoting, comments, numbers, the parameter mapping and the version dialects."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path, PurePosixPath

import pytest

from apcal.engines.siril.render import ssf_comment, ssf_number, ssf_path, stack_arguments
from apcal.engines.siril.version import DIALECTS, dialect_for, parse_version
from apcal.errors import EngineError
from apcal.params import IntegrationParams

V10, V12 = DIALECTS[(1, 0)], DIALECTS[(1, 2)]


def test_a_folder_with_spaces_is_one_quoted_argument() -> None:
    assert ssf_path(PurePosixPath("/data/My Night/logs")) == '"/data/My Night/logs"'


@pytest.mark.parametrize("bad", ['/data/say "hi"', "/data/two\nlines", "/data/tab\there", "/x/\x7f"])
def test_characters_siril_cannot_parse_are_refused_with_the_path(bad: str) -> None:
    with pytest.raises(EngineError, match="cannot be written into a Siril script"):
        ssf_path(PurePosixPath(bad))


def test_comments_stay_on_one_line() -> None:
    assert ssf_comment("flat/FILTER_L\nrm -rf /\r\x00x") == "flat/FILTER_L rm -rf /  x"


def test_numbers_are_finite() -> None:
    assert ssf_number(0.006666666666666667) == "0.006666666667"
    with pytest.raises(ValueError):
        ssf_number(float("nan"))


@pytest.mark.parametrize(
    ("params", "v10", "v12"),
    [
        (IntegrationParams(), "rej w 4 3 -nonorm", "rej w 4 3 -nonorm"),
        (
            IntegrationParams(rejection="sigma", sigma_low=2.5, normalization="multiplicative"),
            "rej s 2.5 3 -norm=mul",
            "rej s 2.5 3 -norm=mul",
        ),
        (IntegrationParams(rejection="percentile"), "rej p 0.2 0.1 -nonorm", "rej p 0.2 0.1 -nonorm"),
        (
            IntegrationParams(rejection="linear_fit", normalization="additive_scaling"),
            "rej l 5 4 -norm=addscale",
            "rej l 5 4 -norm=addscale",
        ),
        (IntegrationParams(rejection="none"), "rej s 1000 1000 -nonorm", "rej n -nonorm"),
        (IntegrationParams(combination="median"), "med -nonorm", "med -nonorm"),
        (IntegrationParams(combination="maximum"), "max", "max"),
    ],
)
def test_stack_arguments_per_dialect(params: IntegrationParams, v10: str, v12: str) -> None:
    assert stack_arguments(params, V10) == v10
    assert stack_arguments(params, V12) == v12


def test_versions_are_read_from_siril_cli_output() -> None:
    assert parse_version("siril 1.0.6\n") == (1, 0, 6)
    assert parse_version("siril-cli 1.2.6 (x86_64)") == (1, 2, 6)
    assert parse_version("no version here") is None
    assert dialect_for((1, 0, 6), "siril-cli").calibrate == "preprocess"
    assert dialect_for((1, 2, 1), "siril-cli").calibrate == "calibrate"


@pytest.mark.parametrize("version", [(1, 4, 0), (0, 99, 10)])
def test_an_unknown_siril_is_refused_naming_its_version(version: tuple[int, int, int]) -> None:
    shown = ".".join(map(str, version))
    expected = rf"is Siril {shown}: apcal writes scripts for Siril 1.0.x and 1.2.x"
    with pytest.raises(EngineError, match=expected):
        dialect_for(version, "siril-cli")


def test_the_installed_siril_is_detected(tmp_path: Path) -> None:
    from apcal.engines.siril.version import detect_dialect
    from tests.engines.siril.siril_helpers import siril_cli

    dialect, version = detect_dialect(siril_cli())
    assert version.startswith(dialect.name + ".")
    assert replace(dialect) in DIALECTS.values()


SIRIL_COMMANDS = {
    "requires", "set32bits", "setcpu", "cd", "load", "fmul", "save", "iadd", "close", "link",
    "preprocess", "calibrate", "stack",
}  # fmt: skip


@pytest.mark.parametrize("dialect", [V10, V12])
def test_header_values_reach_the_script_only_in_comments(tmp_path: Path, dialect) -> None:
    """Job ids and output names carry header values (quotes, backslashes, newlines, </script>): every
    line that is not a comment starts with one of the commands apcal writes, and the only quoted
    argument is the work folder."""
    from apcal.engines.siril.render import job_view, render_preamble, render_script, render_section
    from tests.engines.pixinsight.pixinsight_helpers import HOSTILE, build_plan

    plan = build_plan(tmp_path)
    flat = plan.jobs[2]  # calibrated with this run's bias and dark: its flats get a 2 s exposure
    frames = tuple(replace(f, keywords={**f.keywords, "EXPOSURE": 2.0}) for f in flat.group.frames)
    jobs = (*plan.jobs[:2], replace(flat, group=replace(flat.group, frames=frames)), plan.jobs[3])
    work = tmp_path / "work dir"
    views = [job_view(job, n, work / f"{n:02d}", dialect) for n, job in enumerate(jobs, 1)]
    assert not [v.problem for v in views if v.problem]
    sections = [render_section(v, dialect, len(views)) for v in views]
    script = render_script(render_preamble(dialect, total=4, stamp="20261207_010203", threads=2), sections)
    assert HOSTILE.splitlines()[0] in script  # in the comments
    for line in script.splitlines():
        if not line or line.startswith("#"):
            continue
        assert line.split()[0] in SIRIL_COMMANDS, line
        if '"' in line:
            assert line.startswith('cd "') and line.endswith('"') and str(work) in line
    assert "setcpu 2" in script and f"requires {dialect.requires}" in script
    # the calibrated flat: the dark scaled by exposure on 1.0, Siril's -opt on 1.2
    assert ("-opt" in script) == dialect.dark_optimization
    assert ("fmul 0.006666666667" in script) != dialect.dark_optimization  # 2 s / 300 s


def test_a_flat_group_of_unknown_exposure_cannot_have_its_dark_scaled_by_exposure(tmp_path: Path) -> None:
    from apcal.engines.siril.render import job_view
    from tests.engines.pixinsight.pixinsight_helpers import build_plan

    view = job_view(build_plan(tmp_path).jobs[2], 3, tmp_path, V10)  # its flats have no EXPOSURE
    assert (
        view.problem == "the flats' exposures differ or are unknown, so the dark cannot be scaled by exposure"
    )


def test_an_output_folder_siril_cannot_quote_is_refused_before_anything_runs(tmp_path: Path) -> None:
    from apcal.engines.siril.engine import SirilEngine
    from apcal.recipe.model import SirilSettings
    from tests.engines.pixinsight.pixinsight_helpers import build_plan

    plan = build_plan(tmp_path)  # its output folder's name holds a double quote
    with pytest.raises(EngineError, match="cannot be written into a Siril script"):
        SirilEngine(SirilSettings(script_only=True)).check(plan)
    assert not plan.logs_dir.exists()
