"""``apcal validate``, ``schema``, ``init``, ``--version`` and ``--help`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from apcal import __version__
from tests.cli.helpers import apcal

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_recipes_validate() -> None:
    recipes = sorted((ROOT / "recipes").glob("*.yaml"))
    assert len(recipes) >= 2
    result = apcal("validate", "--schema-only", *recipes, cwd=ROOT)  # written for /srv paths
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ok ") == len(recipes)


def test_bad_recipe_exits_2_naming_every_problem_with_lines(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "apcal: 1\nname: bad\ngrupping: {bias: [GAIN]}\nengine: {threads: many}\noutput: {dir: out}\n"
    )
    result = apcal("validate", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "bad.yaml:1:1: $: missing required key 'inputs'",
        "bad.yaml:3:1: $.grupping: unknown key 'grupping' (did you mean 'grouping'?)",
        "bad.yaml:4:19: $.engine.threads: 'many' is not of type 'integer'",
    ]
    assert "Traceback" not in result.stderr


def test_extends_cycle_exits_2_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("extends: b.yaml\napcal: 1\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    result = apcal("validate", "a.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "extends cycle: a.yaml -> b.yaml -> a.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_init_writes_a_recipe_that_validates_and_never_overwrites(tmp_path: Path) -> None:
    assert apcal("init", "x.yaml", cwd=tmp_path).returncode == 0
    assert "inputs[0].path" in apcal("validate", "x.yaml", cwd=tmp_path).stderr  # ./frames: not yet there
    (tmp_path / "frames").mkdir()
    result = apcal("validate", "x.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (tmp_path / "frames").rmdir()
    again = apcal("init", "x.yaml", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert apcal("init", "x.yaml", "--overwrite", cwd=tmp_path).returncode == 0
    assert [p.name for p in tmp_path.iterdir()] == ["x.yaml"]  # no temporary file left behind


def test_schema_prints_the_recipe_schema() -> None:
    result = apcal("schema")
    assert result.returncode == 0
    assert json.loads(result.stdout) == json.loads((ROOT / "schemas" / "recipe.schema.json").read_text())


def test_version_and_help() -> None:
    assert apcal("--version").stdout.strip() == f"apcal, version {__version__}"
    help_text = apcal("--help").stdout
    for word in ("validate", "schema", "init", "Exit codes", "lock"):
        assert word in help_text


def test_usage_error_exits_2() -> None:
    result = apcal("validate")
    assert result.returncode == 2
    assert "Missing argument" in result.stderr


def test_init_points_editors_at_a_schema_file_that_exists(tmp_path: Path) -> None:
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    assert apcal("init", "x.yaml", cwd=tmp_path).returncode == 0
    first = (tmp_path / "x.yaml").read_text().splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix)
    reference = first.removeprefix(prefix)
    if reference.startswith("file://"):
        schema = Path(url2pathname(urlparse(reference).path))
    else:
        schema = tmp_path / reference
    assert json.loads(schema.read_text()) == json.loads((ROOT / "schemas" / "recipe.schema.json").read_text())
