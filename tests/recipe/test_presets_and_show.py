"""Presets shipped in the package (``extends: [apcal:wbpp]``) and ``apcal recipe show --resolved``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import yaml

from apcal.recipe import load_recipe
from tests.cli.helpers import apcal

RIG = """\
extends: [apcal:nightly]
apcal: 1
name: rig
vars: {{root: {root}}}
inputs: [{{path: "${{root}}/frames"}}]
output: {{dir: out}}
integration:
  flat: {{sigma_high: 2.5}}
notify: {{urls: ["ntfys://token123@ntfy.sh/topic"]}}
"""


def _rig(tmp_path: Path) -> Path:
    (tmp_path / "frames").mkdir()
    path = tmp_path / "rig.yaml"
    path.write_text(RIG.format(root=tmp_path))
    return path


def test_a_recipe_extends_presets_by_name(tmp_path: Path) -> None:
    recipe = load_recipe(_rig(tmp_path))
    assert recipe.grouping.keywords  # from apcal:wbpp, through apcal:nightly
    assert recipe.integration["flat"].sigma_high == 2.5  # the rig's own value on top
    assert recipe.integration["flat"].normalization == "multiplicative"  # apcal:wbpp's
    assert recipe.library.use_new_masters and recipe.output.keep_reports == 14  # apcal:nightly's


def test_an_unknown_preset_is_one_line_naming_the_presets(tmp_path: Path) -> None:
    for name in ("apcal:wbp", "apcal:../../etc/passwd"):
        (tmp_path / "r.yaml").write_text(f"extends: [{name}]\napcal: 1\n")
        result = apcal("validate", "r.yaml", cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr.splitlines() == [
            f"r.yaml:1:11: $.extends: unknown preset '{name}' (presets: apcal:nightly, apcal:wbpp)"
        ]


def test_show_resolved_is_a_standalone_recipe_equal_to_the_one_a_run_uses(tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    shown = apcal("recipe", "show", rig, "--resolved", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    data = yaml.safe_load(shown.stdout)
    assert "extends" not in data and "vars" not in data
    assert data["inputs"][0]["path"] == str(tmp_path / "frames")
    assert data["notify"]["urls"] == ["ntfys://***"] and "token123" not in shown.stdout
    (tmp_path / "other").mkdir()
    standalone = tmp_path / "other" / "resolved.yaml"  # another folder: every path must be absolute
    standalone.write_text(shown.stdout)
    again, original = load_recipe(standalone), load_recipe(rig)
    assert again.notify.urls == ("ntfys://***",)
    assert replace(again, source=None, notify=original.notify) == replace(original, source=None)


def test_show_without_resolved_prints_the_file_as_written(tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    assert apcal("recipe", "show", rig, cwd=tmp_path).stdout == rig.read_text()
