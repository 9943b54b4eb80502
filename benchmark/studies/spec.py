"""A study: the benchmark's experiment as a data file (`studies/*.yaml`, or a user's anywhere).

A study fixes in advance what it compares and how: the target task (or a folder of images),
the sources, the arms (strategy, recipe, tuning budget, the data sizes each runs at, which
of those are tuned and which inherit a selection), the seeds (and which roles get more), the
protocol, and the comparisons to report (claims, data-size curves and crossovers). It is
parsed into the typed objects below; every problem is one line naming the field, raised
before any job starts. A study with `parts` is a group of studies run and reported together.

    name: my_study
    task: fmnist-tgt                 # or `data: /path/to/folder` (train/<class>/*, val/<class>/*)
    architecture: wrn_10_1
    eps: 0.1
    protocol: fmnist-linf-quick      # what the study evaluates and reports under
    names: "mine_{arm}"              # entry names ({arm}: the arm's key, or its own `name`)
    seeds: 3
    sources:
      src_robust: {task: fmnist-src, strategy: free_at, recipe: {...}}
    arms:
      linear:
        strategy: linear
        source: src_robust
        recipe: {epochs: 20, batch_size: 128, lr: 0.05}
        tuning: {grid: {lr: {scale: [0.5, 2]}, epochs: {scale: [0.5, 1]}}}
        sizes: [all, 10, 100]
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from benchmark.errors import BenchmarkError
from benchmark.spec import check_field, parse_dataclass, positive, read_yaml, unknown_key

Size = int | Literal["all"]


def _sizes_ok(v) -> str | None:
    if not v:
        return "must list at least one size (examples per class, or all)"
    if any(s != "all" and (not isinstance(s, int) or isinstance(s, bool) or s <= 0) for s in v):
        return "must list positive integers (examples per class) or 'all'"
    if len(set(v)) != len(v):
        return "lists a size twice"
    return None


def _seeds_ok(v) -> str | None:
    return None if v >= 1 else "must be at least 1 (seeds 0 .. N-1)"


@dataclass(frozen=True)
class LowData:
    """How a recipe is made for n examples per class: about `steps` minibatches of `batch_size`,
    whatever n; the sizes in `tuned` get their own tuning, the others take the nearest tuned size's."""

    steps: int = field(default=400, metadata=check_field(positive))
    batch_size: int = field(default=64, metadata=check_field(positive))
    tuned: list[int] = field(default_factory=lambda: [10, 100])


@dataclass(frozen=True)
class TuningSpec:
    """The tuning budget: recipe field -> candidate values, each a list or `{scale: [factors]}` of the
    arm's own value at that size (integers round down, at least 1; numbers to 6 decimals); or, instead of
    a grid, `points`: the settings themselves (a fractional design over several fields)."""

    grid: dict[str, Any] = field(default_factory=dict)
    criterion: Literal["robust", "clean"] = "robust"
    # tuning seeds, their scores averaged: one number for every tuned size, or size -> seeds (others: 1)
    seeds: int | dict[Any, int] = 1
    clean_at_least: str | None = None     # an arm or source: only settings at least as accurate on validation
    points: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class ArmSpec:
    """One arm (or source): a strategy and recipe, run at one or more data sizes.

    `like: OTHER` takes the other arm's strategy, head and recipe, with the selection tuned for it at
    the same size (the arm waits for it); `recipe` then sets values on top.
    """

    strategy: str | None = None
    like: str | None = None
    source: str | None = None             # a source of this study (by key) or any zoo entry (by name)
    task: str | None = None               # default: the study's target task
    recipe: dict = field(default_factory=dict)
    head: dict | None = None
    tuning: TuningSpec | None = None
    sizes: list[Size] = field(default_factory=lambda: ["all"], metadata=check_field(_sizes_ok))
    seeds: int | None = field(default=None, metadata=check_field(_seeds_ok))
    suites: list[str] | None = None       # default: the study's
    suites_at: dict[Any, list[str]] = field(default_factory=dict)   # size -> suites, where they differ
    name: str | None = None               # entry name pattern ({n}: the size); default "{arm}" / "{arm}_n{n}"
    description: str | dict[str, str] = ""  # {n} and {inherited} are filled in; a mapping: {all: ..., n: ...}
    reference: str | None = None          # default: the study's


