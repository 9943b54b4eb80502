"""A study's zoo entries: every (arm, size) becomes one entry file, written where its origin's
entries live (the project's `model_zoo/`, or the user's zoo folder).

The rules that make an entry from an arm, the same for every study:
- at 'all' the arm's recipe as written; at n examples per class about `low_data.steps`
  minibatches of `low_data.batch_size` (a head warm start keeps its share of the epochs);
- an arm with a tuning budget is tuned at 'all' and at the sizes in `low_data.tuned`; its
  other sizes take the nearest tuned size's selection (epochs scaled to their own length)
  and wait for it;
- an entry file keeps its tuning selection while its grid is unchanged, and its published
  weights while its (selected) recipe and source are unchanged; otherwise they are dropped
  and the entry must be tuned or trained and published again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import get_type_hints

from benchmark.errors import BenchmarkError
from benchmark.studies.spec import ArmSpec, Study

TUNING_DEFAULTS = {"seeds": 1, "clean_at_least": None, "points": None}   # tuning fields an entry file leaves out when default
INHERITED_NOTE = " Hyperparameters: those selected at n={nearest} (not tuned at this size)."


@dataclass(frozen=True)
class Planned:
    """One entry a study makes: its file's contents, and the entry whose selection its recipe waits for."""

    name: str
    key: str                     # the arm's (or source's) key in the study
    size: int | str
    data: dict
    inherits: str | None = None  # an entry whose tuning selection this recipe takes
    is_source: bool = False


@dataclass
class _Made:
    name: str
    base: dict                   # the recipe before any selection
    recipe: dict                 # with the selection (its own or inherited) where one exists
    grid: dict | None            # its own tuning grid, when tuned at this size
    selected: dict | None        # its own valid selection
    inherits: str | None
    nearest: int | None          # the tuned size it inherits from


def _int_fields() -> set[str]:
    from benchmark.strategies.recipe import Recipe

    hints = get_type_hints(Recipe)
    return {f.name for f in fields(Recipe) if hints[f.name] in (int, int | None)}


def scaled(value, factor: float, integer: bool):
    return max(1, int(value * factor)) if integer else round(value * factor, 6)


def _with_epochs(recipe: dict, epochs: int) -> dict:
    """The recipe at another training length; a head warm start keeps its share of the epochs."""
    out = {**recipe, "epochs": epochs}
    if recipe.get("warm_start_epochs"):
        out["warm_start_epochs"] = epochs * recipe["warm_start_epochs"] // recipe["epochs"]
    return out


