"""The import graph of segmetrics: no cycle (static walk), light top-level import, lazy optional deps."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "segmetrics"
OPTIONAL = ("torch", "matplotlib", "dask", "distributed", "fsspec", "selenium", "tqdm", "scipy", "cv2")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict) -> list[tuple[str, int, bool]]:
    """(imported segmetrics module, line, inside a function) of every import statement in a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            targets = []
            if isinstance(child, ast.Import):
                targets = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    mod = ".".join(base + ([child.module] if child.module else []))
                else:
                    mod = child.module or ""
                targets = [mod] + [f"{mod}.{a.name}" for a in child.names]
            for t in targets:
                # the deepest segmetrics module the statement names
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t.startswith("segmetrics") and t != name:
                    found.append((t, child.lineno, in_function))
            visit(child, inner)

    visit(tree, False)
    return found


def test_no_import_cycle_inside_segmetrics():
    """Every import counts, also those inside functions: an import moved into a function
    to dodge a cycle still closes it here."""
    modules = _modules()
    graph = {m: sorted({t for t, _, _ in _imports(m, p, modules)}) for m, p in modules.items()}
    # a package imports its parent package implicitly; that edge is no cycle of ours
    graph = {m: [t for t in ts if not m.startswith(t + ".")] for m, ts in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def dfs(m):
        state[m] = 1
        stack.append(m)
        for t in graph.get(m, []):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                dfs(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            dfs(m)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
    assert len(graph) > 20  # the walk saw the package


def test_optional_dependencies_are_imported_inside_functions_only():
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            bad += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names if n.split(".")[0] in OPTIONAL]
    assert not bad, bad


@pytest.mark.parametrize("statement", ["import segmetrics", "import segmetrics.folders, segmetrics.runs"])
def test_top_level_import_is_light(statement):
    code = (f"{statement}\nimport sys\n"
            f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {OPTIONAL + ('click',)!r})\n"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_public_api_is_complete():
    import segmetrics as sm

    for name in sm.__all__:
        assert getattr(sm, name) is not None, name
    for name in ("evaluate_semantic_folders", "evaluate_panoptic_folders", "load_state", "merge_states",
                 "panoptic_quality", "SemanticState", "PanopticState"):
        assert name in sm.__all__ and name in dir(sm)
    assert sm.panoptic_quality is sm.folders.panoptic_quality
    with pytest.raises(AttributeError):
        sm.no_such_function  # noqa: B018


@pytest.mark.parametrize("args", [["--version"], ["eval", "--help"], ["--help"]])
def test_version_and_help_import_no_numpy(args):
    """The command line starts without numpy, Pillow, orjson or the compiled kernels: the
    library loads when a command runs (issue 17).  Checked on the modules, not on a timing."""
    code = ("import sys\nfrom segmetrics.cli import main\nsys.argv = ['segmetrics'] + sys.argv[1:]\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\nelse:\n    code = 0\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'PIL', 'orjson', 'deflate')"
            " or m.startswith('segmetrics._kernels'))\n"
            "print('HEAVY', code, heavy, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "segmetrics" in out.stdout  # the version line or the help text was printed
    assert out.stderr.strip().splitlines()[-1] == "HEAVY 0 []", out.stderr


def test_a_command_loads_only_its_own_module():
    """``segmetrics eval --help`` imports the eval command's module, not the other commands' nor
    ``reference_models`` (whose torch-side modules the train and predict commands need);
    ``segmetrics --help`` lists them all."""
    code = ("import sys\nfrom segmetrics.cli import main\nsys.argv = ['segmetrics'] + sys.argv[1:]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('LOADED', sorted(m for m in sys.modules if m.startswith(('segmetrics.cli.', 'reference_models'))),"
            " file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code, "eval", "--help"], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    loaded = out.stderr.strip().splitlines()[-1]
    assert "segmetrics.cli.eval_cmd" in loaded and "--gt" in out.stdout
    for other in ("compare_cmd", "merge_cmd", "report_cmd", "validate_cmd", "cache_cmd", "reference_models"):
        assert other not in loaded, loaded
    out = subprocess.run([sys.executable, "-c", code, "--help"], cwd=ROOT, capture_output=True, text=True, check=True)
    for name in ("cache", "compare", "demo", "eval", "merge", "report", "validate"):
        assert f"  {name} " in out.stdout


def test_lazy_names_resolve_to_their_modules():
    """Every public name of ``segmetrics`` loads on first use, from the module that defines it."""
    import importlib

    code = "import segmetrics, sys\nprint(sorted(m for m in sys.modules if m.split('.')[0] == 'numpy')[:1])"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
    import segmetrics as sm

    assert set(sm.__all__) == set(sm._LAZY) | {"__version__"}
    for name, module in sm._LAZY.items():
        value = getattr(sm, name)
        expected = (importlib.import_module(f"segmetrics.{name}") if module is None
                    else getattr(importlib.import_module(f"segmetrics.{module}"), name))
        assert value is expected, name


#: What a semantic folder run does without (issue 17, peak memory): the panoptic half of the
#: folder API, its kernels, readers and result code ...
PANOPTIC_SIDE = ("segmetrics._folders_panoptic", "segmetrics.panoptic", "segmetrics.io.coco_panoptic",
                 "segmetrics.io.coco_lazy", "segmetrics._kernels.panoptic", "segmetrics._kernels.folder_panoptic",
                 "segmetrics._engine.image", "segmetrics._engine.columns")
#: ... and the remote-file module (runs on local files do without it), json, the validate checkers,
#: the in-memory confusion kernel
LEFT_OUT = PANOPTIC_SIDE + ("segmetrics.remote", "json", "segmetrics.validate._findings",
                             "segmetrics._kernels.confusion")  # (the array evaluator's kernel)

# one line per step: its name, the LEFT_OUT modules loaded, what it gave (tab-separated)
_SEMANTIC_THEN_PANOPTIC = """
import sys
SIDE = {side!r}
loaded = lambda: [m for m in SIDE + {more!r} if m in sys.modules]
import segmetrics.folders as F
print("import", loaded(), sep="\t")
print("no such name", hasattr(F, "no_such_name"), loaded(), sep="\t")
for kw in {runs!r}:
    r = F.evaluate_semantic_folders({gt!r}, {pred!r}, num_classes=3, label_map={{10: 0, 11: 1, 12: 2, "*": 255}},
                                    jobs=2, **kw)
    print("semantic", loaded(), r.state.confusion.tolist(), r.params["pred_labels"],
          [n for n in r.notes if "pred_labels=" in n], sep="\t")
p = F.evaluate_panoptic_folders({pan_gt!r}, {pan_pred!r}, jobs=2)
print("panoptic", [m for m in SIDE if m not in sys.modules], "segmetrics.remote" in sys.modules,
      sorted(p.metrics.items()), sep="\t")
"""


def test_semantic_folder_run_loads_no_panoptic_module(tmp_path):
    """A semantic folder run in a fresh interpreter (class indices, ``pred_labels="auto"`` deciding
    from a sample, the GT cache cold and warm, boundary metrics) imports none of :data:`LEFT_OUT`;
    a panoptic run afterwards loads the panoptic side and gives the numbers of an ordinary run."""
    import numpy as np
    from PIL import Image

    from segmetrics.demo import make_panoptic_demo
    from segmetrics.folders import evaluate_panoptic_folders

    rng = np.random.default_rng(17)
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    gt.mkdir()
    pred.mkdir()
    want = np.zeros((3, 3), dtype=np.int64)  # the oracle: rows GT, columns prediction
    for i in range(5):
        g = rng.integers(0, 3, size=(19, 27))
        p = np.where(rng.random(g.shape) < 0.6, g, rng.integers(0, 3, size=g.shape))
        g[:, 0] = 255  # a raw value the label map sends to ignore
        np.add.at(want, (g[g != 255], p[g != 255]), 1)
        Image.fromarray(np.where(g == 255, 255, g + 10).astype(np.uint8)).save(gt / f"{i}.png")  # raw 10..12
        Image.fromarray(p.astype(np.uint8)).save(pred / f"{i}.png")  # class indices
    demo = make_panoptic_demo(tmp_path / "pan")
    cache = str(tmp_path / "cache")
    runs = [{"pred_labels": "class-index"}, {}, {"cache_dir": cache}, {"cache_dir": cache},
            {"boundary": True, "pred_labels": "class-index"}, {"per_image": True, "boundary": True}]
    code = _SEMANTIC_THEN_PANOPTIC.format(side=PANOPTIC_SIDE, more=LEFT_OUT[len(PANOPTIC_SIDE):], runs=runs,
                                          gt=str(gt), pred=str(pred), pan_gt=str(demo.gt_json),
                                          pan_pred=str(demo.pred_json))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line.split("\t") for line in out.stdout.splitlines()]
    assert [line[0] for line in lines] == ["import", "no such name"] + ["semantic"] * len(runs) + ["panoptic"]
    assert lines[0][1:] == ["[]"]
    assert lines[1][1:] == ["False", "[]"]  # an unknown name raises AttributeError without loading anything
    for kw, (_, side, confusion, reading, notes) in zip(runs, lines[2:]):
        assert side == "[]", (kw, side)
        assert confusion == repr(want.tolist()) and reading == "class-index", (kw, confusion, reading)
        given = "pred_labels" in kw
        assert ("(given)" in notes) == given and ("'auto' chose 'class-index'" in notes) == (not given), notes
    _, missing, remote, metrics = lines[-1]
    assert missing == "[]" and remote == "False"  # the panoptic run loaded what it needs, and only that
    ordinary = evaluate_panoptic_folders(demo.gt_json, demo.pred_json, jobs=2)
    assert ordinary.metrics["PQ"] > 0 and metrics == repr(sorted(ordinary.metrics.items()))


def test_semantic_eval_command_loads_no_panoptic_module(tmp_path):
    """``segmetrics eval`` on semantic folders (local paths) imports neither the panoptic half, the
    remote-file module, the other commands nor the array kernel; its JSON holds the oracle's mIoU."""
    import json

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(5)
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    cm = np.zeros((4, 4), dtype=np.int64)
    for i in range(3):
        g = rng.integers(0, 4, size=(13, 17))
        p = np.where(rng.random(g.shape) < 0.7, g, rng.integers(0, 4, size=g.shape))
        np.add.at(cm, (g.ravel(), p.ravel()), 1)
        Image.fromarray(g.astype(np.uint8)).save(tmp_path / "gt" / f"{i}.png")
        Image.fromarray(p.astype(np.uint8)).save(tmp_path / "pred" / f"{i}.png")
    iou = np.diag(cm) / (cm.sum(0) + cm.sum(1) - np.diag(cm))
    code = ("import sys\nfrom segmetrics.cli import main\nsys.argv = ['segmetrics'] + sys.argv[1:]\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
            f"side = {LEFT_OUT[:-3] + LEFT_OUT[-2:]!r} + ('segmetrics.cli.compare_cmd', 'reference_models')\n"
            "print('LOADED', code, [m for m in side if m in sys.modules], file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code, "eval", "--gt", str(tmp_path / "gt"), "--pred",
                          str(tmp_path / "pred"), "--num-classes", "4", "--no-cache", "-q", "--json", "-"],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.stderr.strip().splitlines()[-1] == "LOADED 0 []", out.stderr[-2000:]
    assert abs(json.loads(out.stdout)["metrics"]["mIoU"] - iou.mean()) < 1e-12


def test_panoptic_names_of_folders_are_those_of_the_panoptic_half():
    """``segmetrics.folders`` serves every name ``segmetrics._folders_panoptic`` defines, as that
    very object, and lists them in ``dir``; ``__all__`` names all resolve."""
    import inspect

    import segmetrics._folders_panoptic as half
    import segmetrics.folders as F

    defined = {name for name, value in vars(half).items()
               if (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ == half.__name__}
    assert defined == set(F._PANOPTIC)
    for name in defined:
        assert getattr(F, name) is getattr(half, name), name
        assert name in dir(F)
    for name in F.__all__:
        assert getattr(F, name) is not None, name
    with pytest.raises(AttributeError):
        F.no_such_name  # noqa: B018
