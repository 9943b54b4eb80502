"""Records as tables: one row per (protocol, model, seed), and one per (protocol, model) over seeds."""

from __future__ import annotations

from pathlib import Path

from benchmark.errors import BenchmarkError


def family_label(entry: dict) -> str:
    """The display label of an entry stored in a record (strategy with its key settings)."""
    from benchmark.zoo.entry import parse_entry

    if not entry:
        return "?"
    data = {k: v for k, v in entry.items() if k not in ("weights",)}
    try:
        return parse_entry(data, "record").family
    except BenchmarkError:
        return entry.get("strategy", "?")


def _current_version(protocol: str) -> int | None:
    from benchmark.evaluation import available_protocols, load_protocol

    return load_protocol(protocol).version if protocol in available_protocols() else None


def stale_records(roots=None) -> dict[str, dict]:
    """Records of an earlier version of their protocol, left out of every table until regenerated: protocol ->
    {"version": current, "older": {version: count}, "models": [model, ...]}."""
    from benchmark.results import load_records

    current: dict[str, int | None] = {}
    out: dict[str, dict] = {}
    for r in load_records(roots):
        proto = r["protocol"]["name"]
        if proto not in current:
            current[proto] = _current_version(proto)
        v = r["protocol"].get("version")
        if current[proto] is not None and v != current[proto]:
            got = out.setdefault(proto, {"version": current[proto], "older": {}, "models": []})
            got["older"][v] = got["older"].get(v, 0) + 1
            if r["model"] not in got["models"]:
                got["models"].append(r["model"])
    return out


def stale_text(stale: dict[str, dict]) -> str:
    """One sentence for the leaderboard and the page: which records predate their protocol's current version."""
    if not stale:
        return ("Every record is at its protocol's current version, where the worst case is over every attack the "
                "protocol runs, the gradient-masking guards' included.")
    parts = []
    for proto, s in sorted(stale.items()):
        older = ", ".join(f"{n} of v{v}" for v, n in sorted(s["older"].items()))
        parts.append(f"`{proto}` ({older}, {len(s['models'])} models; current v{s['version']})")
    return ("Records that predate their protocol's current version are left out of every table until they are "
            "regenerated: " + "; ".join(parts) + ".")


def records_frame(roots=None, include_sweeps: bool = False):
    """Every record, one row per seed, with the per-example outcomes kept for statistics."""
    import pandas as pd

    from benchmark.evaluation.entry import split_outcomes
    from benchmark.results import load_records

    rows = []
    labels: dict[str, str] = {}
    current: dict[str, int | None] = {}
    from benchmark.paths import project_results_dir

    root = project_results_dir() if roots is None else ([roots] if isinstance(roots, (str, Path)) else list(roots))[0]
    losses: dict = {}
    for r in load_records(roots, include_sweeps):
        proto = r["protocol"]["name"]
        if proto not in current:
            current[proto] = _current_version(proto)
        if current[proto] is not None and r["protocol"].get("version") != current[proto]:
            continue  # a record of an earlier version of the protocol: not comparable, regenerate it
        e = r.get("entry", {}) or {}
        recipe = e.get("recipe") or {}
        training = r.get("training") or {}
        name = r["model"]
        if name not in labels:
            labels[name] = family_label(e)
        n_classes = len(set(r["per_example"]["label"])) or 1
        row = {
            "model": name, "seed": r.get("seed", 0), "protocol": r["protocol"]["name"],
            "eps": r.get("eps", r["protocol"]["eps"]), "threat": r["protocol"]["threat_model"],
            "task": e.get("task"), "architecture": e.get("architecture"), "source": e.get("source") or "-",
            "strategy": e.get("strategy"), "family": labels[name], "n_per_class": e.get("n_per_class", "all"),
            "k": recipe.get("k"), "lwf_lambda": recipe.get("lwf_lambda"),
            "lwf_distance": recipe.get("lwf_distance", "l2sq" if e.get("strategy") == "lwf" else None), "train_eps": recipe.get("eps", e.get("eps")),
            # a clean accuracy on the whole test split (protocols with `clean_split`) replaces the subset's
            "clean": (r.get("clean_test_split") or {}).get("accuracy", r["clean_accuracy"]),
            "robust": r["robust_accuracy"], "n_examples": r["n_examples"],
            "cost": (training.get("cost") or {}).get("fb_passes"), "train_seconds": training.get("wall_seconds"),
            "n_train": training.get("n_train"), "n_classes": n_classes,
            "eval_seconds": r.get("seconds"), "date": r["date"][:10],
            "flags": "; ".join((r.get("guards") or {}).get("flags", [])),
            # the gradient-masking guards' own evidence (a black-box attack on what survived, PGD at 2x eps)
            "square_attacked": (r.get("guards") or {}).get("square_attacked"),
            "square_broken": (r.get("guards") or {}).get("square_broken"),
            "pgd_2x_eps": ((r.get("guards") or {}).get("pgd_by_eps") or {}).get("2x"),
            "clean_outcomes": split_outcomes(r) or r["per_example"]["clean_correct"],
            "robust_outcomes": r["per_example"]["robust"], "index": r["per_example"]["index"],
            "final_loss": losses.setdefault((name, r.get("seed", 0)), final_loss(root, name, r.get("seed", 0))
                                            if (r.get("weights") or {}).get("origin") == "published" else None),
            "weights": (r.get("weights") or {}).get("origin", "?"),
            "weights_file": (r.get("weights") or {}).get("file") if (r.get("weights") or {}).get("origin") ==
            "published" else None, "sha256": (r.get("weights") or {}).get("sha256"),
        }
        for a in r["attacks"]:
            row[f"atk:{a['name']}"] = a["robust_accuracy"]
        rows.append(row)
    return pd.DataFrame(rows)


