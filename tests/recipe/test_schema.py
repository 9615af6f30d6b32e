"""The schema is the one home of keys and defaults: it must agree with the typed model, in both directions."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest

from apcal.params import CalibrationParams, IntegrationParams
from apcal.recipe import load_recipe
from apcal.recipe import model as m
from apcal.recipe.schema import recipe_schema

ROOT = Path(__file__).resolve().parents[2]


def fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def props(node: dict) -> set[str]:
    return set(node["properties"])


def test_schema_is_valid_2020_12_and_every_key_has_a_description() -> None:
    schema = recipe_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    missing = []

    def walk(node: dict, where: str) -> None:
        for key, sub in node.get("properties", {}).items():
            if "description" not in sub:
                missing.append(f"{where}.{key}")
            if "$ref" not in sub:  # per-type default overrides of a $ref carry no description
                walk(sub, f"{where}.{key}")
            if "items" in sub:
                walk(sub["items"], f"{where}.{key}[]")
        if node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False or "$ref" in node, where

    walk(schema, "$")
    walk(schema["$defs"]["integration"], "$defs.integration")
    assert missing == []


def test_schema_properties_match_the_typed_model() -> None:
    schema = recipe_schema()
    p = schema["properties"]
    assert props(p["inputs"]["items"]) == fields(m.InputSet)
    assert props(p["grouping"]) == fields(m.Grouping)
    assert props(p["grouping"]["properties"]["tolerances"]) == fields(m.Tolerances)
    assert props(p["screening"]) == fields(m.Screening)
    assert props(p["library"]) == fields(m.Library)
    assert props(p["output"]) == fields(m.Output)
    assert props(p["engine"]) == fields(m.EngineSettings)
    assert props(p["engine"]["properties"]["pixinsight"]) == fields(m.PixInsightSettings)
    assert props(p["headers"]) == fields(m.Headers)
    assert props(schema["$defs"]["integration"]) == fields(IntegrationParams)
    # optimize_darks: the seed's name, read as an alias of dark_scaling (recipe.build).
    assert props(p["calibration"]) == fields(CalibrationParams) | {"optimize_darks"}
    top = fields(m.Recipe) - {"source"}
    assert top <= set(p) and set(p) - top == {"apcal", "description", "extends", "vars"}


def test_schema_defaults_equal_the_dataclass_defaults() -> None:
    """Both must say the same: the dataclass defaults serve code that builds params directly."""
    integ = recipe_schema()["$defs"]["integration"]["properties"]
    for f in dataclasses.fields(IntegrationParams):
        assert integ[f.name]["default"] == f.default, f.name
    calib = recipe_schema()["properties"]["calibration"]["properties"]
    for f in dataclasses.fields(CalibrationParams):
        assert calib[f.name]["default"] == f.default, f.name
    screening = recipe_schema()["properties"]["screening"]["properties"]
    for f in dataclasses.fields(m.Screening):
        assert screening[f.name]["default"] == f.default, f.name
    output = recipe_schema()["properties"]["output"]["properties"]
    assert output["rejection_maps"]["default"] is m.Output.rejection_maps


@pytest.mark.parametrize(
    ("yaml_value", "expected"),
    [
        (None, m.Screening()),
        ("off", m.Screening(enabled=False)),
        ("false", m.Screening(enabled=False)),
        ("on", m.Screening()),
        ("{z_threshold: 7}", m.Screening(z_threshold=7.0)),
        ("{enabled: false, flat_max_level: 0.9}", m.Screening(enabled=False, flat_max_level=0.9)),
    ],
)
def test_screening_section_accepts_off_and_fills_defaults(tmp_path: Path, yaml_value, expected) -> None:
    text = "apcal: 1\nname: t\ninputs: [{path: in}]\noutput: {dir: out}\n"
    if yaml_value is not None:
        text += f"screening: {yaml_value}\n"
    (tmp_path / "r.yaml").write_text(text)
    recipe = load_recipe(tmp_path / "r.yaml", environ={})
    assert recipe.screening == expected
    assert recipe.output.rejection_maps is False


def test_shipped_schema_is_the_top_level_file() -> None:
    shipped = recipe_schema()
    assert shipped == json.loads((ROOT / "schemas" / "recipe.schema.json").read_text())


@pytest.mark.parametrize("path", sorted((ROOT / "recipes").rglob("*.yaml")), ids=lambda p: p.name)
def test_shipped_recipes_are_valid(path: Path) -> None:
    recipe = load_recipe(path, environ={})
    assert recipe.name and recipe.inputs
