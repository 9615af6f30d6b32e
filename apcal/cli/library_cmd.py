"""``apcal library ...``: the catalogue of a master library root (index, list, show, mark, coverage).

Every subcommand refreshes the catalogue before it answers (only files whose size or mtime changed
are read again) and takes ``--json``; the JSON follows ``schemas/library.schema.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from apcal.cli.options import json_option, library_recipe_option, library_root_argument

if TYPE_CHECKING:
    from apcal.library.catalog import Catalog, Refresh
    from apcal.library.records import MasterRecord
    from apcal.recipe.model import Recipe

_ROOT = library_root_argument
_RECIPE = library_recipe_option
TYPES = ("bias", "dark", "flatdark", "flat")


@click.group("library")
def command() -> None:
    """The master library: a catalogue of every master under a root folder (library.root).

    The catalogue lives in ROOT/.apcal/catalog.sqlite; the masters stay the truth, and every command
    refreshes it before it answers.
    """


def recipe_for(recipe_path: str | None) -> Recipe:
    """The recipe whose headers and policy apply: ``--recipe``'s, else the defaults."""
    from apcal.recipe import load_recipe, recipe_from_mapping

    if recipe_path:
        return load_recipe(recipe_path)
    minimal = {"apcal": 1, "name": "library", "inputs": [{"path": "."}], "output": {"dir": "."}}
    return recipe_from_mapping(minimal, base_dir=Path.cwd())


def _open(root: Path, recipe_path: str | None) -> tuple[Catalog, Refresh]:
    from apcal.library.catalog import Catalog

    catalog = Catalog(root, recipe_for(recipe_path).headers)
    return catalog, catalog.refresh()


def listed(
    catalog: Catalog, records: list[MasterRecord] | None = None, recipe_path: str | None = None
) -> list[dict[str, Any]]:
    """The records as JSON, each with its status ('superseded' when a newer good master of the same
    configuration exists) and validity window (by ``library.max_age_days`` of ``--recipe``, else the
    defaults)."""
    from apcal.library.history import listing_status

    records = catalog.records() if records is None else records
    statuses = listing_status(catalog.records())
    max_age = recipe_for(recipe_path).library.max_age_days
    return [{**r.to_dict(catalog.root, statuses.get(r.path)), **_validity(r, max_age)} for r in records]


def _validity(record: MasterRecord, max_age: Mapping[str, float]) -> dict[str, str | None]:
    from datetime import timedelta

    days = max_age.get(record.type.value)
    start = record.night
    until = start + timedelta(days=days) if start is not None and days is not None else None
    return {
        "valid_from": start.isoformat() if start else None,
        "valid_until": until.isoformat() if until else None,
    }


def _print_refresh(refresh: Refresh) -> None:
    for label, paths in (("new", refresh.new), ("changed", refresh.changed), ("removed", refresh.removed)):
        for path in paths:
            click.echo(f"{label}: {path}")
    for path, why in refresh.unreadable:
        click.echo(f"unreadable: {path}: {why}")


@command.command("index")
@_ROOT
@_RECIPE
@json_option
def index_cmd(root: Path, recipe_path: str | None, as_json: bool) -> None:
    """Build or refresh ROOT's catalogue: new, changed, removed and unreadable files are reported."""
    catalog, refresh = _open(root, recipe_path)
    with catalog:
        total = len(catalog.records())
        if as_json:
            click.echo(
                json.dumps({"root": str(catalog.root), "masters": total, **refresh.to_dict()}, indent=2)
            )
            return
        _print_refresh(refresh)
        click.echo(
            f"{catalog.root}: {total} masters catalogued ({len(refresh.new)} new, {len(refresh.changed)} "
            f"changed, {len(refresh.removed)} removed, {len(refresh.unreadable)} unreadable, "
            f"{len(refresh.not_masters)} other files)"
        )


@command.command("list")
@_ROOT
@click.option("--type", "kind", type=click.Choice(TYPES), help="Only masters of this type.")
@_RECIPE
@json_option
def list_cmd(root: Path, kind: str | None, recipe_path: str | None, as_json: bool) -> None:
    """List ROOT's masters: type, night, camera, exposure, status and QC figures."""
    from apcal.vocabulary import FrameType

    catalog, _ = _open(root, recipe_path)
    with catalog:
        rows = listed(catalog, catalog.records(FrameType(kind) if kind else None), recipe_path)
    if as_json:
        click.echo(json.dumps({"root": str(catalog.root), "masters": rows}, indent=2))
        return
    for row in rows:
        for line in master_lines(row, catalog.root):
            click.echo(line)
    click.echo(f"{len(rows)} masters")


