"""``${NAME}`` and ``${env:NAME}`` substitution in a recipe's string values.

``${NAME}`` takes a variable from the recipe's ``vars:`` block (bases' vars merged in); ``${env:NAME}`` an
environment variable, ``${env:NAME:-fallback}`` with a fallback when it is unset; ``$${`` is a literal
``${``. A string that is exactly one ``${NAME}`` takes the variable's own type (a number stays a
number). Variables may use other variables and the environment; a loop between them is an error.
Keys are never expanded, so the shape of a recipe cannot depend on the environment.

Expansion is bounded: variables may refer to variables at most :data:`MAX_DEPTH` deep, and no value may
expand to more than :data:`MAX_LENGTH` characters (``a: ${b}${b}``, ``b: ${c}${c}``, ... doubles at
each step). Error messages name variables, never their values: a value may be a secret from the
environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from apcal.recipe.source import Located, PathKey, json_path

MAX_DEPTH = 32
MAX_LENGTH = 64 * 1024

_REF = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Undefined(Exception):
    pass


class _Refused(_Undefined):
    """A bound was exceeded: reported once, alone (a bomb would otherwise give thousands of lines)."""


def expand_variables(located: Located, environ: Mapping[str, str] | None = None) -> list[str]:
    """Expand in place every string value except under ``vars``; return located problems."""
    env = os.environ if environ is None else environ
    raw_vars = located.data.pop("vars", None) or {}
    problems: list[str] = []
    if not isinstance(raw_vars, dict):
        problems.append(f"{located.mark(('vars',))}: $.vars: must be a mapping of names to values")
        raw_vars = {}
    resolve = _Resolver(raw_vars, env)
    for name in raw_vars:
        try:
            resolve(name, ())
        except _Undefined as exc:
            problems.append(f"{located.mark(('vars', name))}: {json_path(('vars', name))}: {exc}")
            if isinstance(exc, _Refused):
                return problems[-1:]
    located.data = _expand_values(located, resolve, env, problems)
    return problems


class _Resolver:
    """The value of each ``vars`` entry, its own references expanded once (memoized); loops, undefined
    names and chains deeper than MAX_DEPTH raise."""

    def __init__(self, raw_vars: dict[str, Any], env: Mapping[str, str]) -> None:
        self._raw = raw_vars
        self._env = env
        self._values: dict[str, Any] = {}

    def __call__(self, name: str, stack: tuple[str, ...] = ()) -> Any:
        if name in self._values:
            return self._values[name]
        if name not in self._raw:
            raise _Undefined(f"undefined variable '{name}'")
        if name in stack:
            raise _Undefined("variable loop: " + " -> ".join((*stack[stack.index(name) :], name)))
        if len(stack) >= MAX_DEPTH:
            raise _Refused(f"variables refer to variables more than {MAX_DEPTH} deep (refused)")
        value = self._raw[name]
        if isinstance(value, str):
            value = _substitute(value, lambda n: self(n, (*stack, name)), self._env)
        self._values[name] = value
        return value


def _expand_values(located: Located, resolve: _Resolver, env: Mapping[str, str], problems: list[str]) -> Any:
    """``located.data`` with every string's references expanded; the written form of each changed
    value is kept in ``located.expanded``, problems appended to ``problems``."""

    def walk(value: Any, path: PathKey) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "$" in value:
            try:
                expanded = _substitute(value, lambda n: resolve(n, ()), env)
            except _Undefined as exc:
                problems.append(f"{located.mark(path)}: {json_path(path)}: {exc}")
            else:
                if expanded != value:
                    located.expanded[path] = value
                return expanded
        return value

    return walk(located.data, ())


def _substitute(text: str, variable: Any, env: Mapping[str, str]) -> Any:
    whole = _REF.fullmatch(text)
    if whole and whole.group(1) is not None and _NAME.match(whole.group(1)):
        return variable(whole.group(1))

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        ref = match.group(1)
        if ref.startswith("env:"):
            name, _, fallback = ref[4:].partition(":-")
            if name in env:
                return env[name]
            if ":-" in ref:
                return fallback
            raise _Undefined(f"environment variable '{name}' is not set")
        if not _NAME.match(ref):
            raise _Undefined(f"bad reference '${{{ref}}}': use ${{NAME}} or ${{env:NAME}}")
        return str(variable(ref))

    expanded = _REF.sub(one, text)
    if len(expanded) > MAX_LENGTH:
        raise _Refused(f"expands to more than {MAX_LENGTH} characters (refused)")
    return expanded
