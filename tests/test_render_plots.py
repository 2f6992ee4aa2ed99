"""matplotlib figures: returned objects, files written, nothing global changed, lazy import."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="the [plot] extra (matplotlib) is not installed")

from segmetrics.errors import InputError  # noqa: E402
from segmetrics.render import ReportData, save_plots  # noqa: E402
from segmetrics.render import plots  # noqa: E402
from segmetrics.render.palettes import heat_colors  # noqa: E402


def _report(k: int = 4) -> ReportData:
    rows = [{"id": i, "name": f"class {i}", "IoU": [0.9, 0.5, None, 0.25][i % 4]} for i in range(k)]
    rep = {"task": "semantic", "params": {}, "dataset": {}, "metrics": {"mIoU": 0.55}, "per_class": rows,
           "warnings": []}
    cm = np.diag(np.arange(10, 10 + k)).astype(np.int64)
    cm[0, 1] = 5
    cm[2] = 0
    per_image = [{"image_id": f"im{i}", "mIoU": v} for i, v in enumerate([0.2, 0.8, float("nan"), 0.5])]
    cmp = {"metrics": {"mIoU": {"base": 0.5, "new": 0.55, "delta": 0.05, "p_value": 0.01}},
           "per_class": [{"id": 0, "name": "class 0", "metric": "IoU", "base": 0.8, "new": 0.9, "delta": 0.1,
                          "low": 0.05, "high": 0.15, "p_adjusted": 0.01},
                         {"id": 1, "name": "class 1", "metric": "IoU", "base": 0.6, "new": 0.5, "delta": -0.1,
                          "p_adjusted": 0.3}]}
    ivs = {"per_class": {"IoU": [{"low": 0.85, "high": 0.95}, None, None, {"low": 0.2, "high": 0.3}]}}
    return ReportData(rep, confusion=cm, per_image=per_image, comparison=cmp, intervals=ivs)


def test_figures_show_the_data():
    from matplotlib.figure import Figure

    data = _report()
    fig = plots.plot_per_class(data)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    bars = [p.get_width() for p in ax.patches if p.get_height() == pytest.approx(0.7)]
    assert bars == pytest.approx([90.0, 50.0, 25.0])             # highest first, undefined class left out
    assert [t.get_text() for t in ax.get_yticklabels()] == ["class 0", "class 1", "class 3"]
    assert len(ax.collections) == 1                                # the interval whiskers
    conf = plots.plot_confusion(data)
    img = conf.axes[0].images[0].get_array()
    view_colours = heat_colors(data.confusion / np.maximum(data.confusion.sum(1, keepdims=True), 1)
                               + np.where(data.confusion.sum(1, keepdims=True) == 0, np.nan, 0),
                               data.confusion)
    np.testing.assert_array_equal(np.asarray(img), view_colours)  # the same colours as the HTML heatmap
    assert [t.get_text() for t in conf.axes[0].get_xticklabels()] == [f"class {i}" for i in range(4)]
    per_image = plots.plot_per_image(data)
    assert "3 images, 1 undefined" in per_image._suptitle.get_text()
    cmpf = plots.plot_comparison(data)
    widths = [p.get_width() for p in cmpf.axes[0].patches if p.get_height() == pytest.approx(0.7)]
    assert widths == pytest.approx([-10.0, 10.0])                  # largest drop first
    with pytest.raises(InputError, match="needs the confusion matrix"):
        plots.plot_confusion(ReportData(data.report))
    with pytest.raises(InputError, match="needs per-image rows"):
        plots.plot_per_image(ReportData(data.report))


def test_save_plots_writes_png_and_svg_that_load(tmp_path):
    from PIL import Image

    paths = save_plots(_report(), tmp_path / "figs", log=True)
    names = sorted(p.name for p in paths)
    assert names == sorted(f"{n}.{e}" for n in ("per_class", "confusion", "per_image", "comparison")
                           for e in ("png", "svg"))
    for p in paths:
        data = p.read_bytes()
        if p.suffix == ".png":
            im = Image.open(io.BytesIO(data))
            im.load()
            assert im.width > 200 and im.height > 100
        else:
            assert data.lstrip().startswith(b"<?xml") and b"<svg" in data
    again = save_plots(_report(), tmp_path / "again", log=True)
    for a, b in zip(paths, again):
        if a.suffix == ".svg":
            assert a.read_bytes() == b.read_bytes()               # no date in the SVG: same data, same file


def test_no_global_matplotlib_state_changes():
    import matplotlib

    before = dict(matplotlib.rcParams)
    backend = matplotlib.get_backend()
    had_pyplot = "matplotlib.pyplot" in sys.modules
    figs = plots.figures(_report())
    assert set(figs) == {"per_class", "confusion", "per_image", "comparison"}
    assert dict(matplotlib.rcParams) == before
    assert matplotlib.get_backend() == backend
    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot


def test_matplotlib_is_imported_lazily():
    code = ("import sys; import segmetrics.render, segmetrics.render.plots; "
            "print('matplotlib' in sys.modules)")
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo)
    assert out.stdout.strip() == "False"
