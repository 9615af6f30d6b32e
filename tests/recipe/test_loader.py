"""The recipe loader on real files in temporary folders: extends, variables, paths, defaults, errors."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from apcal.errors import RecipeError
from apcal.recipe import load_recipe, recipe_from_mapping
from apcal.recipe.build import parse_size
from apcal.vocabulary import FrameType

MINIMAL = """\
apcal: 1
name: rig
inputs:
  - path: frames
output:
  dir: out
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path, **kwargs: object) -> list[str]:
    with pytest.raises(RecipeError) as info:
        load_recipe(path, **kwargs)  # type: ignore[arg-type]
    return info.value.problems


def test_minimal_recipe_gets_seed_defaults_and_paths_relative_to_the_recipe(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path / "rig", "r.yaml", MINIMAL))
    assert recipe.inputs[0].path == tmp_path / "rig" / "frames"
    assert recipe.output.dir == tmp_path / "rig" / "out"
    assert recipe.grouping.bias == ("INSTRUME", "SET-TEMP", "GAIN", "OFFSET", "READOUTM")
    assert recipe.grouping.dark[-1] == "EXPOSURE"
    assert recipe.grouping.flat[-2:] == ("DATE-OBS", "FILTER")
    assert recipe.engine.name == "native"
    assert recipe.engine.memory_limit == 1 << 30
    assert recipe.engine.pixinsight.instance_id == 123
    bias = recipe.integration[FrameType.BIAS]
    assert (bias.combination, bias.rejection, bias.sigma_low, bias.sigma_high) == (
        "average",
        "auto",  # WBPP 3's default: bestRejectionMethod by frame type and count
        4,
        3,
    )
    assert all(recipe.integration[t].rejection == "auto" for t in FrameType if t in recipe.integration)
    assert bias.winsorization_cutoff == 5 and bias.normalization == "none"
    flat = recipe.integration[FrameType.FLAT]
    assert (flat.normalization, flat.rejection_normalization) == ("multiplicative", "equalize_fluxes")
    assert recipe.calibration.dark_scaling == "optimize" and recipe.calibration.dark_optimization_low == 3.0
    assert recipe.calibration.pedestal == 0 and recipe.calibration.output_postfix == "_c"


def test_recipe_is_immutable(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path, "r.yaml", MINIMAL))
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipe.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        recipe.integration[FrameType.BIAS] = recipe.integration[FrameType.DARK]  # type: ignore[index]


def test_extends_deep_merges_in_order_and_resolves_base_paths_against_the_base(tmp_path: Path) -> None:
    write(
        tmp_path,
        "shared/base.yaml",
        """\
        apcal: 1
        name: base
        inputs: [{path: base-frames}]
        output: {dir: base-out, format: fits}
        library: {bias: lib/bias, dark: lib/dark}
        integration:
          bias: {sigma_low: 5.0, sigma_high: 2.5}
        grouping: {bias: [INSTRUME, GAIN]}
    """,
    )
    write(
        tmp_path,
        "shared/second.yaml",
        """\
        integration:
          bias: {sigma_high: 3.5}
        grouping: {min_frames: 5}
    """,
    )
    rig = write(
        tmp_path,
        "rigs/rig.yaml",
        """\
        extends: [../shared/base.yaml, ../shared/second.yaml]
        apcal: 1
        name: rig
        output: {dir: out}
        grouping: {bias: [INSTRUME]}
    """,
    )
    recipe = load_recipe(rig)
    assert recipe.name == "rig"
    # inputs and library come from the base and stay relative to the base's folder
    assert recipe.inputs[0].path == tmp_path / "shared" / "base-frames"
    assert recipe.library.bias == tmp_path / "shared" / "lib" / "bias"
    # mappings merge key by key: dir from the rig, format from the base
    assert recipe.output.dir == tmp_path / "rigs" / "out"
    assert recipe.output.format == "fits"
    # later bases win over earlier ones, the recipe over all; lists replace
    bias = recipe.integration[FrameType.BIAS]
    assert (bias.sigma_low, bias.sigma_high) == (5.0, 3.5)
    assert recipe.grouping.bias == ("INSTRUME",)
    assert recipe.grouping.min_frames == 5


def test_extends_cycle_is_reported_with_the_chain(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "extends: b.yaml\n" + MINIMAL)
    write(tmp_path, "b.yaml", "extends: [a.yaml]\n")
    (msg,) = problems(tmp_path / "a.yaml")
    assert msg.endswith("$.extends: extends cycle: a.yaml -> b.yaml -> a.yaml")
    assert "b.yaml:1:" in msg


def test_self_extension_and_missing_base(tmp_path: Path) -> None:
    write(tmp_path, "self.yaml", "extends: self.yaml\n" + MINIMAL)
    assert "extends cycle: self.yaml -> self.yaml" in problems(tmp_path / "self.yaml")[0]
    write(tmp_path, "orphan.yaml", "extends: [nowhere.yaml]\n" + MINIMAL)
    (msg,) = problems(tmp_path / "orphan.yaml")
    assert "orphan.yaml:1:" in msg and "base recipe not found" in msg and "nowhere.yaml" in msg
    write(tmp_path, "badext.yaml", "extends: {a: 1}\n" + MINIMAL)
    assert "$.extends: must be a path or a list" in problems(tmp_path / "badext.yaml")[0]


