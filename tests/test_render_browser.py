"""The HTML reports the CLI writes, in a real headless browser: Debian's chromium driven by selenium.

No console error, every picture loads, nothing is fetched from anywhere, the tables sort
when a header is clicked, the page prints to PDF, and a screenshot is not blank.

Set ``SEGMETRICS_SCREENSHOTS=DIR`` to keep the screenshots (``docs/img/`` holds the ones
the README shows).  The tests skip, saying why, only when chromium or chromedriver cannot be
found; CI installs Debian's ``chromium`` and ``chromium-driver`` in ``.ci/run``.
"""
from __future__ import annotations

import base64
import contextlib
import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("selenium", reason="selenium (test extra) is not installed")

from PIL import Image  # noqa: E402


def _find(paths, names) -> str | None:
    for p in paths:
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    for n in names:
        found = shutil.which(n)
        if found:
            return found
    return None


CHROMIUM = _find(["/usr/bin/chromium"], ["chromium", "chromium-browser", "google-chrome"])
DRIVER = _find(["/usr/bin/chromedriver"], ["chromedriver"])
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None or DRIVER is None:
        pytest.skip(f"headless browser not available (chromium: {CHROMIUM}, chromedriver: {DRIVER}); "
                    "CI installs Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="segmetrics-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in FLAGS:
        opts.add_argument(f)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.add_argument("--window-size=1280,1600")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The three pages as the CLI writes them (``eval --html``, ``compare --html``) on the demo data,
    with short relative paths (they show in the screenshots)."""
    from click.testing import CliRunner

    from segmetrics.cli import cli
    from segmetrics.demo import make_panoptic_demo, make_semantic_demo

    root = tmp_path_factory.mktemp("pages")

    def run(*args):
        res = CliRunner().invoke(cli, [str(a) for a in args] + ["-q"], catch_exceptions=False)
        assert res.exit_code == 0, res.output

    with contextlib.chdir(root):
        s = make_semantic_demo(Path("demo/semantic"))
        p = make_panoptic_demo(Path("demo/panoptic"))
        shutil.copytree(s.pred, "demo/semantic/pred_new")           # a "new checkpoint": 12 images fixed
        for f in sorted(Path(s.gt).glob("*.png"))[:12]:
            shutil.copy(f, Path("demo/semantic/pred_new") / f.name)
        sem = ["--class-names", s.class_names, "--no-cache"]
        run("eval", "--gt", s.gt, "--pred", s.pred, *sem, "--ci", "--worst", 8, "--html", "semantic.html",
            "--save-state", "base.smstate")
        run("eval", "--gt", p.gt_json, "--pred", p.pred_json, "--no-cache", "--ci", "--html", "panoptic.html")
        run("eval", "--gt", s.gt, "--pred", "demo/semantic/pred_new", *sem, "--save-state", "new.smstate")
        run("compare", "base.smstate", "new.smstate", "--html", "compare.html")
    return {name: root / f"{name}.html" for name in ("semantic", "panoptic", "compare")}


def _open(driver, path: Path) -> None:
    driver.get_log("browser")                      # drop what earlier pages logged
    driver.get(path.as_uri())
    assert driver.execute_script("return document.readyState") == "complete"


def _checks(driver) -> None:
    errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    assert errors == []
    broken = driver.execute_script(
        "return Array.prototype.filter.call(document.images, function(i){"
        "return !(i.complete && i.naturalWidth > 0);}).length")
    assert broken == 0
    fetched = driver.execute_script(
        "return performance.getEntriesByType('resource').map(function(e){return e.name;})")
    assert [u for u in fetched if not u.startswith("data:")] == []


def _column(driver, section: str, header: str) -> list:
    return driver.execute_script(
        "var t=document.querySelector('#'+arguments[0]+' table.sortable');"
        "var h=Array.prototype.map.call(t.tHead.rows[0].cells,function(c){return c.textContent.trim();});"
        "var j=h.indexOf(arguments[1]);"
        "return Array.prototype.map.call(t.tBodies[0].rows,function(r){return r.cells[j].getAttribute('data-v');});",
        section, header)


def _click(driver, section: str, header: str) -> None:
    from selenium.webdriver.common.by import By

    for th in driver.find_elements(By.CSS_SELECTOR, f"#{section} table.sortable thead th"):
        if th.text.strip() == header:
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", th)
            th.click()
            return
    raise AssertionError(f"no header {header!r} in #{section}")


def _as_numbers(values: list) -> list:
    return [float("nan") if v in (None, "") else float(v) for v in values]


def _assert_sorted(values: list, *, descending: bool) -> None:
    nums = _as_numbers(values)
    defined = [v for v in nums if v == v]
    assert nums[: len(defined)] == defined                       # n/a last
    assert defined == sorted(defined, reverse=descending)


def _screenshot(driver, name: str) -> np.ndarray:
    driver.execute_script("window.scrollTo(0, 0)")
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1280, min(int(height) + 80, 2600))
    png = driver.get_screenshot_as_png()
    keep = os.environ.get("SEGMETRICS_SCREENSHOTS")
    if keep:
        out = Path(keep)
        out.mkdir(parents=True, exist_ok=True)
        im = Image.open(io.BytesIO(png)).convert("RGB")
        im = im.resize((im.width // 2, im.height // 2), Image.LANCZOS)
        im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            out / f"report-{name}.png", optimize=True)
    driver.set_window_size(1280, 1600)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _assert_not_blank(img: np.ndarray) -> None:
    not_white = np.any(img < 235, axis=2).mean()
    assert not_white > 0.01                                     # a blank page has none
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 30


def test_semantic_page_in_chromium(browser, pages):
    _open(browser, pages["semantic"])
    _checks(browser)
    _assert_not_blank(_screenshot(browser, "semantic"))
    before = _column(browser, "per-class", "IoU")
    _click(browser, "per-class", "IoU")
    _assert_sorted(_column(browser, "per-class", "IoU"), descending=False)
    assert sorted(_as_numbers(before)) == _as_numbers(_column(browser, "per-class", "IoU"))
    _click(browser, "per-class", "IoU")
    _assert_sorted(_column(browser, "per-class", "IoU"), descending=True)
    _click(browser, "per-class", "name")
    names = browser.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll('#per-class table.sortable tbody tr'),"
        "function(r){return r.cells[1].textContent.trim();})")
    assert names == sorted(names, key=str.lower)
    assert len(browser.find_elements("css selector", "#worst figure")) == 8


def test_panoptic_page_in_chromium(browser, pages):
    _open(browser, pages["panoptic"])
    _checks(browser)
    _assert_not_blank(_screenshot(browser, "panoptic"))
    _click(browser, "per-class", "PQ")
    _click(browser, "per-class", "PQ")
    _assert_sorted(_column(browser, "per-class", "PQ"), descending=True)
    _click(browser, "per-class", "FN")
    _assert_sorted(_column(browser, "per-class", "FN"), descending=False)


def test_compare_page_in_chromium(browser, pages):
    _open(browser, pages["compare"])
    _checks(browser)
    _assert_not_blank(_screenshot(browser, "compare"))
    _click(browser, "per-class", "delta (points)")
    _assert_sorted(_column(browser, "per-class", "delta (points)"), descending=False)


def test_report_prints_to_pdf(browser, pages):
    _open(browser, pages["semantic"])
    pdf = base64.b64decode(browser.execute_cdp_cmd("Page.printToPDF", {"printBackground": True})["data"])
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") >= 2
    _checks(browser)
