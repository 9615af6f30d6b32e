"""Recipes: load, extend, expand, validate and build the typed, immutable :class:`Recipe`."""

from apcal.recipe.loader import load_recipe, recipe_from_mapping
from apcal.recipe.model import Recipe

__all__ = ["Recipe", "load_recipe", "recipe_from_mapping"]
