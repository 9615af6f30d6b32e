"""Bad recipes and output folders: one clear line per problem, exit 2, nothing written anywhere.

And a library folder with no masters: a note, not an error (the run's own masters calibrate the flats).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.hardening.corpus import RECIPE, as_plain_user, assert_same_masters, last_report, run_apcal

CASES = {
    "yaml_syntax": (
        {"recipe.yaml": "apcal: 1\nname: [unclosed\ninputs: [{path: frames}]\n"},
        ["recipe.yaml:3:7: YAML syntax error: expected ',' or ']', but got ':'"],
    ),
    "control_character": (
        {"recipe.yaml": 'apcal: 1\nname: "rig\x01"\ninputs: [{path: frames}]\n'},
        ["recipe.yaml:2:11: YAML syntax error: character 0x0001 is not allowed"],
    ),
    "schema": (
        {
            "recipe.yaml": RECIPE.replace("name: hardening", "name: 7\ngrupping: {}")
            + "engine: {name: native, threads: many}\n"
        },
        [
            "recipe.yaml:2:7: $.name: 7 is not of type 'string'",
            "recipe.yaml:3:1: $.grupping: unknown key 'grupping' (did you mean 'grouping'?)",
            "recipe.yaml:7:33: $.engine.threads: 'many' is not of type 'integer'",
        ],
    ),
    "extends_cycle": (
        {
            "recipe.yaml": "extends: [a.yaml]\n" + RECIPE,
            "a.yaml": "extends: b.yaml\n",
            "b.yaml": "extends: [a.yaml]\n",
        },
        ["b.yaml:1:11: $.extends: extends cycle: a.yaml -> b.yaml -> a.yaml"],
    ),
    "missing_input": (
        {"recipe.yaml": RECIPE.replace("path: frames", "path: nowhere")},
        ["recipe.yaml:3:17: $.inputs[0].path: {night}/nowhere does not exist"],
    ),
    "output_is_a_file": (
        {"recipe.yaml": RECIPE.replace("dir: out", "dir: frames.txt"), "frames.txt": "not a folder\n"},
        ["recipe.yaml:4:15: $.output.dir: {night}/frames.txt exists and is not a folder"],
    ),
    "output_below_a_file": (
        {"recipe.yaml": RECIPE.replace("dir: out", "dir: frames.txt/out"), "frames.txt": "a file\n"},
        [
            "recipe.yaml:4:15: $.output.dir: {night}/frames.txt/out cannot be created "
            "({night}/frames.txt is a file)"
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_bad_recipe_exits_2_with_located_messages_and_writes_nothing(night: Path, name: str) -> None:
    files, expected = CASES[name]
    for file, text in files.items():
        (night / file).write_text(text, encoding="utf-8")
    before = sorted(p.relative_to(night) for p in night.rglob("*"))
    result = run_apcal("run", "recipe.yaml", cwd=night)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [line.format(night=night) for line in expected]
    assert result.stdout == ""
    assert sorted(p.relative_to(night) for p in night.rglob("*")) == before  # nothing written


def test_an_output_folder_that_is_not_writable_exits_2(night: Path) -> None:
    out = night / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        result = run_apcal("run", "recipe.yaml", cwd=night, **as_plain_user())
    finally:
        out.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"apcal: output folder {out} is not writable"]
    assert list(out.iterdir()) == []


def test_a_library_folder_without_masters_is_a_note(night: Path, clean) -> None:
    (night / "library").mkdir()
    (night / "library" / "readme.txt").write_text("masters go here\n")
    (night / "recipe.yaml").write_text(RECIPE + "library: {bias: library, dark: library}\n")
    plan = run_apcal("plan", "recipe.yaml", cwd=night)
    assert plan.returncode == 0, plan.stderr
    assert f"note: library folder {night / 'library'} holds no usable masters" in plan.stdout
    result = run_apcal("run", "recipe.yaml", "-q", cwd=night)
    assert result.returncode == 0, result.stderr
    report = last_report(night)
    assert report["notes"] == [f"library folder {night / 'library'} holds no usable masters (1 other files)"]
    assert_same_masters(night, clean)


def test_validate_lists_every_problem_of_a_bad_recipe(night: Path) -> None:
    files, expected = CASES["schema"]
    (night / "recipe.yaml").write_text(files["recipe.yaml"], encoding="utf-8")
    result = run_apcal("validate", "recipe.yaml", cwd=night)
    assert result.returncode == 2
    assert result.stderr.splitlines() == expected
    assert not os.path.exists(night / "out")
