"""What claims.md says beyond the verdicts: the data-size curves' crossover, and why a claim fails
where it fails (claim (d): how much of the gap the source's features explain; claim (b): the
blocks-retrained chain seed by seed, and the full protocol where it was run)."""

from __future__ import annotations

from benchmark.reports import datasize
from benchmark.reports.frame import NOT_LEARNED_RULE, per_seed_percent, seed_outcomes
from benchmark.stats import accuracy_estimate, difference_estimate

FULL_PROTOCOL = "fmnist-linf"  # the reference protocol (n=1000, the standard AutoAttack with FAB-T and Square)


def _rows(agg, protocol: str) -> dict:
    return {r["model"]: r for _, r in agg[agg.protocol == protocol].iterrows()}


def family_sections(agg, family: dict, claims, config: dict, protocol: str, plot: str | None) -> list[str]:
    rows = _rows(agg, protocol)
    limit = family.get("seeds")
    lines: list[str] = []
    ds_config = family.get("data_size")
    if ds_config:
        lines += [f"### Data size: transfer against adversarial training from scratch ({family['name']})", ""]
        if plot:
            lines += [f"![accuracy and cost versus data size]({plot})", ""]
        too_few: list[str] = []
        curves = datasize.curves(rows, family, too_few=too_few)
        failures = False
        if curves:
            lines += ["| strategy | " + " | ".join(str(s) for s in ds_config["sizes"]) + " |",
                      "|---|" + "---|" * len(ds_config["sizes"])]
            for arm, points in curves.items():
                by_size = {p.size: p for p in points}
                cells = [f"{100 * by_size[s].robust.mean:.1f} [{100 * by_size[s].robust.low:.0f}, "
                         f"{100 * by_size[s].robust.high:.0f}] ({len(by_size[s].seeds)}"
                         f"{f'; {by_size[s].failed} failed' if by_size[s].failed else ''})" if s in by_size else ""
                         for s in ds_config["sizes"]]
                failures = failures or any(p.failed for p in points)
                lines.append(f"| {ds_config['arms'][arm]} | " + " | ".join(cells) + " |")
            caption = ds_config.get("baseline_all_caption", "")
            inherited = ds_config.get("inherited") or {}
            by_tuned: dict = {}
            for size, tuned in inherited.items():
                by_tuned.setdefault(tuned, []).append(str(size))
            inherit_text = (" Sizes that are not tuned inherit a tuned size's hyperparameters (each entry's description "
                            "says which: here " + ", ".join(f"{' and '.join(v)} per class take those selected at {t}"
                                                             for t, v in by_tuned.items()) +
                            "), so a step in a curve between a size and the next can come from the change of "
                            "hyperparameters as much as from the data." if by_tuned else "")
            source = rows.get((family.get("roles") or {}).get("source", ""))
            scratch = rows.get(datasize.entry_at(ds_config, ds_config["baseline"], 100) or "")
            cost_text = ""
            if source is not None and source["cost"] and source["cost"] == source["cost"]:
                # adversarial fine-tuning and the frozen-feature transfers start from a source someone trained
                ratio = (f", {source['cost'] / scratch['cost']:.3g} times adversarial training from scratch at 100 "
                         "per class" if scratch is not None and scratch["cost"] else "")
                cost_text = (f" A transfer's training cost counts the transfer alone: the robust source's own "
                             f"training (`{source['model']}`) costs {source['cost']:.3g} passes{ratio}, paid once for "
                             "every transfer from it.")
            failed_text = (f" \"k failed\": k of the seeds did not learn ({NOT_LEARNED_RULE}); the mean counts "
                           "them." if failures else "")
            lines += ["", "Robust accuracy (%), mean [95% interval] (seeds); the plot has clean accuracy and training "
                          "cost." + (f" {caption}" if caption else "") + inherit_text + cost_text + failed_text +
                      (f" Left out until they have {datasize.MIN_SEEDS} seeds (an interval from fewer would hold "
                       "only the evaluation subset's sampling error): " + ", ".join(too_few) + "." if too_few else ""),
                      ""]
        elif too_few:
            lines += [f"No point has {datasize.MIN_SEEDS} seeds yet (an interval from fewer would hold only the "
                      f"evaluation subset's sampling error): {', '.join(too_few)}.", ""]
        lines += pairwise_section(rows, family, limit)
        for arm in ds_config.get("transfer", []):
            c = datasize.crossover(rows, family, arm, limit)
            if c.rows:
                lines += [f"- {c.text}.", ""] + datasize.crossover_table(c) + [""]
    verdicts = {c.key: c.final for c in claims}
    # the explanations of a failed claim, from the quick protocol's records; while a verdict waits for its data
    # they stay on the page under a neutral heading (they explain the exploratory half, they decide nothing)
    shown = {"contradicted", "missing data"}
    if "oracle" in family and verdicts.get("d") in shown:
        lines += _retitled(oracle_section(rows, family), verdicts.get("d"),
                           "### (d): how much of the gap to scratch the source's features explain")
    if verdicts.get("b") in shown:
        lines += _retitled(blocks_section(rows, _rows(agg, FULL_PROTOCOL), family), verdicts.get("b"),
                           "### (b): the blocks-retrained chain seed by seed")
    return lines