@dataclass(frozen=True)
class LwfFront:
    """LwF's clean-robust front for claims (c) and (e): the recipe axes its settings span, which settings of them
    are trained (`design`, in words; the arms' `tuning.points` list them), and the rule that picks one on
    validation data, stated before their numbers exist."""

    distances: list[Literal["l1", "l2sq"]] = field(default_factory=lambda: ["l1", "l2sq"])
    lambdas: list[float] = field(default_factory=lambda: [0.01, 0.1, 1.0, 10.0])
    warm_start_epochs: list[int] = field(default_factory=list)   # empty: the arm's own, not an axis
    lrs: list[float] = field(default_factory=list)               # empty: the arm's own, not an axis
    design: str = ""               # which settings of the axes are trained, in words (quoted on the claims page)
    rule: str = ""                 # the selection rule, in words (quoted on the claims page)
    tuning_seeds: int = field(default=2, metadata=check_field(_seeds_ok))


@dataclass(frozen=True)
class AnalysisSpec:
    """How the claim tests are read, fixed in advance (quoted on the claims page): the protocol whose records
    decide the verdicts, the multiple-comparison policy across a family's claim tests, the readings of (b),
    the non-inferiority margin of (c) and (e), LwF's front, and (for a confirmatory replication) which seeds
    decide and which are the exploratory half shown beside them."""

    fixed: str = ""                                    # when, and before which numbers, this was written
    protocol: str | None = None                        # the verdicts' protocol (the study's `protocol` screens)
    protocol_version: int | None = None                # and its version, where the analysis names one
    multiple_comparisons: Literal["none", "holm"] = "none"
    alpha: float = 0.05
    b_readings: list[Literal["steps", "trend"]] = field(default_factory=lambda: ["steps"])
    b_verdict: Literal["steps", "trend"] = "steps"     # which reading the verdict uses (both are reported)
    lwf_front: LwfFront | None = None
    # (c) and (e) as the paper words them: robust accuracy not below the comparator's by more than `margin`
    # (accuracy as a fraction), clean accuracy above it; None: (c) read as before (LwF against natural
    # fine-tuning in robust accuracy, against the linear head in clean accuracy)
    margin: float | None = None
    margin_reason: str = ""
    confirmatory: str = ""                             # the replication's design, in words
    reference_seeds: int = 0                           # the reference AutoAttack on every role at this many of
                                                       # the confirmatory seeds (the first ones)


@dataclass(frozen=True)
class ClaimsSpec:
    """The paper's claim tests: which entries (by name without the study's prefix) play which role,
    and how many seeds the tests use (the roles and their sources get that many). With
    `confirmatory_seeds: M`, seeds N .. N+M-1 are a confirmatory replication trained after the
    analysis was committed: the verdicts come from them alone, seeds 0 .. N-1 are the exploratory half."""

    roles: dict[str, Any]
    seeds: int | None = field(default=None, metadata=check_field(_seeds_ok))
    oracle: dict[int, str | list[str]] = field(default_factory=dict)   # n -> oracle entries (one row each)
    analysis: AnalysisSpec | None = None
    confirmatory_seeds: int | None = field(default=None, metadata=check_field(_seeds_ok))
    # roles that other entries play on the exploratory seeds (an arm that is new to the confirmatory analysis)
    exploratory_roles: dict[str, Any] = field(default_factory=dict)
    # the commit that froze `analysis` (written after it, by the commit that follows): the page quotes it, and a
    # test checks that the analysis, the roles and the seeds have not changed since
    analysis_commit: str | None = None

    @property
    def all_seeds(self) -> int | None:
        """How many seeds the claim roles have in all: the exploratory ones and the confirmatory ones."""
        if self.seeds is None:
            return None
        return self.seeds + (self.confirmatory_seeds or 0)


