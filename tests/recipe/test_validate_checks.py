"""``apcal validate`` finds what ``plan`` and ``run`` would refuse, each problem at its file:line:col."""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import apcal


def test_every_check_that_needs_no_pixels_is_reported_at_its_value(tmp_path: Path) -> None:
    (tmp_path / "frames").mkdir()
    (tmp_path / "a.fits").write_bytes(b"SIMPLE  =                    T")
    (tmp_path / "recipe.yaml").write_text(
        "apcal: 1\n"
        "name: v\n"
        "inputs:\n"
        "  - path: frames\n"
        "  - path: nowhere\n"
        "  - path: a.fits\n"
        "output: {dir: a.fits/out}\n"
        "headers: {timezone: America/Torronto}\n"
        "engine: {name: pixinsight, pixinsight: {binary: ./bin/PixInsight}}\n"
        "library: {dark: darks}\n"
    )
    result = apcal("validate", "recipe.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"recipe.yaml:5:11: $.inputs[1].path: {tmp_path}/nowhere does not exist",
        f"recipe.yaml:6:11: $.inputs[2].path: {tmp_path}/a.fits is a file, not a folder",
        f"recipe.yaml:7:15: $.output.dir: {tmp_path}/a.fits/out cannot be created "
        f"({tmp_path}/a.fits is a file)",
        "recipe.yaml:8:21: $.headers.timezone: unknown IANA time zone 'America/Torronto' "
        "(did you mean 'America/Toronto'?)",
        f"recipe.yaml:9:49: $.engine.pixinsight.binary: PixInsight not found at {tmp_path}/bin/PixInsight "
        "(not an executable file)",
        f"recipe.yaml:10:17: $.library.dark: {tmp_path}/darks does not exist",
    ]


def test_an_unclosed_quote_is_reported_where_it_opens(tmp_path: Path) -> None:
    lines = ["apcal: 1", "name: q", "inputs: [{path: .}]", "output: {dir: out}"]
    lines += [f"# note {i}" for i in range(len(lines), 32)]
    lines.append("description: \"tonight's flats")  # line 33: the quote is never closed
    lines += [f"# more {i}" for i in range(len(lines), 53)]
    lines.append('headers: {timezone: "Europe/Berlin"}')  # line 54: the next quote
    (tmp_path / "recipe.yaml").write_text("\n".join(lines) + "\n")
    result = apcal("validate", "recipe.yaml", cwd=tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("recipe.yaml:33:14: YAML syntax error: a quoted string opened here is not closed")
    assert "line 54" in line


def test_an_unclosed_quote_at_the_end_is_reported_where_it_opens(tmp_path: Path) -> None:
    (tmp_path / "recipe.yaml").write_text('apcal: 1\nname: "x\n')
    result = apcal("validate", "recipe.yaml", cwd=tmp_path)
    assert result.stderr.startswith("recipe.yaml:2:7: YAML syntax error: a quoted string opened here")


def test_enum_values_get_a_did_you_mean(tmp_path: Path) -> None:
    (tmp_path / "recipe.yaml").write_text(
        "apcal: 1\nname: e\ninputs: [{path: .}]\noutput: {dir: out}\n"
        "integration: {bias: {rejection: winsorised}}\n"
    )
    result = apcal("validate", "recipe.yaml", cwd=tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("recipe.yaml:5:33: $.integration.bias.rejection: 'winsorised' is not one of ")
    assert line.endswith("(did you mean 'winsorized'?)")


def test_schema_only_skips_the_checks_of_this_machine(tmp_path: Path) -> None:
    (tmp_path / "recipe.yaml").write_text(
        "apcal: 1\nname: s\ninputs: [{path: /srv/nowhere}]\noutput: {dir: out}\n"
    )
    assert apcal("validate", "recipe.yaml", cwd=tmp_path).returncode == 2
    assert apcal("validate", "--schema-only", "recipe.yaml", cwd=tmp_path).returncode == 0


def test_output_folders_run_would_refuse_are_reported(tmp_path: Path) -> None:
    """The output-folder rules of ``run`` (apcal.plan.output_dir): the input folder itself, and a link to
    a missing disk, each at the output's line."""
    (tmp_path / "frames").mkdir()
    (tmp_path / "nas").symlink_to(tmp_path / "unmounted" / "calibration", target_is_directory=True)
    for output, problem in [
        (
            "frames",
            f"{tmp_path}/frames is the input folder inputs[0].path (refused: use a folder of its own)",
        ),
        (
            "nas",
            f"{tmp_path}/nas is a symbolic link to {tmp_path}/unmounted/calibration, which does not "
            "exist (an unmounted disk?)",
        ),
    ]:
        (tmp_path / "recipe.yaml").write_text(
            f"apcal: 1\nname: o\ninputs: [{{path: frames}}]\noutput: {{dir: {output}}}\n"
        )
        result = apcal("validate", "recipe.yaml", cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr.splitlines() == [f"recipe.yaml:4:15: $.output.dir: {problem}"]