def master_lines(row: dict[str, Any], root: Path) -> list[str]:
    """One master of ``library list`` as a short block that reads at 80 columns (as cron mails it):
    what and when, with its status; the file under the root; its QC figures."""
    qc = row["qc"]
    exposure = f" {row['exposure']:g} s" if row["exposure"] is not None else ""
    status = row["status"] + (f" ({row['reason']})" if row["reason"] else "")
    figures = [f"median {_num(qc.get('median_adu'))} ADU"]
    if qc.get("read_noise_adu") is not None:
        figures.append(f"read noise {_num(qc['read_noise_adu'])} ADU")
    else:
        figures.append(f"noise {_num(qc.get('noise_adu'))} ADU")
    if qc.get("dark_current_adu_s") is not None:
        electrons = qc.get("dark_current_e_s")
        figures.append(
            f"dark current {_num(qc['dark_current_adu_s'])} ADU/s"
            + (f" ({_num(electrons)} e-/s)" if electrons is not None else "")
        )
    figures.append(f"{_num(qc.get('hot_pixels'))} hot pixels")
    return [
        f"{row['type']}{exposure}, {row['night'] or 'no night'}, {row['camera']}: {status}",
        f"  {Path(row['path']).relative_to(root)}",
        *_wrapped(figures),
    ]


def _wrapped(items: list[str], width: int = 80) -> list[str]:
    """``items`` joined by commas on indented lines of at most ``width`` columns, never splitting one."""
    lines = [f"  {items[0]}"]
    for item in items[1:]:
        if len(lines[-1]) + 2 + len(item) + 1 > width:
            lines[-1] += ","
            lines.append(f"  {item}")
        else:
            lines[-1] += f", {item}"
    return lines


def _num(value: float | None) -> str:
    """A QC figure as people write it: whole ADU from 100 up, else three significant digits."""
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _find_root(master: Path) -> Path:
    from apcal.library.catalog import CATALOG_DIR, CATALOG_NAME, LibraryError

    for folder in Path(master).absolute().parents:
        if (folder / CATALOG_DIR / CATALOG_NAME).is_file():
            return folder
    raise LibraryError(f"{master}: not inside a catalogued library (run apcal library index ROOT first)")


def _record(catalog: Catalog, master: Path) -> MasterRecord:
    from apcal.library.catalog import LibraryError

    for candidate in (master, catalog.root / master):
        record = catalog.find(candidate)
        if record is not None:
            return record
    raise LibraryError(f"{master}: not a master catalogued under {catalog.root}")


@command.command("show")
@click.argument("master", type=click.Path(dir_okay=False, path_type=Path))
@_RECIPE
@json_option
def show_cmd(master: Path, recipe_path: str | None, as_json: bool) -> None:
    """Everything the catalogue holds about MASTER (a file under a catalogued library root)."""
    catalog, _ = _open(_find_root(master), recipe_path)
    with catalog:
        record = _record(catalog, master)
        (row,) = listed(catalog, [record], recipe_path)
    if as_json:
        click.echo(json.dumps(row, indent=2))
        return
    for name, value in row.items():
        if isinstance(value, dict):
            click.echo(f"{name}:")
            for key, item in value.items():
                click.echo(f"  {key}: {item}")
        else:
            click.echo(f"{name}: {value}")


def _mark(
    root: Path, master: Path, status: str, reason: str | None, recipe_path: str | None, as_json: bool
) -> None:
    catalog, _ = _open(root, recipe_path)
    with catalog:
        record = _record(catalog, master)
        catalog.mark(record, status, reason)
        (row,) = listed(catalog, [catalog.find(catalog.root / record.path) or record], recipe_path)
    if as_json:
        click.echo(json.dumps(row, indent=2))
    else:
        click.echo(f"{record.path}: {status}" + (f" ({reason})" if reason else ""))


@command.command("mark-bad")
@_ROOT
@click.argument("master", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--reason", required=True, help="Why the master must not be used (kept in the catalogue).")
@_RECIPE
@json_option
def mark_bad_cmd(root: Path, master: Path, reason: str, recipe_path: str | None, as_json: bool) -> None:
    """Mark MASTER bad: no plan will use it again (until mark-good)."""
    _mark(root, master, "bad", reason, recipe_path, as_json)


@command.command("mark-good")
@_ROOT
@click.argument("master", type=click.Path(dir_okay=False, path_type=Path))
@_RECIPE
@json_option
def mark_good_cmd(root: Path, master: Path, recipe_path: str | None, as_json: bool) -> None:
    """Mark MASTER good again."""
    _mark(root, master, "good", None, recipe_path, as_json)


def _add_views() -> None:
    from apcal.cli.library_file_cmd import file_cmd
    from apcal.cli.library_views_cmd import coverage_cmd, history_cmd

    command.add_command(file_cmd)
    command.add_command(coverage_cmd)
    command.add_command(history_cmd)


_add_views()