@dataclass(frozen=True)
class BaselineAll:
    """The baseline at 'all' when it is another entry (e.g. a source trained on the target classes)."""

    entry: str
    label: str = ""                       # a short mark on the plot's point
    caption: str = ""                     # a sentence saying what it is, under the data-size table


@dataclass(frozen=True)
class DataSizeSpec:
    """The data-size report: arms (key -> label) at sizes, transfer arms against the baseline arm."""

    sizes: list[Size] = field(metadata=check_field(_sizes_ok))
    arms: dict[str, str]
    transfer: list[str] = field(default_factory=list)
    baseline: str | None = "adv_scratch"  # None: no baseline arm (the arms and their differences only)
    baseline_all: BaselineAll | None = None


@dataclass(frozen=True)
class ComparisonSpec:
    """One number the report states beyond the claims: an entry's accuracy (`a` alone) or the paired
    difference a - b on their common seeds, with its 95% interval (entries by name without the prefix)."""

    label: str
    a: str
    b: str | None = None
    what: Literal["robust", "clean"] = "robust"


@dataclass(frozen=True)
class QuestionTest:
    """One question asked of the study's arms as a paired test of `what`(a) - `what`(b) on the questions' seeds:
    `non_inferior` (above -margin), `superior` (above 0) or `inferior` (below 0); entries by name without the
    study's prefix, or a full entry name."""

    id: str
    question: str                     # as its source asks it
    a: str
    b: str
    test: Literal["non_inferior", "superior", "inferior"]
    what: Literal["robust", "clean"] = "robust"
    source: str = ""                  # who asks it


@dataclass(frozen=True)
class QuestionsSpec:
    """Questions beyond the paper, fixed before their arms' seeds are trained (the same practice as the claims):
    the protocol and seeds that decide, the margin of the non-inferiority tests with its reason, Holm over the
    study's tests, and the questions answered by numbers without a verdict (`described`)."""

    fixed: str
    protocol: str
    seeds: list[int]
    tests: list[QuestionTest]
    margin: float = 0.05
    margin_reason: str = ""
    alpha: float = 0.05
    multiple_comparisons: Literal["none", "holm"] = "holm"
    described: list[str] = field(default_factory=list)
    # the commit that froze the questions (written by the commit after it): a test checks they have not changed
    # since, and that none of the arms they test had a seed trained or tuned before it
    analysis_commit: str | None = None