class Expander:
    """Expands one study (not a group) against the entry files that exist now (`existing`: name -> mapping)."""

    def __init__(self, study: Study, existing: dict[str, dict], n_classes: int, task_ref: str,
                 known_entries: set[str] = frozenset()):
        if study.parts:
            raise BenchmarkError(f"{study.path}: a group of studies expands part by part")
        self.study, self.existing, self.n_classes, self.task_ref = study, existing, n_classes, task_ref
        self.known = set(known_entries)
        self.where = study.path or study.name
        self.ints = _int_fields()
        self._made: dict[tuple[str, object], _Made] = {}

    # names ---------------------------------------------------------------------------------------
    def entry_name(self, key: str, size) -> str:
        arm = self.study.arm(key)
        if arm.name:
            stem = arm.name.replace("{n}", str(size))
        else:
            stem = key if size == "all" else f"{key}_n{size}"
        return self.study.names.replace("{arm}", stem)

    def relative(self, stem: str) -> str:
        """An entry name from its stem (a name without the study's pattern), as roles give them."""
        return self.study.names.replace("{arm}", str(stem))

    # recipes -------------------------------------------------------------------------------------
    def _chain(self, key: str, seen: tuple = ()) -> ArmSpec:
        """The arm whose strategy, head and base recipe `key` uses (following `like`)."""
        arm = self.study.arm(key)
        if arm.like is None:
            return arm
        if arm.like in seen:
            raise BenchmarkError(f"{self.where}: arms {' -> '.join(seen + (key, arm.like))} form a cycle of 'like'")
        return self._chain(arm.like, seen + (key,))

    def _tuned_sizes(self, arm: ArmSpec) -> list:
        low = [s for s in arm.sizes if s != "all"]
        tuned = [s for s in low if s in self.study.low_data.tuned] or low  # no tuned size of its own: tune them
        return (["all"] if "all" in arm.sizes else []) + sorted(tuned)

    def _low(self, recipe: dict, n: int) -> dict:
        low = self.study.low_data
        per_epoch = math.ceil(self.n_classes * n / low.batch_size)
        out = {**recipe, "batch_size": low.batch_size}
        return _with_epochs(out, max(1, low.steps // per_epoch))

    def _grid(self, key: str, arm: ArmSpec, base: dict) -> dict:
        if arm.tuning.points:  # the settings as listed: `tuning_spec` writes them as `points`
            return {"points": [dict(p) for p in arm.tuning.points]}
        grid = {}
        for field_name, values in arm.tuning.grid.items():
            if isinstance(values, dict):
                if field_name not in base:
                    raise BenchmarkError(f"{self.where}: field 'arms.{key}.tuning.grid.{field_name}': a scale needs "
                                         f"recipe.{field_name} to scale")
                values = [scaled(base[field_name], f, field_name in self.ints) for f in values["scale"]]
            grid[field_name] = list(values)
        return grid

    def _selection(self, name: str, spec: dict) -> dict | None:
        """The selection recorded in the entry's file, while it was made for this grid, these tuning seeds and
        this clean floor."""
        old = self.existing.get(name) or {}
        tuning = old.get("tuning") or {}
        same = all(tuning.get(k, TUNING_DEFAULTS.get(k)) == spec.get(k, TUNING_DEFAULTS.get(k))
                   for k in ("grid", *TUNING_DEFAULTS))
        return tuning.get("selected") if same else None

    def tuning_spec(self, key: str, size, grid: dict) -> dict:
        """What an entry's file says of its tuning, before the selection (defaults left out)."""
        spec = self.study.arm(key).tuning
        out = ({"points": grid["points"]} if "points" in grid else {"grid": grid}) | {"criterion": spec.criterion}
        seeds = spec.seeds.get(size, 1) if isinstance(spec.seeds, dict) else spec.seeds
        if seeds != 1:
            out["seeds"] = seeds
        if spec.clean_at_least is not None:
            out["clean_at_least"] = self.entry_name(spec.clean_at_least, size)
        return out

    def made(self, key: str, size) -> _Made:
        """The recipe of arm `key` at `size` (memoized)."""
        if (key, size) in self._made:
            return self._made[(key, size)]
        arm = self.study.arm(key)
        if size not in arm.sizes:
            raise BenchmarkError(f"{self.where}: arm {key!r} has no size {size!r} (sizes: {arm.sizes})")
        name = self.entry_name(key, size)
        if arm.like is not None:
            other = self.made(arm.like, size) if size in self.study.arm(arm.like).sizes else None
            if other is None:
                raise BenchmarkError(f"{self.where}: arm {key!r} is like {arm.like!r} at size {size!r}, which "
                                     f"{arm.like!r} does not run at")
            recipe = {**other.recipe, **arm.recipe}
            inherits = other.name if other.grid is not None else other.inherits
            result = _Made(name, recipe, recipe, None, None, inherits, None)
        else:
            base = dict(arm.recipe) if size == "all" else self._low(dict(arm.recipe), size)
            result = _Made(name, base, base, None, None, None, None)
            if arm.tuning is not None:
                tuned = self._tuned_sizes(arm)
                if size in tuned:
                    result.grid = self._grid(key, arm, base)
                    result.selected = self._selection(name, self.tuning_spec(key, size, result.grid))
                    if result.selected:
                        result.recipe = {**base, **result.selected}
                else:
                    nearest = self.inherits_from(key, size)
                    src = self.made(key, nearest)
                    result.nearest, result.inherits = nearest, src.name
                    if src.selected:
                        result.recipe = self._inherit(base, src.selected, src.base["epochs"])
        self._made[(key, size)] = result
        return result

    def inherits_from(self, key: str, size) -> int | None:
        """The tuned size whose selection arm `key` takes at `size` (None: tuned there, or no tuning)."""
        arm = self.study.arm(key)
        if arm.tuning is None or arm.like is not None:
            return None
        tuned = self._tuned_sizes(arm)
        if size in tuned:
            return None
        return min((t for t in tuned if t != "all"), key=lambda t: (abs(t - size), t))

    @staticmethod
    def _inherit(recipe: dict, selected: dict, base_epochs: int) -> dict:
        out = {**recipe, **{k: v for k, v in selected.items() if k != "epochs"}}
        if "epochs" in selected:
            out = _with_epochs(out, max(1, round(recipe["epochs"] * selected["epochs"] / base_epochs)))
        return out

    # entries -------------------------------------------------------------------------------------
    def source_name(self, key: str, arm: ArmSpec) -> str | None:
        src = arm.source if arm.source is not None or arm.like is None else self.study.arm(arm.like).source
        if src is None:
            return None
        if src in self.study.sources:
            return self.entry_name(src, "all")
        if src in self.study.arms:
            raise BenchmarkError(f"{self.where}: field 'arms.{key}.source' names arm {src!r}; a source must be one "
                                 "of the study's sources or a zoo entry")
        if self.known and src not in self.known:
            raise BenchmarkError(f"{self.where}: field 'arms.{key}.source' names {src!r}, which is neither a source of "
                                 f"this study ({', '.join(self.study.sources) or 'none'}) nor a zoo entry")
        return src

    def claim_entries(self, exploratory: bool = False) -> set[str]:
        """The claim tests' entries and the sources they start from: these get the claims' seed count (with
        `exploratory`, the entries that play a role on the exploratory seeds only, which keep those)."""
        claims = self.study.claims
        if claims is None or claims.seeds is None:
            return set()
        names: set[str] = set()

        def collect(v):
            if isinstance(v, (str, int)) and not isinstance(v, bool):
                names.add(self.relative(v))
            elif isinstance(v, list):
                for x in v:
                    collect(x)
            elif isinstance(v, dict):
                for x in v.values():
                    collect(x)

        collect(claims.exploratory_roles if exploratory else claims.roles)
        by_name = {self.entry_name(k, s): (k, s) for k in self.all_keys() for s in self.study.arm(k).sizes}
        for n in list(names):
            if n in by_name:
                k, _ = by_name[n]
                src = self.source_name(k, self.study.arm(k))
                if src:
                    names.add(src)
        return names

    def all_keys(self) -> list[str]:
        return list(self.study.sources) + list(self.study.arms)

    def entries(self) -> list[Planned]:
        study = self.study
        more = self.claim_entries()
        explored = self.claim_entries(exploratory=True) - more
        out = []
        for key in self.all_keys():
            arm = study.arm(key)
            is_source = key in study.sources
            label = "sources" if is_source else "arms"
            root = self._chain(key)
            if root.strategy is None:
                raise BenchmarkError(f"{self.where}: field '{label}.{key}' has no strategy")
            for size in arm.sizes:
                made = self.made(key, size)
                seeds = arm.seeds or (study.claims.all_seeds if made.name in more else None) or \
                    (study.claims.seeds if made.name in explored else None) or study.seeds
                desc = arm.description
                if isinstance(desc, dict):
                    desc = desc.get("all" if size == "all" else "n", "")
                inherited = INHERITED_NOTE.format(nearest=made.nearest) if made.nearest is not None else ""
                desc = desc.replace("{n}", str(size)).replace("{inherited}", inherited)
                suites = arm.suites_at.get(size, arm.suites if arm.suites is not None else study.suites)
                d = {"name": made.name, "task": arm.task or self.task_ref, "architecture": study.architecture,
                     "threat_model": study.threat_model, "eps": study.eps,
                     "protocol": study.entry_protocol or study.protocol, "strategy": root.strategy}
                source = self.source_name(key, arm)
                if source:
                    d["source"] = source
                d.update({"n_per_class": size, "head": dict(root.head or {"type": "linear"}),
                          "seeds": list(range(seeds)), "recipe": made.recipe})
                if made.grid is not None:
                    d["tuning"] = self.tuning_spec(key, size, made.grid)
                    if made.selected:
                        d["tuning"]["selected"] = made.selected
                d.update({"reference": arm.reference or study.reference, "description": desc, "suites": list(suites)})
                out.append(Planned(made.name, key, size, keep_weights(d, self.existing.get(made.name)),
                                   made.inherits, is_source))
        names = [p.name for p in out]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise BenchmarkError(f"{self.where}: two arms make the entry {dup!r}: give one a 'name'")
        return out


def keep_weights(new: dict, old: dict | None) -> dict:
    """Carry over weights pinned for the same recipe and source (placed where entry files hold them)."""
    if not old or not old.get("weights") or old.get("recipe") != new["recipe"] or old.get("source") != new.get("source"):
        return new
    tail = ("reference", "description", "suites")
    return {**{k: v for k, v in new.items() if k not in tail}, "weights": old["weights"], **{k: new[k] for k in tail}}


def read_existing(folder: Path) -> dict[str, dict]:
    """The entry files of a zoo folder as plain mappings (what the expansion keeps selections and weights from)."""
    import yaml

    out = {}
    for path in sorted(Path(folder).glob("*.yaml")) if Path(folder).is_dir() else []:
        data = yaml.safe_load(path.read_text())
        if isinstance(data, dict):
            out[path.stem] = data
    return out
