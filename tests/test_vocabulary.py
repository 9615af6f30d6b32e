"""One table per vocabulary: every enum of the JSON Schemas, the CLI's choices and the PixInsight render
tables are held against the table they derive from, both ways (a schema enum no table claims fails too)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args, get_type_hints

import pytest

from apcal import params
from apcal.engines import ENGINES
from apcal.engines.base import JOB_STATUSES
from apcal.engines.capabilities import CAPABILITIES
from apcal.engines.pixinsight.render import ENUMS
from apcal.errors import EXIT_CODES, RUN_REPORT_EXIT_CODES
from apcal.io.image import FORMATS
from apcal.library.coverage import COVERED_TYPES
from apcal.library.publish import PublishStatus
from apcal.library.records import CATALOGUED_TYPES, STATUSES
from apcal.plan.model import MasterRef
from apcal.recipe.model import EngineSettings, Notify
from apcal.report.json_report import REPORT_STATUSES
from apcal.vocabulary import IMAGE_FORMATS, MASTER_TYPES, FrameType

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
ENGINE_NAMES = get_args(get_type_hints(EngineSettings)["name"])
_CALIBRATION_SOURCE = (
    "/properties/groups/items/properties/calibration/oneOf[1]/properties/{}/oneOf[1]/properties/source"
)

#: (schema, JSON pointer-like path) -> the table its enum must equal, in order.
TABLES: dict[tuple[str, str], tuple[Any, ...]] = {
    ("recipe", "/properties/notify/properties/when"): get_args(get_type_hints(Notify)["when"]),
    ("recipe", "/properties/output/properties/format"): IMAGE_FORMATS,
    ("recipe", "/properties/engine/properties/name"): ENGINE_NAMES,
    ("recipe", "/properties/calibration/properties/dark_scaling"): params.DARK_SCALINGS,
    ("recipe", "/properties/headers/properties/imagetyp_aliases/additionalProperties"): tuple(
        t.value for t in FrameType
    ),
    ("recipe", "/$defs/integration/properties/combination"): params.COMBINATIONS,
    ("recipe", "/$defs/integration/properties/rejection"): params.REJECTIONS,
    ("recipe", "/$defs/integration/properties/normalization"): params.NORMALIZATIONS,
    ("recipe", "/$defs/integration/properties/rejection_normalization"): params.REJECTION_NORMALIZATIONS,
    ("recipe", "/$defs/integration/properties/esd_rule"): params.ESD_RULES,
    ("report", "/properties/engine"): ENGINE_NAMES,
    ("report", "/properties/exit_code"): RUN_REPORT_EXIT_CODES,
    ("report", "/properties/summary/propertyNames"): REPORT_STATUSES,
    ("report", "/properties/groups/items/properties/status"): REPORT_STATUSES,
    ("report", "/properties/groups/items/properties/type"): tuple(t.value for t in MASTER_TYPES),
    ("report", "/properties/groups/items/properties/group/properties/type"): tuple(
        t.value for t in MASTER_TYPES
    ),
    **{
        ("report", _CALIBRATION_SOURCE.format(master)): get_args(get_type_hints(MasterRef)["source"])
        for master in ("bias", "dark", "flatdark")
    },
    (
        "report",
        "/properties/groups/items/properties/calibration/oneOf[1]/properties/dark_scaling/oneOf[1]"
        "/properties/method",
    ): params.DARK_SCALINGS,
    ("report", "/properties/library/properties/masters/items/properties/status"): get_args(PublishStatus),
    ("library", "/$defs/master/properties/type"): tuple(t.value for t in CATALOGUED_TYPES),
    ("library", "/$defs/master/properties/status"): STATUSES,
    ("library", "/$defs/coverage/properties/configurations/items/properties/missing/items"): COVERED_TYPES,
}


def _enums(node: object, path: str = "") -> dict[str, list[Any]]:
    """Every ``enum`` in a schema, by its path."""
    found: dict[str, list[Any]] = {}
    if isinstance(node, dict):
        if "enum" in node:
            found[path] = node["enum"]
        for key, value in node.items():
            found.update(_enums(value, f"{path}/{key}"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.update(_enums(value, f"{path}[{index}]"))
    return found


def _schema_enums() -> dict[tuple[str, str], list[Any]]:
    return {
        (name, path): enum
        for name in ("recipe", "report", "library")
        for path, enum in _enums(json.loads((SCHEMAS / f"{name}.schema.json").read_text())).items()
    }


Where = tuple[str, str]


def _mismatches(enums: dict[Where, list[Any]], tables: dict[Where, tuple[Any, ...]]) -> list[Any]:
    """Schema enums no table claims, tables whose enum is gone, and enums that differ from their table."""
    unclaimed = [("no table", where) for where in enums.keys() - tables.keys()]
    gone = [("no enum", where) for where in tables.keys() - enums.keys()]
    shared = enums.keys() & tables.keys()
    differ = [("differs", where) for where in shared if tuple(enums[where]) != tuple(tables[where])]
    return unclaimed + gone + differ


def test_every_schema_enum_is_its_table() -> None:
    assert _mismatches(_schema_enums(), TABLES) == []


def test_the_schema_check_catches_each_kind_of_drift() -> None:
    enums = _schema_enums()
    where = ("recipe", "/$defs/integration/properties/rejection")
    grown = {**TABLES, where: (*params.REJECTIONS, "new_method")}
    assert _mismatches(enums, grown) == [("differs", where)]
    assert _mismatches(enums, {k: v for k, v in TABLES.items() if k != where}) == [("no table", where)]
    assert _mismatches(enums, {**TABLES, ("recipe", "/nowhere"): ()}) == [("no enum", ("recipe", "/nowhere"))]


@pytest.mark.parametrize(
    ("parameter", "table"),
    [
        ("combination", params.COMBINATIONS),
        ("rejection", params.RESOLVED_REJECTIONS),
        ("normalization", params.NORMALIZATIONS),
        ("rejectionNormalization", params.REJECTION_NORMALIZATIONS),
    ],
)
def test_the_pixinsight_render_tables_cover_their_vocabulary(parameter: str, table: tuple[str, ...]) -> None:
    assert tuple(ENUMS[("ImageIntegration", parameter)]) == table


def test_engines_formats_and_exit_codes_have_one_table_each() -> None:
    assert tuple(ENGINES) == ENGINE_NAMES
    assert tuple(CAPABILITIES) == ENGINE_NAMES
    assert set(FORMATS) == set(IMAGE_FORMATS)
    assert set(JOB_STATUSES) < set(REPORT_STATUSES)
    codes = [code for group, _ in EXIT_CODES for code in group]
    assert len(codes) == len(set(codes)) and set(RUN_REPORT_EXIT_CODES) <= set(codes)


def test_the_cli_choices_derive_from_the_tables() -> None:
    from apcal.cli.run_cmd import command

    choices = {p.name: getattr(p.type, "choices", None) for p in command.params}
    assert tuple(choices["only"]) == ("bias", "dark", "flat")
    assert tuple(choices["engine"]) == ENGINE_NAMES
