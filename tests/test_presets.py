"""Presets and the label-map / class-names file formats."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from segmetrics.errors import DataFileError, FormatError, InputError
from segmetrics.io.labelfiles import load_class_names, load_label_map
from segmetrics.labels import label_map_lut
from segmetrics.presets import (
    ADE20K_CLASSES,
    CAMVID_CLASSES,
    CITYSCAPES_CLASSES,
    CITYSCAPES_LABELID_TO_TRAINID,
    PRESETS,
    get_preset,
)


def test_class_lists_have_expected_sizes_and_unique_names():
    for names, k in ((ADE20K_CLASSES, 150), (CITYSCAPES_CLASSES, 19), (CAMVID_CLASSES, 11)):
        assert len(names) == k and len(set(names)) == k
    for name in ("ade20k", "cityscapes", "camvid"):
        p = PRESETS[name]
        assert p.task == "semantic" and len(p.class_names) == p.num_classes
        assert not 0 <= p.ignore_index < p.num_classes
    assert PRESETS["ade20k"].reduce_zero_label and not PRESETS["camvid"].reduce_zero_label
    assert PRESETS["camvid"].ignore_index == 11
    assert {PRESETS["coco-panoptic"].task, PRESETS["ade20k-panoptic"].task} == {"panoptic"}
    assert PRESETS["ade20k-panoptic"].expected_num_categories == 150


def test_cityscapes_map_is_a_bijection_onto_train_ids():
    m = CITYSCAPES_LABELID_TO_TRAINID
    assert sorted(m.values()) == list(range(19))
    # facts from the Cityscapes label table
    assert m[7] == 0 and m[8] == 1 and m[26] == 13 and m[33] == 18
    for ignored in (0, 1, 2, 3, 4, 5, 6, 9, 10, 14, 15, 16, 18, 29, 30):
        assert ignored not in m
    lut = label_map_lut(m, num_classes=19, ignore_index=255)
    assert lut.shape == (256,)
    expected = np.full(256, 255)
    for raw, tid in m.items():
        expected[raw] = tid
    np.testing.assert_array_equal(lut, expected)
    for tid in PRESETS["cityscapes"].thing_classes:
        assert CITYSCAPES_CLASSES[tid] in {"person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"}


def test_ade20k_names_follow_object_info(shared_data):
    path = shared_data / "ade20k_sample" / "objectInfo150.csv"
    if not path.exists():
        pytest.skip("objectInfo150.csv absent")
    rows = list(csv.DictReader(path.open()))
    assert [int(r["Idx"]) for r in rows] == list(range(1, 151))
    for name, row in zip(ADE20K_CLASSES, rows):
        assert name.split()[0] == row["Name"].split(";")[0]


def test_get_preset_unknown_lists_known_names():
    with pytest.raises(InputError, match="cityscapes"):
        get_preset("cityscape")
    assert get_preset("camvid") is PRESETS["camvid"]


def test_with_overrides_ignores_none():
    p = PRESETS["camvid"].with_overrides(ignore_index=None, num_classes=12)
    assert p.num_classes == 12 and p.ignore_index == 11


@pytest.mark.parametrize(
    "text",
    [
        '{"7": 0, "8": 1, "*": 255}',
        "# raw class\n7 0\n8, 1   # sidewalk\n* -> 255\n",
        "7:0\n8 -> 1\n*: 255\n",
    ],
)
def test_label_map_formats(tmp_path, text):
    f = tmp_path / "map.txt"
    f.write_text(text)
    assert load_label_map(f) == {7: 0, 8: 1, "*": 255}


@pytest.mark.parametrize(
    "text, match",
    [
        ("7 0 1\n", r"map.txt:1: expected 'RAW CLASS'"),
        ("7 x\n", r"map.txt:1: 'x' is not an integer"),
        ("7 0\n7 1\n", "listed twice"),
        ("-3 0\n", "negative"),
        ("# nothing\n", "empty"),
        ('{"7": 0,', "invalid JSON"),
        ('{"7": null}', "has no class"),
    ],
)
def test_label_map_errors_name_the_file(tmp_path, text, match):
    f = tmp_path / "map.txt"
    f.write_text(text)
    with pytest.raises(FormatError, match=match):
        load_label_map(f)


def test_label_map_missing_file(tmp_path):
    with pytest.raises(DataFileError, match="nope.json"):
        load_label_map(tmp_path / "nope.json")


def test_lut_default_and_reduce_zero_label():
    lut = label_map_lut({1: 0, 2: 1, "*": 2}, num_classes=3, ignore_index=255)
    assert lut[1] == 0 and lut[2] == 1 and lut[0] == 2 and lut[200] == 2
    # reduce_zero_label first: raw 0 -> ignore, raw r -> mapping[r - 1]
    red = label_map_lut({0: 1, 1: 0}, num_classes=2, ignore_index=255, reduce_zero_label=True)
    assert red[0] == 255 and red[1] == 1 and red[2] == 0 and red[3] == 255
    ident = label_map_lut(None, num_classes=150, ignore_index=255, reduce_zero_label=True)
    np.testing.assert_array_equal(ident[1:], np.arange(150))
    assert ident[0] == 255 and ident.shape == (151,)
    big = label_map_lut({1000: 0}, num_classes=1, ignore_index=255)
    assert big.shape == (65536,) and big[1000] == 0 and big[999] == 255


def test_lut_rejects_classes_out_of_range():
    with pytest.raises(InputError, match="raw value 4 to class 7"):
        label_map_lut({4: 7}, num_classes=5, ignore_index=255)
    with pytest.raises(InputError, match="default class 9"):
        label_map_lut({4: 1, "*": 9}, num_classes=5, ignore_index=255)


def test_class_names_file(tmp_path):
    f = tmp_path / "names.txt"
    f.write_text("# classes\nsky\n\n  road  \ncar\n")
    assert load_class_names(f) == ("sky", "road", "car")
    f.write_text("sky\nsky\n")
    with pytest.raises(FormatError, match="appears twice"):
        load_class_names(f)
    f.write_text("\n# only comments\n")
    with pytest.raises(FormatError, match="no class names"):
        load_class_names(f)
    with pytest.raises(DataFileError):
        load_class_names(tmp_path / "absent.txt")