def seed_outcomes(row, what: str, seeds: list[int]) -> list[list[int]]:
    """An aggregated row's per-example outcomes (`what`: "clean" or "robust") of these seeds, in their order."""
    by_seed = dict(zip(row["seeds"], row[f"{what}_outcomes"]))
    return [by_seed[s] for s in seeds]


# a seed "did not learn" when its training ended at the loss of a uniform guess: a final training loss of at least
# this share of ln(classes) (over the committed runs the others end below 0.7 ln C, the failed ones at 0.996-1.0);
# where the loss is not plain cross-entropy (LwF adds its penalty) or no training record is at hand, when its
# clean accuracy is within NOT_LEARNED_MARGIN of chance
NOT_LEARNED_LOSS = 0.9
NOT_LEARNED_MARGIN = 0.10
NOT_LEARNED_RULE = (f"its training ended at the loss of a uniform guess (final training loss at least "
                    f"{NOT_LEARNED_LOSS:g} ln C), or, for LwF, its clean accuracy is within "
                    f"{100 * NOT_LEARNED_MARGIN:.0f} points of chance")


def did_not_learn(row, seeds: list[int]) -> list[int]:
    """The seeds that failed to learn (NOT_LEARNED_RULE): reported as a failure rate beside the mean rather than
    hidden in it."""
    import math

    classes = max(int(row.get("n_classes") or 1), 2)
    losses = dict(zip(row["seeds"], row.get("final_loss") or [None] * len(row["seeds"])))
    out = []
    for s, o in zip(seeds, seed_outcomes(row, "clean", seeds)):
        loss = losses.get(s)
        if row.get("strategy") != "lwf" and loss is not None and loss == loss:
            failed = loss >= NOT_LEARNED_LOSS * math.log(classes)
        else:
            failed = sum(o) / len(o) <= 1.0 / classes + NOT_LEARNED_MARGIN
        if failed:
            out.append(s)
    return out


def final_loss(root, model: str, seed: int) -> float | None:
    """The last epoch's training loss of published weights, from their training record beside the records."""
    import json
    from pathlib import Path

    from benchmark.results import training_record_file

    path = training_record_file(Path(root), model, seed)
    if not path.is_file():
        return None
    history = json.loads(path.read_text()).get("history") or []
    return history[-1].get("loss") if history else None


def per_seed_percent(row, what: str, seeds: list[int]) -> str:
    """The accuracy of each of these seeds in percent, as "a, b, c"."""
    return ", ".join(f"{100 * sum(o) / len(o):.1f}" for o in seed_outcomes(row, what, seeds))


def aggregate(df):
    """One row per (protocol, model, eps): means, spreads and 95% intervals over seeds."""
    import pandas as pd

    from benchmark.stats import accuracy_estimate

    out = []
    for (proto, model, eps), g in df.groupby(["protocol", "model", "eps"], sort=True):
        g = g.sort_values("seed")
        clean = accuracy_estimate(list(g["clean_outcomes"]))
        robust = accuracy_estimate(list(g["robust_outcomes"]))
        first = g.iloc[0]
        row = {k: first[k] for k in ("protocol", "model", "eps", "threat", "task", "architecture", "source",
                                     "strategy", "family", "n_per_class", "k", "lwf_lambda", "lwf_distance", "train_eps",
                                     "n_examples", "n_classes")}
        row.update({
            "seeds": list(g["seed"]), "n_seeds": len(g), "clean": clean.mean, "clean_sd": clean.sd, "clean_est": clean,
            "robust": robust.mean, "robust_sd": robust.sd, "robust_est": robust,
            "robust_low": robust.low, "robust_high": robust.high,
            "cost": g["cost"].mean() if g["cost"].notna().any() else None,
            "train_seconds": g["train_seconds"].mean() if g["train_seconds"].notna().any() else None,
            "n_train": g["n_train"].dropna().iloc[0] if g["n_train"].notna().any() else None,
            "date": max(g["date"]), "flags": "; ".join(sorted({f for f in g["flags"] if f})),
            # per seed, in the order of `seeds` (None where a record has no guards)
            "guards_by_seed": [None if a != a or a is None else {"square_attacked": int(a), "square_broken": int(b),
                                                                 "pgd_2x_eps": float(p), "flags": f}
                               for a, b, p, f in zip(g["square_attacked"], g["square_broken"], g["pgd_2x_eps"],
                                                     g["flags"])],
            "clean_outcomes": list(g["clean_outcomes"]), "robust_outcomes": list(g["robust_outcomes"]),
            "index": list(g["index"]),  # per seed: the test-set index of each robust outcome
            "final_loss": [None if v is None or v != v else float(v) for v in g["final_loss"]],
            "weights_files": [{"seed": int(s), "file": f, "sha256": h}
                              for s, f, h in zip(g["seed"], g["weights_file"], g["sha256"]) if f],
        })
        for c in [c for c in g.columns if c.startswith("atk:")]:
            row[c] = g[c].mean() if g[c].notna().any() else None
        out.append(row)
    return pd.DataFrame(out)
