"""Finding and pairing label files (segmetrics.io.folders)."""
from __future__ import annotations

import numpy as np
import pytest

from segmetrics.errors import DataFileError, FormatError, MissingPredictionError
from segmetrics.io.folders import find_label_files, pair_label_files

from cli_data import write_png

Z = np.zeros((2, 2), np.uint8)


def _touch(root, *names):
    for n in names:
        write_png(root / n, Z)


def test_flat_pairing_by_stem(tmp_path):
    _touch(tmp_path / "gt", "b.png", "a.png")
    (tmp_path / "gt" / "notes.txt").write_text("x")
    _touch(tmp_path / "pred", "a.png", "b.png", "zzz.png", ".hidden.png")
    pairing = pair_label_files(tmp_path / "gt", tmp_path / "pred")
    assert [p[0] for p in pairing.pairs] == ["a", "b"]
    assert pairing.pairs[0][1] == tmp_path / "gt" / "a.png"
    assert pairing.pairs[0][2] == tmp_path / "pred" / "a.png"
    assert pairing.extra == ["zzz"] and pairing.missing == []


def test_cityscapes_layout_suffixes_and_subfolders(tmp_path):
    gt = tmp_path / "gtFine" / "val"
    _touch(gt, "frankfurt/frankfurt_000000_000294_gtFine_labelIds.png",
           "frankfurt/frankfurt_000000_000294_gtFine_color.png",
           "lindau/lindau_000001_000019_gtFine_labelIds.png")
    # nested prediction folder with the image-name suffix
    pred = tmp_path / "pred"
    _touch(pred, "frankfurt/frankfurt_000000_000294_leftImg8bit.png", "lindau/lindau_000001_000019_leftImg8bit.png")
    pairing = pair_label_files(gt, pred, gt_suffix="_gtFine_labelIds", pred_suffixes=("_leftImg8bit",))
    assert [p[0] for p in pairing.pairs] == ["frankfurt/frankfurt_000000_000294", "lindau/lindau_000001_000019"]
    assert pairing.pairs[1][2].name == "lindau_000001_000019_leftImg8bit.png"
    # a flat prediction folder pairs by file name
    flat = tmp_path / "flat"
    _touch(flat, "frankfurt_000000_000294.png", "lindau_000001_000019.png")
    pairing = pair_label_files(gt, flat, gt_suffix="_gtFine_labelIds", pred_suffixes=("_leftImg8bit",))
    assert [p[2].name for p in pairing.pairs] == ["frankfurt_000000_000294.png", "lindau_000001_000019.png"]
    assert pairing.extra == []


def test_missing_predictions_listed(tmp_path):
    _touch(tmp_path / "gt", *[f"im{i}.png" for i in range(8)])
    _touch(tmp_path / "pred", "im0.png")
    with pytest.raises(MissingPredictionError) as info:
        pair_label_files(tmp_path / "gt", tmp_path / "pred")
    msg = str(info.value)
    assert "7 of 8" in msg and "im1, im2, im3, im4, im5 and 2 more" in msg
    assert info.value.missing == [f"im{i}" for i in range(1, 8)]
    pairing = pair_label_files(tmp_path / "gt", tmp_path / "pred", allow_missing=True)
    assert len(pairing.pairs) == 8 and pairing.pairs[1][2] is None and len(pairing.missing) == 7


def test_errors(tmp_path):
    with pytest.raises(DataFileError, match="ground-truth path not found"):
        pair_label_files(tmp_path / "nope", tmp_path)
    (tmp_path / "empty").mkdir()
    _touch(tmp_path / "gt", "a.png")
    with pytest.raises(FormatError, match=r"no ground-truth label files \(\*.png\)"):
        pair_label_files(tmp_path / "empty", tmp_path / "gt")
    with pytest.raises(FormatError, match="no prediction label files"):
        pair_label_files(tmp_path / "gt", tmp_path / "empty")
    with pytest.raises(FormatError, match=r"\*_gtFine_labelIds.png"):
        pair_label_files(tmp_path / "gt", tmp_path / "gt", gt_suffix="_gtFine_labelIds")


def test_duplicate_keys_are_an_error(tmp_path):
    _touch(tmp_path, "a.png", "a_leftImg8bit.png")
    with pytest.raises(FormatError, match="image id 'a'"):
        find_label_files(tmp_path, strip_suffixes=("_leftImg8bit",))


def test_single_files(tmp_path):
    g = write_png(tmp_path / "g.png", Z)
    p = write_png(tmp_path / "p.png", Z)
    pairing = pair_label_files(g, p)
    assert pairing.pairs == [("g", g, p)]
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(DataFileError, match="not a PNG"):
        find_label_files(tmp_path / "x.txt")


