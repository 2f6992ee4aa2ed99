"""Issue 11, the items that live in the readers, the PNG decoder and the GT cache.

One regression test (or a few) per item, numbered as in the issue.  Memory items run
in a subprocess under an ``RLIMIT_AS`` cap, so a regression fails there instead of
taking the machine down; permission items run as an unprivileged user when the tests
run as root (root reads every folder); concurrency items start real processes.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from segmetrics import gtcache
from segmetrics.errors import DataFileError, FormatError, InputError
from segmetrics.folders import evaluate_semantic_files
from segmetrics.gtcache import FORMAT_VERSION, GTCache, cache_clear, cache_info
from segmetrics.io.coco_panoptic import id2rgb, read_id_png
from segmetrics.io.folders import find_label_files, pair_label_files
from segmetrics.io.png import (DEFAULT_MAX_PIXELS, check_same_size, decode_png, get_max_pixels, png_info,
                               png_size, read_png, set_max_pixels)
from segmetrics import panoptic_quality
from segmetrics.semantic import SemanticEvaluator

from cli_data import oracle_confusion, write_png
from test_panoptic import make_dataset, write_coco

REPO = Path(__file__).resolve().parents[1]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
NOBODY = 65534


# ----------------------------------------------------------------------------- helpers
def chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def _zeros_deflate(n: int) -> bytes:
    """A zlib stream of ``n`` zero bytes, built without compressing them all: after a full
    flush the compressor forgets its history, so every further 16 MiB of zeros compresses
    to the same bytes, which are repeated; the Adler-32 of n zeros is ``(n mod 65521) << 16 | 1``."""
    step = 1 << 24
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(step)
    parts = []
    if n > step:
        parts.append(c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH))
        repeat = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
        parts.append(repeat * ((n - 1) // step - 1))
    rest = n - step * (len(parts) and (n - 1) // step)
    parts.append(c.compress(bytes(rest)) + c.flush())
    return b"\x78\xda" + b"".join(parts) + struct.pack(">I", ((n % 65521) << 16) | 1)


def zero_png(width: int, height: int, *, color_type: int = 0, bit_depth: int = 8, interlace: int = 0,
             idat: bytes | None = None) -> bytes:
    """A valid all-zero PNG of any declared size (a 40000 x 40000 grey file is 1.6 MB)."""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    if idat is None:
        idat = _zeros_deflate(height * (1 + (width * channels * bit_depth + 7) // 8))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace)
    plte = chunk(b"PLTE", bytes(768)) if color_type == 3 else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + plte + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def run_python(code: str, *, rlimit_as: int | None = None, unprivileged: bool = False,
               timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter on this tree; ``rlimit_as`` caps its address space.

    With ``unprivileged`` and root, the code runs after dropping to uid/gid 65534: every
    module it needs must be imported before the line ``DROP()``, which the snippet calls
    (the interpreter's own files are not readable by that user)."""
    drop = "os.setgroups([]); os.setgid(%d); os.setuid(%d)" % (NOBODY, NOBODY) if unprivileged and IS_ROOT else "pass"
    prelude = f"import os, sys\nsys.path.insert(0, {str(REPO)!r})\ndef DROP():\n    {drop}\n"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")

    def limit():
        if rlimit_as is not None:
            import resource
            resource.setrlimit(resource.RLIMIT_AS, (rlimit_as, rlimit_as))

    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO, env=env, preexec_fn=limit)


