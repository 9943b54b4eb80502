"""reports/index.html tested as a person would use it, in a real browser (headless Chromium): every
record's model is in the table, sorting by worst case and filtering by strategy change the rows as
expected, and nothing on the page comes from the network. A screenshot is kept as a test artifact
($RTB_ARTIFACTS, default: the test's temporary folder)."""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    from benchmark.reports import build_report
    from benchmark.reports.frame import aggregate, records_frame

    out = tmp_path_factory.mktemp("reports")
    build_report(None, out)
    agg = aggregate(records_frame())
    return out / "index.html", agg


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed: `apt-get install chromium` (scripts/install.sh does where it can)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: `pip install -e .[test]`")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


def test_the_page_escapes_what_it_shows():
    import pandas as pd

    from benchmark.reports.html import index_html

    row = {"protocol": "p", "task": "t", "model": "<script>alert(1)</script>", "architecture": "a", "source": "-",
           "family": "<b>x</b>", "n_per_class": "all", "n_seeds": 1, "clean": 0.9, "clean_sd": 0.0, "robust": 0.5,
           "robust_sd": 0.0, "robust_low": 0.4, "robust_high": 0.6, "cost": None, "flags": "", "threat": "Linf",
           "eps": 0.1, "n_examples": 10, "strategy": "s\" onmouseover=\"x", "seeds": [0], "weights_files": []}
    page = index_html(pd.DataFrame([row]), [])
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>x</b>" not in page and 'onmouseover="x' not in page


def test_leaderboard_page_in_a_browser(page_file, browser):
    path, agg = page_file
    requests = []
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_selector("table.board tbody tr")
    shown = page.eval_on_selector_all("table.board tbody tr", "rs => rs.map(r => r.dataset.model)")
    assert set(shown) == set(agg.model) and len(shown) == len(agg)

    # sorting by worst case: click the header (ascending), then again (descending)
    # on the largest board (a protocol-and-task board may hold a single model)
    counts = page.eval_on_selector_all("table.board", "ts => ts.map(t => t.tBodies[0].rows.length)")
    table = page.locator("table.board").nth(counts.index(max(counts)))
    header = table.locator("th", has_text="worst case")
    header.click()
    values = table.locator("td.worst").evaluate_all("cs => cs.map(c => parseFloat(c.dataset.sort))")
    assert values == sorted(values) and len(values) > 1
    header.click()
    values = table.locator("td.worst").evaluate_all("cs => cs.map(c => parseFloat(c.dataset.sort))")
    assert values == sorted(values, reverse=True)

    # filtering by strategy: only that strategy's rows stay visible, everywhere on the page
    strategy = "lwf" if "lwf" in set(agg.strategy) else sorted(set(agg.strategy))[0]
    page.select_option("#filter-strategy", strategy)
    visible = page.eval_on_selector_all(
        "table.board tbody tr", "rs => rs.filter(r => r.style.display !== 'none').map(r => r.dataset.strategy)")
    assert visible and set(visible) == {strategy}
    assert int(page.inner_text("#shown")) == len(visible) == int((agg.strategy == strategy).sum())
    page.select_option("#filter-strategy", "")
    assert int(page.inner_text("#shown")) == len(agg)

    page.evaluate("window.scrollTo(0, 0)")
    shot = Path(os.environ.get("RTB_ARTIFACTS", path.parent)) / "leaderboard.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000
    assert all(u.startswith("file://") for u in requests), [u for u in requests if not u.startswith("file://")]
    page.close()


ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_screenshot_shows_the_page_the_committed_records_give(page_file, browser):
    """reports/index.png cannot go stale: reports/index.png.sha256 names the page it shows. When the page built from
    the committed records is another, the screenshot is taken again here (commit it); in CI that is a failure."""
    import hashlib

    path, _ = page_file
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    stamp = ROOT / "reports" / "index.png.sha256"
    if stamp.is_file() and stamp.read_text().split()[0] == sha and (ROOT / "reports" / "index.png").is_file():
        return
    assert not os.environ.get("CI"), ("reports/index.png shows another page than the committed records give: run "
                                      "`python -m pytest tests/test_html_report.py` and commit reports/index.png*")
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    page.goto(path.as_uri())
    page.wait_for_selector("table.board tbody tr")
    page.screenshot(path=str(ROOT / "reports" / "index.png"))
    page.close()
    stamp.write_text(f"{sha}  the page reports/index.png shows (built from the committed records)\n")