@dataclass(frozen=True)
class Study:
    name: str
    description: str = ""
    reference: str = ""
    title: str = ""                        # its section heading in reports (default: the name)
    pair: str = ""                         # what transfers to what, in words (reports)
    scope: str = ""                        # a group's sentence on what its parts test (claims page)
    default: bool = False                  # the group's default family (reports)
    parts: list[str] = field(default_factory=list)  # a group: other studies, run and reported together
    plugins: list[str] = field(default_factory=list)  # files registering your own strategies, attacks, ...
    task: str | None = None
    data: str | None = None                # a folder of images instead of a task
    architecture: str | None = None
    threat_model: Literal["Linf", "L2"] = "Linf"
    eps: float | None = field(default=None, metadata=check_field(positive))
    protocol: str | None = None            # the protocol the study evaluates and reports under
    entry_protocol: str | None = None      # written into each entry (default: protocol)
    names: str = "{arm}"                   # entry names; {arm} is the arm's key (or its own `name`)
    seeds: int = field(default=3, metadata=check_field(_seeds_ok))
    suites: list[str] = field(default_factory=list)
    low_data: LowData = field(default_factory=LowData)
    sources: dict[str, ArmSpec] = field(default_factory=dict)
    arms: dict[str, ArmSpec] = field(default_factory=dict)
    claims: ClaimsSpec | None = None
    data_size: DataSizeSpec | None = None
    comparisons: list[ComparisonSpec] = field(default_factory=list)  # numbers reported beyond the claims
    questions: QuestionsSpec | None = None  # the field's later questions, tested like the claims
    path: str = field(default="", compare=False)
    origin: Literal["project", "user"] = field(default="project", compare=False)

    @property
    def folder(self) -> Path:
        return Path(self.path).parent if self.path else Path(".")

    @property
    def plugin_paths(self) -> list[str]:
        """The study's plugins, files relative to the study's folder made absolute (modules as they are)."""
        out = []
        for ref in self.plugins:
            path = Path(ref).expanduser()
            if path.suffix == ".py" and not path.is_absolute():
                path = self.folder / path
            out.append(str(path) if path.suffix == ".py" else ref)
        return out

    @property
    def heading(self) -> str:
        return self.title or self.name

    def arm(self, key: str) -> ArmSpec:
        if key in self.arms:
            return self.arms[key]
        return self.sources[key]


STUDY_KEYS = tuple(f for f in Study.__dataclass_fields__ if f not in ("path", "origin"))


def _parse_arms(raw, where: str, label: str) -> dict[str, ArmSpec]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BenchmarkError(f"{where}: field '{label}' must be a mapping of name -> arm")
    out = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key:
            raise BenchmarkError(f"{where}: field '{label}' has a key that is not a name: {key!r}")
        out[key] = parse_dataclass(ArmSpec, value, where, prefix=f"{label}.{key}.")
    return out


def parse_study(data, where: str, origin: str = "project") -> Study:
    """A study mapping as a typed Study; the parts every later check needs are validated here."""
    if not isinstance(data, dict):
        raise BenchmarkError(f"{where}: a study must be a mapping of fields, got {type(data).__name__}")
    for key in data:
        if key not in STUDY_KEYS:
            raise unknown_key(key, STUDY_KEYS, where)
    values = {k: v for k, v in data.items() if k not in ("sources", "arms")}
    study = parse_dataclass(Study, values, where)
    study = replace(study, sources=_parse_arms(data.get("sources"), where, "sources"),
                    arms=_parse_arms(data.get("arms"), where, "arms"), path=where, origin=origin)
    check_study(study, where)
    return study


