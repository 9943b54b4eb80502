"""Training strategies, one file each, registered where they are defined; and the typed recipe."""

from benchmark.strategies import bitfit, fast_at, free_at, lora, lwf, natural, pgd_at, trades  # noqa: F401  (registers them)
from benchmark.strategies.base import STRATEGIES, Batch, Strategy, register_strategy
from benchmark.strategies.recipe import RECIPE_FIELDS, Recipe, parse_recipe

__all__ = ["RECIPE_FIELDS", "STRATEGIES", "Batch", "Recipe", "Strategy", "parse_recipe", "register_strategy"]
