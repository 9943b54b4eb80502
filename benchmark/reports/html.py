"""reports/index.html: the leaderboard as one self-contained page people browse (no server, no network
at view time: the style and script are inline, the plots lie beside it in plots/).

One table per protocol and task, sortable by any column and filterable by task, architecture,
strategy and data size; each row links to its zoo entry, its records and its published weights
(with their sha256). Then the claims with verdicts and intervals, and the plots with captions.
Every value and text is escaped: an entry's name or description cannot inject markup.
"""

from __future__ import annotations

import html
import json

from benchmark.reports.leaderboard import task_label, task_name

CAPTIONS = {
    "data_size": "Robust accuracy (worst case over the battery), clean accuracy and training cost against the "
                 "number of target training examples per class, for every strategy: mean and 95% interval over "
                 "seeds. Where transfer and adversarial training from scratch cross is in the claims.",
    "blocks": "Accuracy as more of the last blocks are re-initialized and retrained naturally (0: a linear head on "
              "the frozen source); claim (b) says robustness falls along this axis.",
    "cost": "Robust accuracy against training cost (forward+backward passes, log scale): what each strategy buys "
            "per unit of compute.",
    "source_eps": "Target robustness of each transfer against the eps its source was adversarially trained with "
                  "(0: a naturally trained source).",
    "lwf_lambda": "LwF's robust and clean accuracy against the weight of its feature-distance penalty.",
    "eps": "Robust accuracy against the attack radius (sweep points).",
}

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1b1f23;max-width:1500px}
h1{margin-bottom:4px} h2{margin-top:36px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.note{color:#57606a;font-size:14px;max-width:1000px}
.filters{display:flex;gap:14px;flex-wrap:wrap;margin:14px 0;padding:10px;background:#f6f8fa;border-radius:6px}
.filters label{font-size:13px} select{margin-left:4px}
table{border-collapse:collapse;font-size:13px;margin-bottom:8px}
th,td{border:1px solid #d0d7de;padding:3px 7px;text-align:left;white-space:nowrap}
th{background:#f6f8fa;cursor:pointer;user-select:none;position:sticky;top:0}
th.sorted-asc::after{content:" \\25B2"} th.sorted-desc::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.flagged td{background:#fff5f5}
.verdict-reproduced{color:#116329;font-weight:600} .verdict-contradicted{color:#a40e26;font-weight:600}
.verdict-inconclusive{color:#7d4e00;font-weight:600} .verdict-missing{color:#57606a}
figure{margin:18px 0} figure img{max-width:100%;border:1px solid #d0d7de}
figcaption{font-size:13px;color:#57606a;max-width:1000px}
.count{font-size:13px;color:#57606a}
"""

SCRIPT = """
(function(){
  const rows = () => Array.from(document.querySelectorAll('table.board tbody tr'));
  function applyFilters(){
    const want = {};
    document.querySelectorAll('.filters select').forEach(s => { want[s.dataset.key] = s.value; });
    let shown = 0;
    rows().forEach(tr => {
      const ok = Object.entries(want).every(([k, v]) => v === '' || tr.dataset[k] === v);
      tr.style.display = ok ? '' : 'none';
      if (ok) shown += 1;
    });
    document.getElementById('shown').textContent = shown;
  }
  document.querySelectorAll('.filters select').forEach(s => s.addEventListener('change', applyFilters));
  document.querySelectorAll('table.board').forEach(table => {
    table.querySelectorAll('th').forEach((th, col) => th.addEventListener('click', () => {
      const asc = !th.classList.contains('sorted-asc');
      table.querySelectorAll('th').forEach(h => h.classList.remove('sorted-asc', 'sorted-desc'));
      th.classList.add(asc ? 'sorted-asc' : 'sorted-desc');
      const body = table.tBodies[0];
      const key = tr => { const c = tr.children[col]; const v = c.dataset.sort ?? c.textContent.trim();
                          const n = parseFloat(v); return isNaN(n) ? v.toLowerCase() : n; };
      Array.from(body.rows).sort((a, b) => { const x = key(a), y = key(b);
        const r = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x).localeCompare(String(y));
        return asc ? r : -r; }).forEach(tr => body.appendChild(tr));
    }));
  });
  applyFilters();
})();
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(v) -> str:
    return "" if v is None or v != v else f"{100 * v:.1f}"


def _links(r) -> str:
    name, proto = str(r["model"]), str(r["protocol"])
    parts = [f'<a href="../model_zoo/{_e(name)}.yaml">entry</a>',
             f'<a href="../results/{_e(proto)}/{_e(name)}/">records</a>']
    for w in r.get("weights_files") or []:
        parts.append(f'<a href="../model_zoo/{_e(w["file"])}" title="sha256 {_e(w["sha256"])}">seed {_e(w["seed"])}'
                     f'</a> <code>{_e(str(w["sha256"])[:12])}</code>')
    return " ".join(parts)


def _tables(agg, corruptions: dict | None = None) -> tuple[list[str], dict[str, set]]:
    corruptions = corruptions or {}
    out, options = [], {"task": set(), "architecture": set(), "strategy": set(), "size": set()}
    for (proto, ref), g in agg.groupby(["protocol", agg.task.astype(str)], sort=True):
        task = task_name(ref)
        g = g.sort_values(["robust", "clean"], ascending=False)
        atk = [c for c in g.columns if c.startswith("atk:") and g[c].notna().any()]
        first = g.iloc[0]
        corr = any(m in corruptions for m in g.model)
        head = ["model", "task", "architecture", "source", "strategy", "n/class", "seeds", "clean"] + \
            [c[4:] for c in atk] + ["worst case", "95% interval"] + (["corruptions"] if corr else []) + \
            ["cost (M passes)", "guard flags", "links"]
        out += [f"<h3>{_e(proto)}: {_e(task_label(ref))} ({_e(first['threat'])}, eps={first['eps']:.4g}, "
                f"n={int(first['n_examples'])})</h3>",
                f'<table class="board" data-protocol="{_e(proto)}"><thead><tr>' +
                "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead><tbody>"]
        for _, r in g.iterrows():
            size = str(r["n_per_class"])
            for key, value in (("task", task), ("architecture", r["architecture"]), ("strategy", r["strategy"]),
                               ("size", size)):
                options[key].add(str(value))
            cost = r["cost"]
            cells = [f"<td><code>{_e(r['model'])}</code></td>", f"<td>{_e(task)}</td>",
                     f"<td>{_e(r['architecture'])}</td>", f"<td>{_e(r['source'])}</td>",
                     f"<td>{_e(r['family'])}</td>",
                     f'<td class="num" data-sort="{1e9 if size == "all" else _e(size)}">{_e(size)}</td>',
                     f'<td class="num">{int(r["n_seeds"])}</td>',
                     f'<td class="num" data-sort="{r["clean"]:.6f}">{_num(r["clean"])} ± {_num(r["clean_sd"])}</td>']
            cells += [f'<td class="num">{_num(r[c])}</td>' for c in atk]
            cells += [f'<td class="num worst" data-sort="{r["robust"]:.6f}"><b>{_num(r["robust"])}</b> ± '
                      f'{_num(r["robust_sd"])}</td>',
                      f'<td class="num">[{_num(r["robust_low"])}, {_num(r["robust_high"])}]</td>']
            if corr:  # mean accuracy under common corruptions (the leaderboard's section has the severities)
                c = corruptions.get(r["model"])
                text = "" if c is None else f"{_num(c['mean'])} ± {_num(c['sd'])}"
                cells.append(f'<td class="num" data-sort="{c["mean"] if c else -1:.6f}">{text}</td>')
            cells += [f'<td class="num">{"" if cost is None or cost != cost else f"{cost / 1e6:.3g}"}</td>',
                      f"<td>{_e(r['flags'] or '')}</td>", f"<td>{_links(r)}</td>"]
            flagged = ' class="flagged"' if r["flags"] else ""
            out.append(f'<tr{flagged} data-model="{_e(r["model"])}" data-task="{_e(task)}" '
                       f'data-architecture="{_e(r["architecture"])}" data-strategy="{_e(r["strategy"])}" '
                       f'data-size="{_e(size)}">' + "".join(cells) + "</tr>")
        out.append("</tbody></table>")
    return out, options


def _filters(options: dict[str, set]) -> str:
    def order(key, values):
        if key == "size":
            return sorted(values, key=lambda v: (v == "all", float(v) if v != "all" else 0))
        return sorted(values)

    parts = []
    for key, label in (("task", "task"), ("architecture", "architecture"), ("strategy", "strategy"),
                       ("size", "examples per class")):
        opts = "".join(f'<option value="{_e(v)}">{_e(v)}</option>' for v in order(key, options[key]))
        parts.append(f'<label>{_e(label)}<select data-key="{key}" id="filter-{key}"><option value="">all</option>'
                     f"{opts}</select></label>")
    return '<div class="filters">' + "".join(parts) + '<span class="count"><span id="shown">0</span> rows shown' \
        "</span></div>"


def _claims(results) -> list[str]:
    if not results:
        return []
    out = ["<h2>The paper's claims</h2>",
           '<p class="note">Each test: a mean over the family\'s fixed seeds with its 95% interval (seeds and the '
           "evaluation subset's sampling error together); reproduced when the interval lies on the paper's side, "
           "contradicted when on the other, inconclusive otherwise. Details and the analyses: "
           '<a href="claims.md">claims.md</a>.</p>',
           "<table><thead><tr><th>claim</th>" +
           "".join(f"<th>{_e(f['name'])}<br><small>{_e(f.get('pair', ''))}; {_e(f.get('seeds', ''))} seeds</small>"
                   "</th>" for f, _ in results) + "</tr></thead><tbody>"]
    for i, claim in enumerate(results[0][1]):
        cells = []
        for _, claims in results:
            c = claims[i]
            tests = "<br>".join(f"{_e(t.text)}: {_e('missing' if t.estimate is None else t.estimate.pct())}"
                                for t in c.tests)
            cells.append(f'<td><span class="verdict-{_e(c.verdict.split()[0])}">{_e(c.verdict)}</span>'
                         f"<br><small>{tests}</small></td>")
        out.append(f"<tr><td>({_e(claim.key)}) {_e(claim.statement)}</td>{''.join(cells)}</tr>")
    return out + ["</tbody></table>"]


def _plots(plots: list[tuple[str, str]]) -> list[str]:
    out = ["<h2>Plots</h2>"] if plots else []
    for title, rel in plots:
        stem = rel.split("/")[-1]
        kind = next((k for k in CAPTIONS if stem.startswith(k + "_")), None)
        caption = CAPTIONS.get(kind, "")
        out.append(f'<figure><img src="{_e(rel)}" alt="{_e(title)}"><figcaption><b>{_e(title)}.</b> '
                   f"{_e(caption)}</figcaption></figure>")
    return out


def index_html(agg, plots: list[tuple[str, str]], claims_results=None, stale: dict | None = None,
               corruptions: dict | None = None) -> str:
    from benchmark.reports.frame import stale_text

    tables, options = _tables(agg, corruptions)
    n_records = int(sum(len(s) for s in agg["seeds"]))
    meta = {"models": int(len(agg)), "records": n_records}
    body = ["<h1>robust-transfer-bench leaderboard</h1>",
            f'<p class="note">{meta["models"]} models, {meta["records"]} records (model x seed), built by '
            "<code>python -m benchmark report</code> from the records in <code>results/</code>. Accuracies in %: "
            "mean ± standard deviation over seeds; the 95% interval counts seeds and the evaluation subset. Worst "
            "case: an example is robust only if every attack the protocol ran on it failed, the guards' attacks "
            "inside the threat model included. Click a column to sort; filter with the menus. Rows with guard flags "
            "(possible gradient masking) are shaded.</p>",
            f'<p class="note">{html.escape(stale_text(stale or {})).replace("`", "")}</p>',
            _filters(options), *tables, *_claims(claims_results), *_plots(plots)]
    meta_json = json.dumps(meta).replace("</", "<\\/")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<title>robust-transfer-bench leaderboard</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) +
            f'\n<script type="application/json" id="meta">{meta_json}</script>'
            f"\n<script>{SCRIPT}</script>\n</body></html>\n")
