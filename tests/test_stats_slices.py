"""Slices: manifest CSV rules (id matching, one-line errors) and metrics per attribute value."""
from __future__ import annotations

import numpy as np
import pytest
from stats_data import semantic_evaluate, semantic_images, semantic_run

from segmetrics import stats
from segmetrics.errors import DataFileError, FormatError, InputError


def _write(tmp_path, text: str, name="manifest.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


# ----------------------------------------------------------------------------- manifest rules
def test_int_like_ids_match_int_image_ids_and_strings_match_exactly(tmp_path):
    path = _write(tmp_path, "\ufeffimage_id, weather ,time\n007,rain,day\n 3 ,sun,\nfoo,fog,night\n")
    m = stats.read_manifest(path, [3, 7, 9, "foo", "bar"])
    assert m.attributes == ("weather", "time")
    assert m.values["weather"] == ("sun", "rain", stats.UNASSIGNED, "fog", stats.UNASSIGNED)
    assert m.values["time"] == (stats.UNASSIGNED, "day", stats.UNASSIGNED, "night", stats.UNASSIGNED)
    assert m.listed == 3 and m.unknown_ids == ()
    assert any("2 of 5 evaluated images are not listed" in n for n in m.notes)
    only = stats.read_manifest(path, [3, 7, 9, "foo", "bar"], attributes=["time"])
    assert only.attributes == ("time",)
    # a string id is never read as a number: "007" names the image "007", not 7
    assert stats.read_manifest(path, ["007", "3"]).values["weather"] == ("rain", "sun")


def test_unknown_ids_are_noted_not_fatal(tmp_path):
    path = _write(tmp_path, "image_id,source\n1,a\n2,b\n99,c\n100,c\n")
    m = stats.read_manifest(path, [1, 2])
    assert m.unknown_ids == ("99", "100")
    assert any("2 image ids name no evaluated image" in n and "'99'" in n for n in m.notes)


@pytest.mark.parametrize("text, ids, message", [
    ("id,weather\n1,a\n", [1], r"manifest.csv:1: no image_id column \(header: id, weather\)"),
    ("image_id,w,w\n1,a,b\n", [1], "manifest.csv:1: column name 'w' appears twice"),
    ("image_id,,w\n1,a,b\n", [1], "manifest.csv:1: column 2 of the header has no name"),
    ("image_id\n1\n", [1], "manifest.csv:1: no attribute column besides image_id"),
    ("image_id,w\n1,a\n2,b,c\n", [1, 2], "manifest.csv:3: 3 cells, the header has 2"),
    ("image_id,w\n1,a\n,b\n", [1, 2], "manifest.csv:3: empty image_id"),
    ("image_id,w\n1,a\n2,b\n01,c\n", [1, 2], r"manifest.csv:4: image '01' is listed again \(first on line 2\)"),
    ("image_id,w\nx,a\nx,b\n", [1], r"manifest.csv:3: image 'x' is listed again \(first on line 2\)"),
    ("image_id,w\n7,a\n", [7, "7"], "manifest.csv:2: image_id '7' could be the string id '7' or the integer id 7"),
    ("image_id,w\n1,__unassigned__\n", [1], "manifest.csv:2: the value '__unassigned__' is reserved"),
    ("image_id,w\n5,a\n6,b\n", [1, 2], r"none of its 2 image ids is an evaluated image \(first: '5'"),
    ("image_id,w\n", [1], "the manifest lists no image"),
    ("", [1], "empty manifest"),
])
def test_manifest_errors_name_file_and_line(tmp_path, text, ids, message):
    path = _write(tmp_path, text)
    with pytest.raises(FormatError, match=message) as info:
        stats.read_manifest(path, ids)
    assert "\n" not in str(info.value)


def test_manifest_file_errors(tmp_path):
    with pytest.raises(FormatError, match=r"manifest.csv:1: unknown attribute column 'season'"):
        stats.read_manifest(_write(tmp_path, "image_id,w\n1,a\n"), [1], attributes=["season"])
    with pytest.raises(FormatError, match="not UTF-8"):
        stats.read_manifest(_write(tmp_path, "image_id,w\n1,caf\xe9\n", encoding="latin-1"), [1])
    with pytest.raises(DataFileError, match="cannot read the manifest"):
        stats.read_manifest(tmp_path / "absent.csv", [1])
    with pytest.raises(InputError, match="image id 3 appears twice"):
        stats.read_manifest(_write(tmp_path, "image_id,w\n1,a\n"), [3, 3])


def test_line_numbers_count_quoted_multiline_cells(tmp_path):
    path = _write(tmp_path, 'image_id,note\n1,"two\nlines"\n1,again\n')
    with pytest.raises(FormatError, match=r"manifest.csv:4: image '1' is listed again \(first on line 3\)"):
        stats.read_manifest(path, [1])


# ----------------------------------------------------------------------------- slice metrics
def test_slice_metrics_equal_the_evaluator_on_each_slice(tmp_path):
    images = semantic_images(51, 12)
    _, counts = semantic_run(images)
    lines = ["image_id,weather,split"] + [f"{i},{'rain' if i % 3 == 0 else 'sun'},{'a' if i < 6 else ''}"
                                          for i in range(10)]
    m = stats.read_manifest(_write(tmp_path, "\n".join(lines) + "\n"), counts.image_ids)
    slices = stats.slice_metrics(counts, m, ci=True, resamples=100, seed=4)
    assert [(s.attribute, s.value, s.num_images) for s in slices] == [
        ("weather", "rain", 4), ("weather", "sun", 6), ("weather", stats.UNASSIGNED, 2),
        ("split", "a", 6), ("split", stats.UNASSIGNED, 6)]
    for s in slices:
        ref = semantic_evaluate(images, s.rows.tolist()).compute()
        np.testing.assert_allclose(s.metrics["mIoU"], ref.metrics["mIoU"], rtol=0, atol=1e-12)
        assert np.array_equal(s.metrics["IoU"], ref.per_class["IoU"], equal_nan=True)
        alone = stats.bootstrap(counts.subset(s.rows), resamples=100, seed=4)
        assert s.intervals.low["mIoU"] == alone.low["mIoU"] and s.intervals.high["aAcc"] == alone.high["aAcc"]
    assert slices[2].rows.tolist() == [10, 11]
    d = slices[0].to_dict()
    assert d["attribute"] == "weather" and d["num_images"] == 4 and "mIoU" in d["metrics"]
    assert "IoU" in d["per_class"] and d["intervals"]["metrics"]["mIoU"]["resamples"] == 100
    assert stats.slice_metrics(counts, m)[0].intervals is None


def test_slices_without_unassigned_images_have_no_unassigned_row(tmp_path):
    _, counts = semantic_run(semantic_images(52, 4))
    m = stats.read_manifest(_write(tmp_path, "image_id,w\n0,a\n1,b\n2,a\n3,b\n"), counts.image_ids)
    assert [s.value for s in stats.slice_metrics(counts, m)] == ["a", "b"]
    with pytest.raises(InputError, match="read for 4 images, the counts have 3"):
        stats.slice_metrics(counts.subset([0, 1, 2]), m)
