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
