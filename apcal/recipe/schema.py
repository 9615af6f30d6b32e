"""The recipe schema: loading it, validating against it with located errors, and filling its defaults.

``schemas/recipe.schema.json`` is the one home of every key, its description and its default; this
module is the only reader of it.
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from apcal.recipe.source import Located, PathKey, json_path


@cache
def recipe_schema() -> dict[str, Any]:
    """The recipe JSON Schema as shipped in the package (``apcal.schemas``)."""
    return json.loads(resources.files("apcal.schemas").joinpath("recipe.schema.json").read_text("utf-8"))


def schema_text() -> str:
    return resources.files("apcal.schemas").joinpath("recipe.schema.json").read_text("utf-8")


def validate(located: Located) -> list[str]:
    """Every schema problem at once, as ``file:line:col: $.path: message``, in file order."""
    validator = jsonschema.Draft202012Validator(recipe_schema())
    found: list[tuple[tuple[str, int, int], str]] = []
    for error in validator.iter_errors(located.data):
        for path, message, at_key in _explain(error):
            written = located.expanded.get(path)
            if written is not None:  # never echo a variable's value: show what the recipe says
                message = message.replace(repr(error.instance), f"{written!r} (expanded)")
            mark = located.mark((*path, "<key>")) if at_key else located.mark(path)
            found.append(((str(mark.file), mark.line, mark.col), f"{mark}: {json_path(path)}: {message}"))
    found.sort()
    return list(dict.fromkeys(m for _, m in found))  # first occurrence of each, in order


def _explain(error: jsonschema.ValidationError) -> list[tuple[PathKey, str, bool]]:
    """Turn one jsonschema error into messages a recipe author can act on.

    Each message comes with its path and whether it is about the key itself (an unknown key is shown
    where the key is written; a bad value where the value is).
    """
    path: PathKey = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(_properties(error.schema))
        extra = [k for k in error.instance if k not in allowed]
        out = []
        for key in extra:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(allowed)})"
            out.append(((*path, key), f"unknown key '{key}'{hint}", True))
        return out
    if error.validator == "required":
        return [(path, f"missing required key {error.message.split(' is a required')[0]}", False)]
    if error.validator == "oneOf" and error.context:
        best = min(error.context, key=lambda e: len(list(e.absolute_path)))
        return [(path, best.message, False)]
    if error.validator == "enum" and isinstance(error.instance, str):
        values = error.validator_value
        allowed = [str(v) for v in values] if isinstance(values, list) else []
        close = difflib.get_close_matches(error.instance, allowed, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(allowed)}"
        return [(path, f"{error.instance!r} is not one of {', '.join(allowed)} ({hint})", False)]
    if error.validator == "const":
        return [(path, f"must be {error.validator_value!r}, not {error.instance!r}", False)]
    return [(path, error.message, False)]


def _properties(schema: object) -> dict[str, Any]:
    if not isinstance(schema, Mapping):  # jsonschema types a subschema as a mapping, bool or unset
        return {}
    props = dict(schema.get("properties", {}))
    ref = schema.get("$ref")
    if ref:
        for key, value in _resolve(ref).get("properties", {}).items():
            props.setdefault(key, value)
    return props


def _resolve(ref: str) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $ref is supported in the recipe schema: {ref}")
    node: Any = recipe_schema()
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def fill_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of validated ``data`` with every absent key that has a schema default filled in.

    Absent objects whose properties have defaults are created, so ``integration.flat`` exists even
    when a recipe does not mention it. A property's own ``default`` wins over its ``$ref``'s.
    """
    return _fill(copy.deepcopy(data), recipe_schema())


def _fill(value: Any, schema: dict[str, Any]) -> Any:
    if isinstance(value, list) and "items" in schema:
        return [_fill(item, schema["items"]) for item in value]
    if not isinstance(value, dict):
        return value
    for key, prop in _properties(schema).items():
        merged = {**_resolve(prop["$ref"]), **prop} if "$ref" in prop else prop
        if key not in value:
            if "default" in prop:
                value[key] = copy.deepcopy(prop["default"])
            elif "default" in merged and "properties" not in merged:
                value[key] = copy.deepcopy(merged["default"])
            elif merged.get("type") == "object" and "properties" in merged:
                value[key] = {}
            else:
                continue
        value[key] = _fill(value[key], _with_local_defaults(prop))
    return value


def _with_local_defaults(prop: dict[str, Any]) -> dict[str, Any]:
    """Schema of ``prop`` with its own property-level defaults laid over its ``$ref``'s."""
    if "$ref" not in prop:
        return prop
    target = _resolve(prop["$ref"])
    props = {k: dict(v) for k, v in target.get("properties", {}).items()}
    for key, override in prop.get("properties", {}).items():
        props.setdefault(key, {}).update(override)
    return {**target, "properties": props}