def test_variables_env_fallbacks_types_and_literal_dollar(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "v.yaml",
        """\
        apcal: 1
        name: ${rig}-$${literal}
        vars:
          root: ${env:ASTRO:-/fallback}
          rig: asi${model}
          model: 2600
          slot: 7
        inputs: [{path: "${root}/n1"}, {path: "${env:NIGHT}"}]
        output: {dir: "${root}/out"}
        engine: {pixinsight: {instance_id: "${slot}"}}
    """,
    )
    recipe = load_recipe(path, environ={"NIGHT": "/nights/2026-11-23"})
    assert recipe.name == "asi2600-${literal}"
    assert recipe.inputs[0].path == Path("/fallback/n1")
    assert recipe.inputs[1].path == Path("/nights/2026-11-23")
    assert recipe.engine.pixinsight.instance_id == 7  # a whole-string reference keeps the int type
    recipe = load_recipe(path, environ={"NIGHT": "/n", "ASTRO": "/srv"})
    assert recipe.output.dir == Path("/srv/out")


def test_undefined_variables_and_loops_are_located(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "v.yaml",
        """\
        apcal: 1
        name: ${nope}
        vars:
          a: ${b}
          b: x${a}
        inputs: [{path: "${env:APCAL_TEST_UNSET_VARIABLE}"}]
        output: {dir: "${bad ref}"}
    """,
    )
    found = problems(path, environ={})
    assert any("v.yaml:2:7: $.name: undefined variable 'nope'" in m for m in found)
    assert any("$.vars.a: variable loop: a -> b -> a" in m for m in found)
    assert any("v.yaml:6:17: $.inputs[0].path: environment variable" in m for m in found)
    assert any("$.output.dir: bad reference" in m for m in found)


def test_typo_wrong_type_and_missing_inputs_are_all_reported_with_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.yaml",
        """\
        apcal: 1
        name: bad
        grupping:
          bias: [INSTRUME]
        engine:
          pixinsight:
            instance_id: abc
        output:
          dir: out
    """,
    )
    found = problems(path)
    assert len(found) == 3
    assert found[0].endswith("bad.yaml:1:1: $: missing required key 'inputs'")
    assert found[1].endswith("bad.yaml:3:1: $.grupping: unknown key 'grupping' (did you mean 'grouping'?)")
    assert found[2].endswith("bad.yaml:7:18: $.engine.pixinsight.instance_id: 'abc' is not of type 'integer'")


def test_errors_in_a_base_point_into_the_base(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", "integration:\n  dark: {sigma_lo: 3}\n")
    rig = write(tmp_path, "rig.yaml", "extends: base.yaml\n" + MINIMAL)
    (msg,) = problems(rig)
    assert "base.yaml:2:10: $.integration.dark.sigma_lo: unknown key 'sigma_lo'" in msg
    assert "did you mean 'sigma_low'" in msg


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("apcal: 1\nname: [unclosed\n", "x.yaml:3:1: YAML syntax error: expected ',' or ']'"),
        ("- a\n- b\n", "x.yaml:1:1: a recipe is a mapping of keys, not a list"),
        ("", "x.yaml:1:1: the recipe is empty"),
        (MINIMAL + "name: again\n", "x.yaml:7:1: $.name: duplicate key"),
        (MINIMAL + "1: one\n", "x.yaml:7:1: $['1']: keys must be text"),
        (MINIMAL.replace("apcal: 1", "apcal: 2"), "x.yaml:1:8: $.apcal: must be 1, not 2"),
        (MINIMAL + "engine: {memory_limit: lots}\n", "$.engine.memory_limit: 'lots' does not match"),
        (MINIMAL + "inputs: []\n", "duplicate key"),
        (
            MINIMAL.replace("  - path: frames", "  - {recursive: true}"),
            "$.inputs[0]: missing required key 'path'",
        ),
    ],
)
def test_every_error_kind_names_file_line_and_column(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, "x.yaml", text)
    assert any(expected in m for m in problems(path)), problems(path)


def test_unreadable_inputs(tmp_path: Path) -> None:
    assert problems(tmp_path / "missing.yaml")[0].endswith("missing.yaml: recipe file not found")
    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    assert "not UTF-8 text" in problems(tmp_path / "latin1.yaml")[0]
    assert "is a folder" in problems(tmp_path)[0]


def test_yaml_tags_are_not_executed(tmp_path: Path) -> None:
    path = write(tmp_path, "evil.yaml", MINIMAL + "description: !!python/object/apply:os.system ['true']\n")
    assert "could not determine a constructor" in problems(path)[0]


def test_in_memory_recipe_resolves_against_base_dir(tmp_path: Path) -> None:
    recipe = recipe_from_mapping(
        {"apcal": 1, "name": "cli", "inputs": [{"path": "in"}], "output": {"dir": "out"}}, base_dir=tmp_path
    )
    assert recipe.inputs[0].path == tmp_path / "in"
    with pytest.raises(RecipeError, match=r"<command line>:1:1: \$: missing required key 'output'"):
        recipe_from_mapping({"apcal": 1, "name": "cli", "inputs": [{"path": "in"}]}, base_dir=tmp_path)


@pytest.mark.parametrize(
    ("text", "size"),
    [(1234, 1234), ("1GiB", 1 << 30), ("512MiB", 512 << 20), ("2G", 2 << 30), ("500MB", 500_000_000)],
)
def test_sizes(text: int | str, size: int) -> None:
    assert parse_size(text) == size