def check_study(study: Study, where: str) -> None:
    """The checks that need nothing but the file itself (the rest: benchmark.studies.expand)."""
    if study.parts:
        extra = [k for k in ("task", "data", "architecture", "sources", "arms") if getattr(study, k)]
        if extra:
            raise BenchmarkError(f"{where}: field '{extra[0]}': a study with 'parts' only groups other studies; "
                                 "put the arms in a part")
        return
    for req in ("eps", "protocol", "architecture"):
        if getattr(study, req) is None:
            raise BenchmarkError(f"{where}: missing field '{req}'")
    if (study.task is None) == (study.data is None):
        raise BenchmarkError(f"{where}: give exactly one of 'task' (a task name or file) or 'data' (a folder of "
                             "images)")
    if not study.arms:
        raise BenchmarkError(f"{where}: field 'arms' must name at least one arm")
    if "{arm}" not in study.names:
        raise BenchmarkError(f"{where}: field 'names' must contain {{arm}}, got {study.names!r}")
    both = set(study.sources) & set(study.arms)
    if both:
        raise BenchmarkError(f"{where}: {sorted(both)[0]!r} is both a source and an arm: rename one")
    for label, arms in (("sources", study.sources), ("arms", study.arms)):
        for key, arm in arms.items():
            f = f"{label}.{key}"
            if (arm.strategy is None) == (arm.like is None):
                raise BenchmarkError(f"{where}: field '{f}' needs exactly one of 'strategy' or 'like'")
            if arm.like is not None and arm.like not in study.arms and arm.like not in study.sources:
                raise BenchmarkError(f"{where}: field '{f}.like' names {arm.like!r}, which is not an arm of this study")
            if arm.like == key:
                raise BenchmarkError(f"{where}: field '{f}.like' names the arm itself")
            if arm.tuning is not None:
                _check_grid(arm.tuning, where, f)
                counts = arm.tuning.seeds if isinstance(arm.tuning.seeds, dict) else {None: arm.tuning.seeds}
                for size, count in counts.items():
                    if size is not None and size not in arm.sizes:
                        raise BenchmarkError(f"{where}: field '{f}.tuning.seeds' names size {size!r}, which is not in "
                                             f"{f}.sizes {arm.sizes}")
                    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                        raise BenchmarkError(f"{where}: field '{f}.tuning.seeds' must be a positive number of seeds "
                                             "(or size -> seeds)")
                floor = arm.tuning.clean_at_least
                if floor is not None and floor not in study.arms and floor not in study.sources:
                    raise BenchmarkError(f"{where}: field '{f}.tuning.clean_at_least' names {floor!r}, which is not an "
                                         "arm or source of this study")
                if floor == key:
                    raise BenchmarkError(f"{where}: field '{f}.tuning.clean_at_least' names the arm itself")
            if isinstance(arm.description, dict):
                bad = set(arm.description) - {"all", "n"}
                if bad:
                    raise BenchmarkError(f"{where}: field '{f}.description' has key {sorted(bad)[0]!r}; use 'all' and "
                                         "'n' (or one text for every size)")
            for size in arm.suites_at:
                if size not in arm.sizes:
                    raise BenchmarkError(f"{where}: field '{f}.suites_at' names size {size!r}, which is not in "
                                         f"{f}.sizes {arm.sizes}")
            if label == "sources" and arm.sizes != ["all"]:
                raise BenchmarkError(f"{where}: field '{f}.sizes': a source trains on all of its task's data")
    if study.low_data.batch_size <= 0 or any(n <= 0 for n in study.low_data.tuned):
        raise BenchmarkError(f"{where}: field 'low_data.tuned' must list positive sizes")


def _check_grid(tuning: TuningSpec, where: str, label: str) -> None:
    if bool(tuning.grid) == bool(tuning.points):
        raise BenchmarkError(f"{where}: field '{label}.tuning' needs exactly one of 'grid' (recipe field -> values) "
                             "or 'points' (a list of settings)")
    for i, point in enumerate(tuning.points):
        if not isinstance(point, dict) or not point:
            raise BenchmarkError(f"{where}: field '{label}.tuning.points[{i}]' must be a mapping of recipe field -> "
                                 "value")
    for key, values in tuning.grid.items():
        ok = isinstance(values, list) and values or (
            isinstance(values, dict) and set(values) == {"scale"} and isinstance(values["scale"], list)
            and values["scale"] and all(isinstance(v, (int, float)) and v > 0 for v in values["scale"]))
        if not ok:
            raise BenchmarkError(f"{where}: field '{label}.tuning.grid.{key}' must be a non-empty list of values or "
                                 "{scale: [positive factors]}")


def load_study_file(path: Path | str, origin: str = "project") -> Study:
    from benchmark.plugins import load_plugins

    data = read_yaml(path, "study")
    if isinstance(data, dict) and isinstance(data.get("plugins"), list):  # registered before the arms are checked
        folder = Path(path).parent
        load_plugins([str(folder / p) if str(p).endswith(".py") and not Path(p).is_absolute() else str(p)
                      for p in data["plugins"]])
    study = parse_study(data, str(path), origin)
    if study.name != Path(path).stem:
        raise BenchmarkError(f"{path}: field 'name' is {study.name!r} but the file is named {Path(path).stem!r}")
    return study
