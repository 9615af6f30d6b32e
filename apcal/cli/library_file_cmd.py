"""``apcal library file ROOT MASTER...``: file masters into a library by hand, without the QC gate.

The gate holds back a master that differs from its predecessor; sometimes the difference is the point
(a new camera driver, a cleaned sensor window, a repaired cooler), and the observer who has looked at
the held master needs a way to accept it. Filing follows ``library.publish`` in everything else: the
same ``<root>/<type>/<camera>/<name>`` layout, never replacing a file, bytes already in the library not
filed twice.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from apcal.cli.options import json_option, library_recipe_option, library_root_argument


@click.command("file")
@library_root_argument
@click.argument("masters", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@library_recipe_option
@json_option
def file_cmd(root: Path, masters: tuple[Path, ...], recipe_path: str | None, as_json: bool) -> None:
    """File MASTERS into ROOT without the QC gate (a held master you have checked)."""
    from apcal.cli.library_cmd import recipe_for
    from apcal.errors import EXIT_GROUP_FAILED
    from apcal.library.catalog import Catalog
    from apcal.library.publish import publish

    with Catalog(root, recipe_for(recipe_path).headers) as catalog:
        outcomes = publish(catalog, masters, gate=None)
    if as_json:
        click.echo(json.dumps({"root": str(root), "published": [o.to_dict() for o in outcomes]}, indent=2))
    else:
        for o in outcomes:
            where = f" as {o.path}" if o.path else ""
            click.echo(f"{o.source}: {o.status.replace('_', ' ')}{where} ({o.reason})")
    if any(o.status == "failed" for o in outcomes):
        raise SystemExit(EXIT_GROUP_FAILED)
