"""The regression gate, in two parts.

- Evaluation gate (exact): evaluate the published weights and compare each example's
  outcome (clean, every attack, worst case) with the committed record. Any change in an
  attack, a model or the data flips examples, and the gate names them. On a machine of
  the same kind as the record's (same CPU kernels and threads) nothing may flip; on
  another kind up to the protocol's `flip_tolerance` examples may (float rounding).
- Training gate (statistical): retrain an entry from its recipe and check each metric
  (clean, worst-case robust, robust after each attack) lies in the committed seeds'
  band: their range widened by 2 binomial standard errors of the evaluation subset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmark.stats import seed_band

OUTCOME_KEYS = ("clean_correct", "robust")


def same_machine(a: dict | None, b: dict | None) -> bool:
    """Whether two records come from machines of one kind (the same float kernels); unknown is not."""
    keys = ("platform", "cpu_model", "cpu_flags", "cpu_capability", "dnnl_max_cpu_isa", "threads", "gpu")
    return bool(a and b) and all(a.get(k) == b.get(k) for k in keys)


@dataclass
class Flips:
    """Examples whose outcome differs between a committed record and a fresh evaluation."""

    model: str
    seed: int
    n: int
    by_key: dict[str, list[int]] = field(default_factory=dict)   # outcome -> example indices that differ
    problem: str | None = None                                    # incomparable records

    @property
    def examples(self) -> list[int]:
        return sorted({i for v in self.by_key.values() for i in v})

    def describe(self, limit: int = 12) -> str:
        if self.problem:
            return f"{self.model} seed {self.seed}: {self.problem}"
        if not self.examples:
            return f"{self.model} seed {self.seed}: identical on all {self.n} examples"
        parts = [f"{k}: {', '.join(map(str, v[:limit]))}{' ...' if len(v) > limit else ''}"
                 for k, v in self.by_key.items() if v]
        return (f"{self.model} seed {self.seed}: {len(self.examples)} of {self.n} examples flipped "
                f"(test-set indices; {'; '.join(parts)})")


def compare_outcomes(reference: dict, fresh: dict) -> Flips:
    flips = Flips(fresh["model"], fresh.get("seed", 0), fresh["n_examples"])
    if reference["protocol"] != fresh["protocol"] or reference["n_examples"] != fresh["n_examples"]:
        flips.problem = "the reference was made under another protocol version or n: regenerate it"
        return flips
    if reference.get("weights", {}).get("sha256") != fresh.get("weights", {}).get("sha256"):
        flips.problem = (f"the reference is of other weights (sha256 {str(reference.get('weights', {}).get('sha256'))[:12]}"
                         f"... vs {fresh['weights']['sha256'][:12]}...): regenerate it")
        return flips
    ref, new = reference["per_example"], fresh["per_example"]
    if ref["index"] != new["index"]:
        flips.problem = "the evaluation subsets differ (data changed)"
        return flips
    # every attack's outcome, the guards' too where the protocol counts them (`guard:<attack>`)
    guard_keys = sorted({k for k in (*ref, *new) if k.startswith("guard:")})
    keys = list(OUTCOME_KEYS) + [a["name"] for a in fresh["attacks"]] + guard_keys
    for key in keys:
        a, b = ref.get(key), new.get(key)
        if a is None or b is None:
            flips.by_key[key] = list(new["index"]) if a != b else []
            continue
        flips.by_key[key] = [idx for idx, u, v in zip(new["index"], a, b) if u != v]
    a, b = (r.get("clean_test_split") for r in (reference, fresh))
    if a or b:  # the clean outcome on the whole test split (test-split positions)
        a, b = (x["correct"] if x else "" for x in (a, b))
        flips.by_key["clean (whole test split)"] = [i for i, (u, v) in enumerate(zip(a, b)) if u != v] + \
            list(range(min(len(a), len(b)), max(len(a), len(b))))
    return flips


def allowed_flips(reference: dict, fresh: dict) -> int:
    """Examples that may flip: none on a machine of the record's kind; on another kind the protocol's
    `flip_tolerance`, which it states for its own number of examples, scaled to the record's (rounded up)."""
    import math

    if same_machine(reference.get("machine"), fresh.get("machine")):
        return 0
    tolerance = int(fresh["protocol"].get("flip_tolerance", 0))
    n, full = int(fresh.get("n_examples") or 0), int(fresh["protocol"].get("n_examples") or 0)
    if tolerance and n and full and n != full:
        return math.ceil(tolerance * n / full)
    return tolerance


def metrics(record: dict) -> dict[str, float]:
    out = {"clean accuracy": record["clean_accuracy"], "worst-case robust accuracy": record["robust_accuracy"]}
    for a in record["attacks"]:
        out[f"robust accuracy after {a['name']}"] = a["robust_accuracy"]
    return out


def band_check(references: list[dict], fresh: dict, z: float = 2.0) -> list[str]:
    """Lines for each metric of `fresh` outside the committed seeds' band (empty: inside)."""
    n = fresh["n_examples"]
    problems = []
    ref_metrics = [metrics(r) for r in references]
    for name, value in metrics(fresh).items():
        values = [m[name] for m in ref_metrics if name in m]
        if not values:
            continue
        band = seed_band(values, n, z)
        if not band.contains(value):
            seeds = ", ".join(f"{100 * v:.1f}" for v in values)
            problems.append(f"{fresh['model']} (retrained seed {fresh.get('seed', 0)}): {name} {100 * value:.1f}% is "
                            f"outside the band [{100 * band.low:.1f}, {100 * band.high:.1f}]% (committed seeds "
                            f"{seeds}%, widened by {z:g} x {100 * band.widen / z:.1f}% sampling error on n={n})")
    return problems