def _retitled(lines: list[str], verdict: str | None, neutral: str) -> list[str]:
    """A section's heading says "why it fails" only where the claim's verdict is contradicted."""
    if lines and verdict != "contradicted":
        return [neutral] + lines[1:]
    return lines


def pairwise_section(rows: dict, family: dict, limit: int | None = None) -> list[str]:
    """Every pair of the data-size arms at every size: robust(a) - robust(b) with its 95% interval, paired by seed
    and example (a pair's cell is empty where the two do not share enough seeds)."""
    ds = family["data_size"]
    diffs = datasize.pairwise(rows, family, limit)
    if not diffs:
        return []
    sizes = [s for s in ds["sizes"] if any(d[0] == s for d in diffs)]
    pairs = list(dict.fromkeys((a, b) for _, a, b, _ in diffs))
    cell = {(size, a, b): est for size, a, b, est in diffs}
    lines = [f"Differences between the arms, robust accuracy (points), row minus column arm, mean [95% interval] "
             f"on the seeds both have ({family['name']}):", "",
             "| arms | " + " | ".join(str(s) for s in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for a, b in pairs:
        cells = [cell[(s, a, b)].pct() if (s, a, b) in cell else "" for s in sizes]
        lines.append(f"| {ds['arms'][a]} - {ds['arms'][b]} | " + " | ".join(cells) + " |")
    return lines + [""]


def oracle_section(rows: dict, family: dict) -> list[str]:
    """Claim (d): transfer, a linear head on robust features of the target classes themselves, and
    adversarial training from scratch, on the seeds all three have (one row per oracle entry)."""
    lines = ["### Why (d) fails here: how much of the gap the source's features explain", "",
             "A linear head on robust features learned on the target classes themselves shows how far a",
             "frozen-feature transfer can go with this data: the difference *oracle - transfer* is the part of",
             "the gap due to the source task's features, *scratch - oracle* the part a frozen linear head does not",
             "reach even on such features. A *disjoint* oracle's features were learned on one half of the target",
             "classes' training pool and its head on examples drawn from the other half, so they never saw an image",
             "the head trains on; the other oracle's features were learned on the whole pool, the head's examples",
             "included (the same model as adversarial training from scratch with all the data): an upper bound for",
             "frozen features, not an arm that had little data.", "",
             "| n/class | oracle | transfer | oracle features | scratch | oracle - transfer | scratch - oracle | seeds |",
             "|---|---|---|---|---|---|---|---|"]
    for n, oracles in sorted(family["oracle"].items()):
        pair = family["roles"]["low_data"].get(n)
        for oracle_name in [oracles] if isinstance(oracles, str) else oracles:
            t, o, s = (rows.get(x) for x in (pair["transfer"], oracle_name, pair["scratch"])) if pair else (None,) * 3
            if t is None or o is None or s is None:
                continue
            seeds = sorted(set(t["seeds"]) & set(o["seeds"]) & set(s["seeds"]))
            if len(seeds) < datasize.MIN_SEEDS:
                continue
            lv = [accuracy_estimate(seed_outcomes(r, "robust", seeds)) for r in (t, o, s)]
            d1 = difference_estimate(seed_outcomes(o, "robust", seeds), seed_outcomes(t, "robust", seeds))
            d2 = difference_estimate(seed_outcomes(s, "robust", seeds), seed_outcomes(o, "robust", seeds))
            # no "share of the gap": a ratio of two noisy differences, with no interval of its own
            lines.append(f"| {n} | `{oracle_name}` | {lv[0].pct()} | {lv[1].pct()} | {lv[2].pct()} | {d1.pct()} | "
                         f"{d2.pct()} | {len(seeds)} |")
    return lines + [""]


def _guard_evidence(r, seeds: list[int]) -> str:
    """Square broken of attacked (summed), PGD-10 at 2x eps (mean) and flags over these seeds: the guards'
    columns of the (b) chain table."""
    by_seed = dict(zip(r["seeds"], r["guards_by_seed"]))
    got = [by_seed[s] for s in seeds if by_seed.get(s)]
    if not got:
        return "- | - | -"
    sq = f"{sum(g['square_broken'] for g in got)} of {sum(g['square_attacked'] for g in got)}"
    pgd = f"{100 * sum(g['pgd_2x_eps'] for g in got) / len(got):.1f}%"
    flags = "; ".join(sorted({f for g in got for f in g["flags"].split("; ") if f}))
    return f"{sq} | {pgd} | {flags or 'none'}"


def blocks_section(rows: dict, full: dict, family: dict) -> list[str]:
    """Claim (b): the chain linear head -> retrain 1 .. k seed by seed, and the full protocol where it was run."""
    chain = [family["roles"]["linear"]] + list(family["roles"]["retrain"])
    present = [rows[c] for c in chain if c in rows]
    if len(present) < 2:
        return []
    seeds = sorted(set.intersection(*(set(r["seeds"]) for r in present)))
    lines = ["### Why (b) fails here: the blocks-retrained chain seed by seed", "",
             "| model | robust per seed (%), seeds " + ", ".join(map(str, seeds)) + " | robust | clean | "
             "Square broke (of survivors) | PGD-10 at 2x eps | guard flags |", "|---|---|---|---|---|---|---|"]
    for r in present:
        est = accuracy_estimate(seed_outcomes(r, "robust", seeds))
        clean = accuracy_estimate(seed_outcomes(r, "clean", seeds))
        lines.append(f"| `{r['model']}` | {per_seed_percent(r, 'robust', seeds)} | {est.pct()} | {clean.pct()} | "
                     f"{_guard_evidence(r, seeds)} |")
    lines += ["", "The last three columns are the gradient-masking guards' own evidence on the same seeds "
              "(the guards' fixed slice of the evaluation subset): how many examples the black-box Square attack broke among those "
              "the battery left robust (summed over seeds), PGD-10's robust accuracy at twice the protocol's eps "
              "(mean over seeds; near 0 when gradients lead somewhere), and the flags raised on any of them. A higher robust "
              "accuracy that Square cannot dent and that vanishes at 2x eps is not the mark of masked gradients.", ""]
    checked = [c for c in chain if c in full]
    if checked:
        lines += [f"Under the full protocol `{FULL_PROTOCOL}` (1000 examples, the standard AutoAttack with FAB-T "
                  "and Square), where it was run:", "", "| model | seeds | robust per seed (%) | mean [95% interval] |",
                  "|---|---|---|---|"]
        for c in checked:
            r = full[c]
            s = sorted(r["seeds"])
            lines.append(f"| `{c}` | {s} | {per_seed_percent(r, 'robust', s)} | {accuracy_estimate(seed_outcomes(r, 'robust', s)).pct()} |")
        lines.append("")
    return lines


def screen_section(agg, family: dict, screen: str, full: str) -> list[str]:
    """How far the quick screen and the full protocol disagree, model by model: their robust accuracies on the
    seeds both evaluated, and example by example on the examples both evaluated (the screen's subset is the first
    of the full protocol's fixed order, so every screened example is also in the full protocol's)."""
    body, totals = agreement_rows(agg, _role_list(family), screen, full)
    if not body:
        return []
    return [f"### The quick screen against the full protocol ({family['name']})", "",
            f"Robust accuracy under `{screen}` and `{full}` on the seeds both evaluated; then example by example on "
            "the examples both evaluated (every example of the screen's subset is in the full protocol's), summed over "
            "those seeds: robust under the screen but broken by the full protocol (what the screen missed), and the "
            "reverse (the screen's attacks found what the full protocol's did not, their random draws differ).", "",
            "| model | seeds | quick robust | full robust | full - quick (points) | screen missed | full missed | "
            "examples compared |", "|---|---|---|---|---|---|---|---|", *body,
            f"| all | | | | | {totals[0]} | {totals[1]} | {totals[2]} |", ""]


def front_section(family: dict, results_root) -> list[str]:
    """The LwF fronts of claims (c) and (e) on validation data, from their tuning records: every setting's clean and
    robust accuracy (mean over the tuning seeds), the floor the rule fixed in advance sets (the comparator's
    validation clean accuracy), and the setting it selected."""
    roles = family.get("roles") or {}
    fronts = []
    if roles.get("lwf_front"):
        fronts.append(("(c)", roles["lwf_front"]))
    elif (family.get("analysis") or {}).get("margin") is not None:
        fronts.append(("(c)", roles.get("lwf")))
        if roles.get("lwf_self"):
            fronts.append(("(e)", roles["lwf_self"]))
    lines: list[str] = []
    for claim, name in fronts:
        if name:
            lines += _front_table(family, claim, name, results_root)
    return lines


def _front_table(family: dict, claim: str, front: str, results_root) -> list[str]:
    import json
    from pathlib import Path

    from benchmark.results import tuning_record_file

    path = tuning_record_file(Path(results_root), front)
    if not path.is_file():
        return [f"### LwF's front for {claim} ({family['name']})", "",
                f"Not tuned yet: `python -m benchmark tune --model {front}` (the rule is fixed above).", ""]
    rec = json.loads(path.read_text())
    floor = rec.get("clean_floor") or {}
    seeds = rec.get("tuning_seeds", [rec.get("seed", 0)])
    fields = list(rec["grid"])
    measured = ", its weights at those seeds on the same split" if floor.get("measured_on_seeds") else \
        ", its selection tuned on the same seeds"
    lines = [f"### LwF's front for {claim} ({family['name']}): `{front}`'s settings on validation data", "",
             f"Each setting trained on seeds {', '.join(map(str, seeds))} and scored on the validation split carved from "
             f"the training data of `{front}`'s task ({rec['validation']['n_examples']} examples; robust: PGD-20 with the "
             "CE and CW-margin losses, worst case), mean over those seeds. The rule fixed in advance: the most robust "
             "setting" + (f" among those at least as accurate as `{floor['entry']}` ({100 * floor['clean']:.1f}% clean"
                           f"{measured})" if floor else "") + "; selected in bold.", "",
             "| " + " | ".join(fields) + " | validation clean (%) | validation robust (%) | eligible |",
             "|" + "---|" * (len(fields) + 3)]
    for c in rec["configs"]:
        ok = not floor or c["clean"] >= floor["clean"] - 1e-9
        values = [c["values"].get(k, (rec.get("base_recipe") or {}).get(k, "-")) for k in fields]
        cells = [f"{v:g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v) for v in values]
        mark = "**" if c["values"] == rec["selected"] else ""
        lines.append("| " + " | ".join(f"{mark}{x}{mark}" for x in cells) +
                     f" | {100 * c['clean']:.1f} | {100 * c['robust']:.1f} | {'yes' if ok else 'no'} |")
    budget = rec.get("budget")
    lines += ["", f"Its tuning budget: {budget} trainings ({len(rec['configs'])} settings x {len(seeds)} seeds), against "
                  f"4 x 1 or 4 x 2 for the other arms (learning rate x epochs): the front is what the analysis fixed in "
                  "advance asks, and LwF gets the larger budget.", ""]
    return lines


def agreement_rows(agg, names: list[str], a: str, b: str, seeds=None) -> tuple[list[str], list[int]]:
    """Per model: robust accuracy under protocols `a` and `b` on the seeds both evaluated (within `seeds`), and the
    examples robust under `a` but broken under `b` and the reverse, on the examples both evaluated."""
    ra, rb = _rows(agg, a), _rows(agg, b)
    body, totals = [], [0, 0, 0]
    for name in names:
        qa, qb = ra.get(name), rb.get(name)
        if qa is None or qb is None:
            continue
        common = sorted(set(qa["seeds"]) & set(qb["seeds"]) & (set(seeds) if seeds is not None else set(qa["seeds"])))
        if not common:
            continue
        ea = accuracy_estimate(seed_outcomes(qa, "robust", common))
        eb = accuracy_estimate(seed_outcomes(qb, "robust", common))
        missed = extra = shared = 0
        for s in common:
            ia, ib = qa["seeds"].index(s), qb["seeds"].index(s)
            by_index = dict(zip(qb["index"][ib], qb["robust_outcomes"][ib]))
            for i, r in zip(qa["index"][ia], qa["robust_outcomes"][ia]):
                if i in by_index:
                    shared += 1
                    missed += int(r == 1 and by_index[i] == 0)
                    extra += int(r == 0 and by_index[i] == 1)
        totals = [totals[0] + missed, totals[1] + extra, totals[2] + shared]
        body.append(f"| `{name}` | {_seed_text(common)} | {ea.pct()} | {eb.pct()} | "
                    f"{100 * (eb.mean - ea.mean):+.1f} | {missed} | {extra} | {shared} |")
    return body, totals


def _seed_text(seeds: list[int]) -> str:
    """Seeds as a range where they run without a gap (10-19), else listed."""
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def _role_list(family: dict, with_oracles: bool = True) -> list[str]:
    names: list[str] = []

    def collect(v):
        if isinstance(v, str):
            if v not in names:
                names.append(v)
        elif isinstance(v, list):
            for x in v:
                collect(x)
        elif isinstance(v, dict):
            for x in v.values():
                collect(x)

    collect(family.get("roles", {}))
    if with_oracles:
        collect(family.get("oracle", {}))
    return names


def reference_section(agg, family: dict, full: str) -> list[str]:
    """The reference AutoAttack (`<full>-reference`) against the verdicts' protocol on every claim role, at the
    seeds both evaluated: robust accuracy, and example by example what either breaks that the other does not."""
    ref = f"{full}-reference"
    body, totals = agreement_rows(agg, _role_list(family, with_oracles=False), full, ref)
    seeds = (family.get("analysis") or {}).get("reference_seeds")
    head = [f"### The reference AutoAttack against `{full}`, role by role ({family['name']})", ""]
    if not body:
        return head + [f"Not run yet: the analysis asks for `{ref}` on every claim role at the first {seeds} "
                       "confirmatory seeds.", ""]
    missing = [n for n in _role_list(family, with_oracles=False)
               if not any(line.startswith(f"| `{n}` |") for line in body)]
    return head + [
        f"The standard AutoAttack (the authors' code: APGD-CE, APGD-T, FAB-T and Square on every example, `{ref}`) and "
        f"`{full}` (the fewer-passes APGD with FAB-T and Square on the guards' slice, every attack counted) on the same "
        "examples and eps. Robust accuracy on the seeds both evaluated, then example by example, summed over those "
        f"seeds: robust under `{full}` but broken by the reference (what the verdicts' protocol missed), and the "
        "reverse.", "",
        f"| model | seeds | `{full}` robust | reference robust | reference - ours (points) | ours missed | reference "
        "missed | examples compared |", "|---|---|---|---|---|---|---|---|", *body,
        f"| all | | | | | {totals[0]} | {totals[1]} | {totals[2]} |", ""] + \
        ([f"Roles without a reference record yet: {', '.join(f'`{n}`' for n in missing)}.", ""] if missing else [])