# ---------------------------------------------------------------- folder evaluation (segmetrics.folders)
from PIL import Image  # noqa: E402

from segmetrics.errors import InputError  # noqa: E402
from segmetrics.folders import evaluate_semantic_files, read_label_map  # noqa: E402

from cli_data import make_flat_set, oracle_confusion  # noqa: E402


def test_read_label_map_modes_and_errors(tmp_path):
    lab = np.arange(12, dtype=np.uint8).reshape(3, 4)
    pal = Image.fromarray(lab, "L").convert("P")  # palette image: indices are the labels
    pal.putpalette([v for i in range(256) for v in (i, 0, 255 - i)])
    Image.fromarray(lab, "L").save(tmp_path / "l.png")
    pal.save(tmp_path / "p.png")
    np.testing.assert_array_equal(read_label_map(tmp_path / "l.png"), lab)
    np.testing.assert_array_equal(read_label_map(tmp_path / "p.png"), lab)
    big = (np.arange(12, dtype=np.uint16) * 5000).reshape(3, 4)
    Image.fromarray(big).save(tmp_path / "i16.png")
    np.testing.assert_array_equal(read_label_map(tmp_path / "i16.png"), big)
    write_png(tmp_path / "rgb.png", np.zeros((3, 4, 3), np.uint8))
    with pytest.raises(FormatError, match="rgb.png"):
        read_label_map(tmp_path / "rgb.png")
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises((DataFileError, FormatError), match="junk.png"):
        read_label_map(tmp_path / "junk.png")
    with pytest.raises(DataFileError, match="absent.png"):
        read_label_map(tmp_path / "absent.png")


@pytest.fixture
def semantic():
    return pytest.importorskip("segmetrics.semantic")


@pytest.mark.parametrize("jobs", [1, 3])
def test_evaluate_semantic_files_equals_oracle_any_jobs(tmp_path, semantic, jobs):
    gt, pred, arrays = make_flat_set(tmp_path, n=7, k=5)
    pairs = pair_label_files(gt, pred).pairs[::-1]  # order does not matter
    ticks = []
    ev = evaluate_semantic_files(pairs, semantic.SemanticEvaluator(5), jobs=jobs, progress=ticks.append)
    np.testing.assert_array_equal(ev.compute().confusion, oracle_confusion(arrays, 5))
    assert ticks == [1] * 7


def test_evaluate_semantic_files_errors(tmp_path, semantic):
    gt, pred, _ = make_flat_set(tmp_path, n=3, k=3)
    write_png(pred / "img_002.png", np.zeros((5, 5), np.uint8))
    pairs = pair_label_files(gt, pred).pairs
    with pytest.raises(InputError, match=r"img_002.*5x5.*32x24"):
        evaluate_semantic_files(pairs, semantic.SemanticEvaluator(3), jobs=2)
    with pytest.raises(InputError, match="has no prediction"):
        evaluate_semantic_files([("a", pairs[0][1], None)], semantic.SemanticEvaluator(3))
    with pytest.raises(InputError, match="jobs"):
        evaluate_semantic_files(pairs, semantic.SemanticEvaluator(3), jobs=0)


def test_string_paths_are_the_paths_text(tmp_path, monkeypatch):
    """``strings=True`` (what the folder engine keeps) gives ``str`` of each Path the default gives,
    for relative, ".", trailing-slash, nested and single-file roots."""
    for rel in ("a.png", "b_x.png", "sub/c.png", "sub/deeper/d.png"):
        write_png(tmp_path / "gt" / rel, np.zeros((2, 2), np.uint8))
    monkeypatch.chdir(tmp_path)
    for root in (tmp_path / "gt", "gt", "gt/", "./gt", tmp_path / "gt" / "sub", "gt/a.png"):
        paths = find_label_files(root, strip_suffixes=("_x",))
        texts = find_label_files(root, strip_suffixes=("_x",), strings=True)
        assert all(type(v) is str for v in texts.values())
        assert texts == {k: str(v) for k, v in paths.items()} and len(texts) >= 1
    monkeypatch.chdir(tmp_path / "gt")
    assert find_label_files(".", strings=True) == {k: str(v) for k, v in find_label_files(".").items()}
    pairing = pair_label_files(tmp_path / "gt", tmp_path / "gt", strings=True)
    assert [(k, str(g), str(p)) for k, g, p in pair_label_files(tmp_path / "gt", tmp_path / "gt").pairs] == pairing.pairs
