"""``apcal schema``: print the recipe JSON Schema (for editors and yaml-language-server)."""

from __future__ import annotations

import click


@click.command("schema")
def command() -> None:
    """Print the recipe JSON Schema (draft 2020-12)."""
    from apcal.recipe.schema import schema_text

    click.echo(schema_text(), nl=False)