@pytest.fixture
def public_tmp():
    """A folder every user can enter (for the unprivileged subprocesses); removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="segm-io-"))
    d.chmod(0o755)
    yield d
    for p in [d, *d.rglob("*")]:
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o755)
    shutil.rmtree(d)


Z = np.zeros((3, 4), np.uint8)


def _touch(root: Path, *names: str) -> None:
    for n in names:
        write_png(root / n, Z)


# ----------------------------------------------------------------------------- 1. unreadable folders
@pytest.mark.parametrize("side", ["gt", "pred"])
def test_1_unreadable_subfolder_is_an_error_naming_it(public_tmp, side):
    for s in ("gt", "pred"):
        _touch(public_tmp / s, "a.png", "ok/b.png", "locked/c.png")
    (public_tmp / side / "locked").chmod(0o000)
    res = run_python(f"""
        from segmetrics.errors import DataFileError
        from segmetrics.io.folders import pair_label_files
        DROP()
        try:
            p = pair_label_files({str(public_tmp / 'gt')!r}, {str(public_tmp / 'pred')!r})
            print("PAIRS", len(p.pairs), p.missing, p.extra)
        except DataFileError as exc:
            print("ERROR", exc)
        """, unprivileged=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("ERROR"), res.stdout
    assert f"{side}" in res.stdout and "locked" in res.stdout and "Permission denied" in res.stdout
    assert ("ground-truth" if side == "gt" else "prediction") in res.stdout


def test_1_unreadable_root_folder_is_an_error(public_tmp):
    _touch(public_tmp / "gt", "a.png")
    _touch(public_tmp / "pred", "a.png")
    (public_tmp / "gt").chmod(0o000)
    res = run_python(f"""
        from segmetrics.errors import DataFileError
        from segmetrics.io.folders import find_label_files
        DROP()
        try:
            print("FOUND", find_label_files({str(public_tmp / 'gt')!r}, what="ground-truth"))
        except DataFileError as exc:
            print("ERROR", exc)
        """, unprivileged=True)
    assert res.stdout.startswith("ERROR") and "cannot read the ground-truth folder" in res.stdout, res.stdout + res.stderr


# ----------------------------------------------------------------------------- 2. symbolic link loops
@pytest.mark.parametrize("link,target", [("loop", "."), ("sub/up", ".."), ("sub/self", "../sub")])
def test_2_link_loops_are_walked_once_and_noted(tmp_path, link, target):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    for root in (gt, pred):
        _touch(root, "a.png", "b.png", "sub/c.png")
        (root / link).symlink_to(target)   # e.g. gt/loop -> gt: os.walk followed it 40 levels deep
    pairing = pair_label_files(gt, pred)
    assert [p[0] for p in pairing.pairs] == ["a", "b", "sub/c"]
    assert pairing.missing == [] and pairing.extra == []
    assert len(pairing.notes) == 2  # the link on each side, each noted once
    assert all("searched under another name" in n for n in pairing.notes)
    assert str(gt / link) in pairing.notes[0] and str(pred / link) in pairing.notes[1]
    # and the numbers: three images, each counted once (the issue saw 123 images)
    ev = evaluate_semantic_files(pairing.pairs, SemanticEvaluator(2), jobs=2)
    assert ev.state.num_images == 3 and ev.state.confusion.sum() == 3 * Z.size
    # the folder API and the CLI report the skipped links among their notes
    from segmetrics import evaluate_semantic_folders
    res = evaluate_semantic_folders(gt, pred, num_classes=2)
    assert res.num_images == 3 and [n for n in res.notes if "searched under another name" in n] == pairing.notes
    from click.testing import CliRunner
    from segmetrics.cli import cli
    out = CliRunner().invoke(cli, ["eval", "--gt", str(gt), "--pred", str(pred), "--num-classes", "2", "--no-cache"])
    assert out.exit_code == 0 and out.output.count("searched under another name") == 2, out.output


def test_2_aliases_counted_once_and_links_that_are_not_loops_still_work(tmp_path):
    gt, outside = tmp_path / "gt", tmp_path / "outside"
    _touch(gt, "a.png", "sub/c.png")
    _touch(outside, "d.png", "deep/e.png")
    (gt / "alias").symlink_to(gt / "sub")       # a second name of gt/sub: skipped
    (gt / "ext").symlink_to(outside)            # a folder outside the tree: followed
    (gt / "ext2").symlink_to(outside)           # the same outside folder again: skipped
    write_png(tmp_path / "elsewhere.png", Z)
    (gt / "f.png").symlink_to(tmp_path / "elsewhere.png")  # a linked file: read
    notes: list = []
    found = find_label_files(gt, notes=notes)
    assert sorted(found) == ["a", "ext/d", "ext/deep/e", "f", "sub/c"]
    assert len(notes) == 2 and any("alias" in n for n in notes) and any("ext2" in n for n in notes)
    assert read_png(found["f"]).shape == Z.shape


# ----------------------------------------------------------------------------- 20. ambiguous pairing
def test_20_two_gt_files_for_one_flat_prediction_is_an_error(tmp_path):
    _touch(tmp_path / "gt", "c1/x.png", "c2/x.png", "c1/y.png")
    _touch(tmp_path / "pred", "x.png", "y.png")
    for allow_missing in (False, True):
        with pytest.raises(FormatError) as info:
            pair_label_files(tmp_path / "gt", tmp_path / "pred", allow_missing=allow_missing)
        msg = str(info.value)
        assert "ambiguous" in msg and "'x'" in msg and "c1/x, c2/x" in msg and "prediction(s) x" in msg


def test_20_one_gt_file_for_two_nested_predictions_is_an_error(tmp_path):
    _touch(tmp_path / "gt", "x.png")
    _touch(tmp_path / "pred", "a/x.png", "b/x.png")
    with pytest.raises(FormatError, match=r"ambiguous.*ground truth x and prediction\(s\) a/x, b/x"):
        pair_label_files(tmp_path / "gt", tmp_path / "pred")


def test_20_exact_matches_first_then_unique_names(tmp_path):
    _touch(tmp_path / "gt", "c1/x.png", "c2/x.png")
    _touch(tmp_path / "pred", "c1/x.png", "x.png")   # c1/x exact, c2/x the one flat x left
    pairing = pair_label_files(tmp_path / "gt", tmp_path / "pred")
    assert [(k, p.relative_to(tmp_path / "pred").as_posix()) for k, _, p in pairing.pairs] == [
        ("c1/x", "c1/x.png"), ("c2/x", "x.png")]
    assert pairing.extra == []


# ----------------------------------------------------------------------------- 21. non-UTF-8 file names
@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="needs a file system that stores any bytes")
def test_21_non_utf8_names_keep_their_bytes_through_pairing_and_scoring(tmp_path):
    rng = np.random.default_rng(21)
    names = [b"caf\xe9", "naïve".encode(), b"\xff\xfeodd", b"plain"]
    gt_dir = os.fsencode(tmp_path / "gt") + b"/city\xe0"   # a non-UTF-8 subfolder
    pred_dir = os.fsencode(tmp_path / "pred")               # flat predictions
    os.makedirs(gt_dir)
    os.makedirs(pred_dir)
    arrays = []
    for n in names:
        g = rng.integers(0, 3, (5, 6)).astype(np.uint8)
        p = rng.integers(0, 3, (5, 6)).astype(np.uint8)
        arrays.append((g, p))
        Image.fromarray(g).save(os.path.join(gt_dir, n + b".png"), format="PNG")
        Image.fromarray(p).save(os.path.join(pred_dir, n + b".png"), format="PNG")
    pairing = pair_label_files(tmp_path / "gt", tmp_path / "pred")
    assert pairing.extra == [] and pairing.missing == []
    # the ids are the file names' bytes (os.fsencode gives them back), GT and prediction paired by them
    assert sorted(os.fsencode(k) for k, _, _ in pairing.pairs) == sorted(b"city\xe0/" + n for n in names)
    for image_id, g, p in pairing.pairs:
        assert os.fsencode(image_id).rsplit(b"/", 1)[1] + b".png" == os.fsencode(g.name) == os.fsencode(p.name)
    ev = evaluate_semantic_files(pairing.pairs, SemanticEvaluator(3, per_image=True), jobs=2)
    np.testing.assert_array_equal(ev.state.confusion, oracle_confusion(arrays, 3))
    assert sorted(r["image_id"] for r in ev.state.per_image) == sorted(k for k, _, _ in pairing.pairs)
    # the CLI: exit 0, the CSV names each file by its very bytes, the JSON and the state
    # file keep the ids (escaped), and `report` reproduces eval's outputs byte for byte
    from click.testing import CliRunner
    from segmetrics.cli import cli
    args = ["--per-image", str(tmp_path / "p.csv"), "--json", str(tmp_path / "r.json"), "-q"]
    res = CliRunner().invoke(cli, ["eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"),
                                   "--num-classes", "3", "--no-cache", "--save-state", str(tmp_path / "s.smstate"),
                                   *args])
    assert res.exit_code == 0, res.output
    csv_bytes = (tmp_path / "p.csv").read_bytes()
    for n in names:
        assert b"city\xe0/" + n + b"," in csv_bytes
    first = {f: (tmp_path / f).read_bytes() for f in ("p.csv", "r.json")}
    res = CliRunner().invoke(cli, ["report", str(tmp_path / "s.smstate"), *args])
    assert res.exit_code == 0, res.output
    assert {f: (tmp_path / f).read_bytes() for f in ("p.csv", "r.json")} == first


# ----------------------------------------------------------------------------- 7. memory before checks
@pytest.fixture(scope="module")
def big_files(tmp_path_factory):
    """A valid 1.6 MB PNG declaring 40000 x 40000 grey pixels, a valid 572 kB-class
    14000 x 14000 RGB file, a 12000 x 12000 RGB one, and small partners."""
    d = tmp_path_factory.mktemp("big")
    (d / "gt40k.png").write_bytes(zero_png(40000, 40000))
    (d / "rgb14k.png").write_bytes(zero_png(14000, 14000, color_type=2))
    (d / "rgb12k.png").write_bytes(zero_png(12000, 12000, color_type=2))
    write_png(d / "small.png", np.zeros((48, 64), np.uint8))
    write_png(d / "small_rgb.png", np.zeros((48, 64, 3), np.uint8))
    return d


def test_zero_png_helper_is_a_valid_png():
    data = zero_png(3000, 2500, color_type=2)  # two 16 MiB blocks and a tail
    assert png_size(data) == (3000, 2500)
    arr = decode_png(data)
    assert arr.shape == (2500, 3000, 3) and not arr.any()
    with Image.open(io.BytesIO(data)) as im:
        assert im.size == (3000, 2500) and not np.asarray(im).any()


def test_7_png_size_reads_only_the_header(big_files):
    assert png_size(big_files / "gt40k.png") == (40000, 40000)
    assert png_size((big_files / "gt40k.png").read_bytes()[:33]) == (40000, 40000)
    # a file over the decode limit is refused first, from its header alone
    with pytest.raises(InputError, match=r"gt40k.png: the image is 40000x40000 .* above the limit"):
        check_same_size(big_files / "gt40k.png", big_files / "small.png", "x")
    previous = set_max_pixels(2 ** 31)
    try:
        with pytest.raises(InputError, match=r"image 'x'.*small.png is 64x48.*gt40k.png is 40000x40000"):
            check_same_size(big_files / "gt40k.png", big_files / "small.png", "x")
    finally:
        set_max_pixels(previous)
    assert check_same_size(big_files / "small.png", big_files / "small.png", "x") == (64, 48)


LOW_AS = 1 << 30  # 1 GiB: the 40000 x 40000 decode needs 1.6 GB (4.7 GB before this fix)


def test_7_size_mismatch_of_a_huge_gt_costs_no_memory(big_files):
    res = run_python(f"""
        import time
        from segmetrics.errors import SegmetricsError
        from segmetrics.folders import evaluate_semantic_files
        from segmetrics.io.png import check_same_size
        from segmetrics.semantic import SemanticEvaluator
        gt, pred = {str(big_files / 'gt40k.png')!r}, {str(big_files / 'small.png')!r}
        for name, call in [("check", lambda: check_same_size(gt, pred, "x")),
                           ("folder", lambda: evaluate_semantic_files([("x", gt, pred)], SemanticEvaluator(3), jobs=2))]:
            t = time.perf_counter()
            try:
                call()
                print(name, "NO ERROR")
            except SegmetricsError as exc:
                print(name, type(exc).__name__, f"{{time.perf_counter() - t:.3f}}s", exc)
        """, rlimit_as=LOW_AS)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in res.stdout.splitlines())
    assert lines["check"].startswith("InputError") and "40000x40000" in lines["check"]
    # the folder path stops at the pixel limit before decoding (with the limit raised, the
    # size check below must stop it)
    assert lines["folder"].startswith("InputError") and "40000x40000" in lines["folder"]
    assert "MemoryError" not in res.stdout + res.stderr


def test_7_size_mismatch_with_the_limit_raised_costs_no_memory(big_files):
    res = run_python(f"""
        from segmetrics.errors import SegmetricsError
        from segmetrics.folders import evaluate_semantic_files
        from segmetrics.io.png import set_max_pixels
        from segmetrics.semantic import SemanticEvaluator
        set_max_pixels(2 ** 31)
        try:
            evaluate_semantic_files([("x", {str(big_files / 'gt40k.png')!r}, {str(big_files / 'small.png')!r})],
                                    SemanticEvaluator(3), jobs=2)
        except SegmetricsError as exc:
            print(type(exc).__name__, exc)
        """, rlimit_as=LOW_AS)
    assert res.stdout.startswith("InputError") and "is 64x48 but ground truth" in res.stdout, res.stdout + res.stderr


def test_7_panoptic_huge_gt_against_normal_prediction(big_files, tmp_path):
    seg = [{"id": 1, "category_id": 1, "iscrowd": 0, "area": 1}]
    cats = [{"id": 1, "name": "a", "isthing": 1}]
    for side, src in (("gt", "rgb12k.png"), ("pred", "small_rgb.png")):
        (tmp_path / side).mkdir()
        shutil.copy(big_files / src, tmp_path / side / "im.png")
        (tmp_path / f"{side}.json").write_text(json.dumps(
            {"annotations": [{"image_id": 1, "file_name": "im.png", "segments_info": seg}], "categories": cats}))
    res = run_python(f"""
        from segmetrics.errors import SegmetricsError
        from segmetrics import panoptic_quality
        try:
            panoptic_quality({str(tmp_path / 'gt.json')!r}, {str(tmp_path / 'pred.json')!r}, jobs=2)
            print("NO ERROR")
        except SegmetricsError as exc:
            print(type(exc).__name__, exc)
        """, rlimit_as=LOW_AS)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.startswith("InputError") and "12000x12000" in res.stdout and "limit" in res.stdout


# ----------------------------------------------------------------------------- 8. one pixel limit
def test_8_large_panoptic_png_is_a_clear_limit_error(big_files):
    res = run_python(f"""
        from segmetrics.errors import SegmetricsError
        from segmetrics.io.coco_panoptic import read_id_png
        from segmetrics.io.png import read_png
        for f in (read_id_png, read_png):
            try:
                f({str(big_files / 'rgb14k.png')!r})
                print("NO ERROR")
            except SegmetricsError as exc:
                print(type(exc).__name__, exc)
        """, rlimit_as=LOW_AS)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stdout.splitlines()
    assert len(lines) == 2
    for line in lines:
        assert line.startswith("InputError") and "rgb14k.png" in line
        assert "14000x14000 = 196,000,000 pixels" in line and f"{DEFAULT_MAX_PIXELS:,}" in line
        assert "--max-pixels" in line and "set_max_pixels" in line
    assert "DecompressionBomb" not in res.stdout + res.stderr


def test_8_ihdr_height_2_31_and_2_31_minus_1(tmp_path):
    bad = tmp_path / "h2_31.png"
    bad.write_bytes(zero_png(1, 1 << 31, color_type=2, idat=zlib.compress(b"\0" * 4)))
    with pytest.raises(FormatError, match=r"h2_31.png: corrupt PNG: invalid image dimensions in IHDR: 1 x 2147483648"):
        read_png(bad)
    with pytest.raises(DataFileError, match=r"h2_31.png.*invalid image dimensions in IHDR: 1 x 2147483648"):
        read_id_png(bad)
    with pytest.raises(FormatError, match="1 x 2147483648"):
        png_size(bad)
    tall = tmp_path / "tall.png"
    tall.write_bytes(zero_png(1, (1 << 31) - 1, color_type=2, idat=zlib.compress(b"\0" * 4)))
    assert png_size(tall) == (1, (1 << 31) - 1)
    # valid so far, tiny IDAT: the size-from-IDAT check names it before the limit
    with pytest.raises(FormatError, match="too short"):
        read_png(tall)
    # an interlaced file goes to Pillow, which gets it only below the limit
    inter = tmp_path / "interlaced.png"
    inter.write_bytes(zero_png(1, (1 << 31) - 1, color_type=2, interlace=1, idat=zlib.compress(b"\0" * 4)))
    with pytest.raises(InputError, match=r"interlaced.png: the image is 1x2147483647 = 2,147,483,647 pixels"):
        read_png(inter)
    with pytest.raises(InputError, match="above the limit"):
        read_id_png(inter)


def test_8_limit_override_per_call_and_process_wide(tmp_path):
    rng = np.random.default_rng(8)
    lab = rng.integers(0, 3, (20, 30)).astype(np.uint8)
    path = write_png(tmp_path / "gt" / "a.png", lab)
    write_png(tmp_path / "pred" / "a.png", lab)
    rgb = write_png(tmp_path / "rgb.png", rng.integers(0, 256, (20, 30, 3)).astype(np.uint8))
    with pytest.raises(InputError, match=r"a.png: the image is 30x20 = 600 pixels, above the limit of 599"):
        read_png(path, max_pixels=599)
    np.testing.assert_array_equal(read_png(path, max_pixels=600), lab)
    with pytest.raises(InputError, match="above the limit of 599"):
        read_id_png(rgb, max_pixels=599)
    with pytest.raises(InputError, match="above the limit of 599"):
        png_info(rgb.read_bytes(), max_pixels=599)
    assert read_id_png(rgb, max_pixels=600).shape == (20, 30, 3)
    before = set_max_pixels(599)
    try:
        assert get_max_pixels() == 599
        with pytest.raises(InputError, match=r"a.png: the image is 30x20 = 600 pixels, above the limit of 599"):
            read_png(path)
        # the folder kernels read the same limit: the run stops with the same error
        pairs = pair_label_files(tmp_path / "gt", tmp_path / "pred").pairs
        with pytest.raises(InputError, match=r"a.png: the image is 30x20.*above the limit of 599"):
            evaluate_semantic_files(pairs, SemanticEvaluator(3), jobs=2)
    finally:
        set_max_pixels(before)
    assert get_max_pixels() == before == DEFAULT_MAX_PIXELS == 1 << 27
    for bad in (0, -1, (1 << 31) + 1, 1.5, "100", True):
        with pytest.raises(InputError, match="max_pixels must be an integer from 1 to 2"):
            set_max_pixels(bad)
        with pytest.raises(InputError, match="max_pixels"):
            read_png(path, max_pixels=bad)


def test_8_cli_max_pixels_sets_the_limit_and_says_how(tmp_path):
    """``--max-pixels`` lowers / raises the limit; the error is one line naming the file."""
    lab = np.zeros((20, 30), np.uint8)
    write_png(tmp_path / "gt" / "a.png", lab)
    write_png(tmp_path / "pred" / "a.png", lab)
    args = ["eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"), "--num-classes", "2",
            "--no-cache", "-q"]
    res = run_python(f"""
        import sys
        from segmetrics.cli import main
        sys.argv = ["segmetrics"] + {args!r} + ["--max-pixels", "599"]
        main()
        """)
    assert res.returncode == 2 and res.stdout == "", res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "a.png: the image is 30x20 = 600 pixels, above the limit of 599" in lines[0]
    assert "--max-pixels" in lines[0] and "Traceback" not in res.stderr
    res = run_python(f"""
        import sys
        from segmetrics.cli import main
        sys.argv = ["segmetrics"] + {args!r} + ["--max-pixels", "600"]
        main()
        """)
    assert res.returncode == 0 and "100.00" in res.stdout, res.stdout + res.stderr


def test_8_pillow_fallback_uses_our_limit_not_pillows(tmp_path, monkeypatch):
    """Interlaced files go to Pillow; its decompression-bomb limit is not the rule, ours is."""
    import PIL.Image

    arr = np.arange(400, dtype=np.uint16).reshape(20, 20).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    plain = buf.getvalue()
    sys.path.insert(0, str(Path(__file__).parent))
    from test_png import encode_png

    interlaced = encode_png(arr, 0, interlace=True)
    assert png_info(interlaced)["fast"] is False
    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 100)  # Pillow would call 400 pixels a bomb
    with pytest.raises(PIL.Image.DecompressionBombError):
        Image.open(io.BytesIO(interlaced))
    np.testing.assert_array_equal(decode_png(interlaced), arr)
    np.testing.assert_array_equal(decode_png(plain), arr)
    with pytest.raises(InputError, match="400 pixels, above the limit of 399"):
        decode_png(interlaced, max_pixels=399)


def test_8_panoptic_pngs_are_decoded_without_pillow(tmp_path):
    rgb = np.random.default_rng(3).integers(0, 256, (9, 11, 3)).astype(np.uint8)
    path = write_png(tmp_path / "p.png", rgb)
    res = run_python(f"""
        import numpy as np
        from segmetrics.io.coco_panoptic import read_id_png
        a = read_id_png({str(path)!r})
        print(a.shape, a.dtype, int(a.astype(np.int64).sum()), "PIL" in sys.modules)
        """)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["(9,", "11,", "3)", "uint8", str(int(rgb.astype(np.int64).sum())), "False"]


# ----------------------------------------------------------------------------- 12. not PNG files
def _other_formats(tmp_path) -> dict:
    arr = (np.arange(48 * 64 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)
    out = {}
    for fmt, what in (("JPEG", "a JPEG"), ("GIF", "a GIF"), ("BMP", "a BMP"), ("TIFF", "a TIFF"),
                      ("WEBP", "a WebP")):
        buf = io.BytesIO()
        try:
            Image.fromarray(arr).save(buf, fmt)
        except (KeyError, OSError):  # a Pillow built without this format
            continue
        out[fmt] = (buf.getvalue(), what)
    assert "JPEG" in out
    return out


def test_12_other_formats_empty_files_and_broken_links_are_named(tmp_path):
    for fmt, (data, what) in _other_formats(tmp_path).items():
        path = tmp_path / f"{fmt.lower()}.png"
        path.write_bytes(data)
        with pytest.raises(FormatError, match=rf"{fmt.lower()}.png: is {what}, not a PNG"):
            read_png(path)
        with pytest.raises(DataFileError, match=rf"{fmt.lower()}.png: is {what}, not a PNG"):
            read_id_png(path)
        with pytest.raises(FormatError, match=f"is {what}, not a PNG"):
            png_size(path)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    for f, err in ((read_png, FormatError), (read_id_png, DataFileError), (png_size, FormatError)):
        with pytest.raises(err, match=r"empty.png: is empty \(0 bytes"):
            f(empty)
    broken = tmp_path / "broken.png"
    broken.symlink_to(tmp_path / "gone.png")
    for f in (read_png, read_id_png, png_size):
        with pytest.raises(DataFileError, match=r"broken.png: is a broken symbolic link \(to .*gone.png\)"):
            f(broken)
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(DataFileError, match="folder.png: is a folder"):
        read_png(tmp_path / "folder.png")


def test_12_jpeg_as_semantic_png_through_the_folder_engine(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    for i in range(3):
        write_png(gt / f"{i}.png", np.zeros((48, 64), np.uint8))
        write_png(pred / f"{i}.png", np.zeros((48, 64), np.uint8))
    Image.fromarray(np.zeros((48, 64), np.uint8)).save(pred / "1.png", "JPEG")
    (pred / "2.png").write_bytes(b"")
    pairs = pair_label_files(gt, pred).pairs
    for jobs in (1, 2):
        for cache in (None, tmp_path / "c"):
            with pytest.raises(FormatError, match=r"1.png: is a JPEG, not a PNG"):
                evaluate_semantic_files(pairs, SemanticEvaluator(3), jobs=jobs, cache_dir=cache)
    with pytest.raises(FormatError, match=r"2.png: is empty"):
        evaluate_semantic_files(pairs[2:], SemanticEvaluator(3))


def test_12_jpeg_as_panoptic_png(tmp_path):
    data = make_dataset(12, n_images=2, h=20, w=24)
    gt_json, pred_json = write_coco(tmp_path, data)
    name = f"{data[1][0]:08d}.png"
    Image.fromarray(id2rgb(data[1][3])).save(tmp_path / "pred" / name, "JPEG")
    with pytest.raises(DataFileError, match=rf"{name}: is a JPEG, not a PNG"):
        panoptic_quality(gt_json, pred_json)


# ----------------------------------------------------------------------------- 22. unusable cache folder
def _semantic_set(root: Path, n: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    arrays, pairs = [], []
    for i in range(n):
        g = rng.integers(0, 3, (16, 20)).astype(np.uint8)
        p = rng.integers(0, 3, (16, 20)).astype(np.uint8)
        write_png(root / "gt" / f"{i:03d}.png", g)
        write_png(root / "pred" / f"{i:03d}.png", p)
        arrays.append((g, p))
        pairs.append((f"{i:03d}", root / "gt" / f"{i:03d}.png", root / "pred" / f"{i:03d}.png"))
    return pairs, arrays


def test_22_read_only_cache_folder_note_and_still_read(public_tmp):
    pairs, arrays = _semantic_set(public_tmp)
    cache = public_tmp / "cache"
    evaluate_semantic_files(pairs, SemanticEvaluator(3), jobs=1, cache_dir=cache)  # fills it
    extra, _ = _semantic_set(public_tmp / "more", n=2, seed=5)
    for p in [cache, *cache.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    res = run_python(f"""
        from segmetrics import _pipeline
        from segmetrics.gtcache import GTCache, probe_cache_dir
        from segmetrics.folders import evaluate_semantic_files
        from segmetrics.semantic import SemanticEvaluator
        from pathlib import Path
        made = []
        _pipeline.GTCache = lambda *a, **k: made.append(GTCache(*a, **k)) or made[-1]
        import PIL.Image, PIL.PngImagePlugin
        DROP()
        pairs = {[tuple(map(str, p)) for p in pairs + extra]!r}
        ev = evaluate_semantic_files(pairs, SemanticEvaluator(3), jobs=1, cache_dir={str(cache)!r})
        c = made[0]
        print(c.hits, c.misses, c.writes, len(c.notes))
        print(c.notes[0] if c.notes else "")
        print(probe_cache_dir({str(cache)!r}))
        """, unprivileged=True)
    assert res.returncode == 0, res.stderr[-3000:]
    counts, note, probe = res.stdout.splitlines()
    assert counts.split() == ["4", "2", "0", "1"]  # warm entries read, the new ones not stored
    assert "cannot be written" in note and str(cache) in note and note == probe


# ----------------------------------------------------------------------------- 23. cache hygiene
def _rows(cache: Path) -> int:
    return sum(len(gtcache._read_index(i)) for i in cache.glob("v*/*.idx"))


def test_23_killed_run_leaves_an_orphan_that_the_next_run_removes(tmp_path):
    cache = tmp_path / "c"
    res = run_python(f"""
        import signal
        from segmetrics.gtcache import GTCache
        c = GTCache({str(cache)!r}, "semantic")
        payload = bytes(4 * 1000)
        for i in range(50):
            c.put(c.key(bytes([i])), payload, 1000, 1000, 1)
        for w in c._writers:
            w.fh.flush()
        os.kill(os.getpid(), signal.SIGKILL)  # killed before close(): no index
        """)
    assert res.returncode == -signal.SIGKILL
    packs = list(cache.glob(f"v{FORMAT_VERSION}/*.pack"))
    assert len(packs) == 1 and not list(cache.glob(f"v{FORMAT_VERSION}/*.idx"))
    assert packs[0].stat().st_size > 50 * 4000
    info = cache_info(cache)
    assert info["orphans"] == 1 and info["orphan_bytes"] == packs[0].stat().st_size and info["entries"] == 0
    assert info["in_use"] is False
    r = GTCache(cache, "semantic")
    assert r.get(r.key(b"\x00")) is None
    assert not packs[0].exists()
    assert cache_info(cache)["orphans"] == 0


def test_23_a_pack_being_written_by_a_live_run_is_left_alone(tmp_path):
    cache = tmp_path / "c"
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from segmetrics.gtcache import GTCache
        c = GTCache({str(cache)!r}, "semantic")
        c.put(c.key(b"live"), bytes(4 * 10), 10, 10, 1)
        c._writers[0].fh.flush()
        print("writing", flush=True)
        sys.stdin.readline()   # hold the writer lock until told to finish
        c.close()
        print("closed", flush=True)
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert child.stdout.readline().strip() == "writing"
        pack = next(cache.glob(f"v{FORMAT_VERSION}/*.pack"))
        assert cache_info(cache)["in_use"] is True
        r = GTCache(cache, "semantic")
        assert r.get(r.key(b"live")) is None  # not published yet, and not removed either
        assert pack.exists()
        # a second run meanwhile reads but does not store (no second copy), and says so
        assert r.put(r.key(b"other"), bytes(4), 1, 1, 1) is False
        assert len(r.notes) == 1 and "another segmetrics run is storing" in r.notes[0]
        r.close()
        assert cache_clear(cache) == {"location": str(cache), "removed_files": 0, "removed_bytes": 0, "in_use": 1}
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "closed"
    finally:
        child.stdin.close()
        child.wait(timeout=60)
    r = GTCache(cache, "semantic")
    assert r.get(r.key(b"live")).width == 10
    assert cache_info(cache)["in_use"] is False


def test_23_two_concurrent_cold_runs_store_one_copy(tmp_path):
    pairs, arrays = _semantic_set(tmp_path, n=12)
    cache = tmp_path / "cache"
    go = tmp_path / "go"
    code = f"""
        import time
        from segmetrics.folders import evaluate_semantic_files
        from segmetrics.semantic import SemanticEvaluator
        pairs = {[tuple(map(str, p)) for p in pairs]!r}
        while not os.path.exists({str(go)!r}):
            time.sleep(0.005)
        # a slow consumer of progress keeps both runs busy at the same time
        ev = evaluate_semantic_files(pairs, SemanticEvaluator(3), jobs=1, cache_dir={str(cache)!r},
                                     progress=lambda n: time.sleep(0.03))
        print(ev.state.confusion.ravel().tolist())
        """
    prelude = f"import os, sys\nsys.path.insert(0, {str(REPO)!r})\n"
    procs = [subprocess.Popen([sys.executable, "-c", prelude + textwrap.dedent(code)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=REPO) for _ in range(2)]
    time.sleep(0.5)
    go.write_text("")
    outs = [p.communicate(timeout=120) for p in procs]
    want = oracle_confusion(arrays, 3).ravel().tolist()
    for (out, err), p in zip(outs, procs):
        assert p.returncode == 0, err[-2000:]
        assert json.loads(out) == want
    assert _rows(cache) == len(pairs)  # one copy of each entry (two before this fix)
    assert cache_info(cache)["entries"] == len(pairs)


def test_23_cache_info_and_clear_only_touch_cache_files(tmp_path):
    pairs, _ = _semantic_set(tmp_path, n=5)
    cache = tmp_path / "cache"
    evaluate_semantic_files(pairs, SemanticEvaluator(3), jobs=2, cache_dir=cache)
    (cache / "README.txt").write_text("mine")
    current = cache / f"v{FORMAT_VERSION}"
    (current / "keep.txt").write_text("mine too")
    (cache / "v0").mkdir()
    (cache / "v0" / "x.pack").write_bytes(b"12345")
    info = cache_info(cache)
    files = [p for p in cache.rglob("*") if p.suffix in (".pack", ".idx")]
    assert info["location"] == str(cache) and info["exists"] and info["entries"] == 5
    assert info["files"] == len(files) and info["size_bytes"] == sum(p.stat().st_size for p in files)
    assert info["old_versions"] == [0] and info["orphans"] == 0 and info["packs"] >= 1
    out = cache_clear(cache)
    assert out["removed_files"] == len(files) and out["removed_bytes"] == info["size_bytes"] and out["in_use"] == 0
    assert (cache / "README.txt").exists() and (current / "keep.txt").exists()
    assert cache_info(cache)["entries"] == 0 and cache_info(cache)["size_bytes"] == 0


def test_23_cache_command_info_and_clear(tmp_path):
    from segmetrics.cli.cache_cmd import cache_command

    pairs, _ = _semantic_set(tmp_path, n=3)
    cache = tmp_path / "cache"
    evaluate_semantic_files(pairs, SemanticEvaluator(3), jobs=1, cache_dir=cache)
    size = cache_info(cache)["size_bytes"]
    res = CliRunner().invoke(cache_command, ["info", "--cache-dir", str(cache)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == f"location: {cache}"
    assert lines[1] == f"size: {size:,} bytes in 2 files" if size < 1000 else lines[1].startswith("size: ")
    assert lines[2].startswith("entries: 3 decoded ground-truth images in 1 pack file")
    assert lines[3].startswith("leftovers of interrupted runs: 0 files")
    assert lines[-1] == "in use: no"
    res = CliRunner().invoke(cache_command, ["clear", "--cache-dir", str(cache)])
    assert res.exit_code == 0 and res.output.strip().startswith("removed 2 files (") and str(cache) in res.output
    res = CliRunner().invoke(cache_command, ["info", "--cache-dir", str(tmp_path / "none")])
    assert res.exit_code == 0 and "(does not exist yet)" in res.output.splitlines()[0]
