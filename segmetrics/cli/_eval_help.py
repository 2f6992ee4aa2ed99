"""The help text of ``segmetrics eval`` (its epilog), kept apart from the command's flags."""
from __future__ import annotations

from ..io.labelfiles import CLASS_NAMES_FORMAT, LABEL_MAP_FORMAT
from ..presets import PRESETS
from ._common import EXIT_CODES_HELP

__all__ = ["EPILOG"]

PRESET_HELP = "\n".join(f"  {p.name:<16} {p.description}" for p in PRESETS.values())

EPILOG = f"""\b
Examples:
  segmetrics eval --demo
  segmetrics eval --preset ade20k --gt ADEChallengeData2016/annotations/validation --pred out/ --per-class
  segmetrics eval --preset cityscapes --gt gtFine/val --pred results/ --json cs.json
  segmetrics eval --preset camvid --gt CamVid/testannot --pred pred/ --fail-under mIoU=60
  segmetrics eval --gt panoptic_val2017.json --pred panoptic_pred.json --per-class --save-state run.smstate
  segmetrics eval --preset ade20k-panoptic --gt ade20k_panoptic_val.json --pred pred.json
  segmetrics eval --gt labels/ --pred pred/ --num-classes 5 --ignore-index 255 --markdown
  segmetrics eval --preset cityscapes --gt gtFine/val --pred results/ --boundary
  segmetrics eval --preset ade20k --gt annotations/validation --pred out/ --conventions all

\b
What is evaluated:
  A COCO-panoptic JSON as --gt (or a PNG folder with a JSON of the same
  name next to it, or a folder holding one JSON and its PNG folder) means
  panoptic; a folder of label PNGs means semantic.  Semantic files pair by
  their path relative to --gt/--pred without extension (subfolders are
  searched); a prediction may also sit flat, paired by file name alone.

\b
How predictions are written (--pred-labels, semantic):
  class-index: class indices 0..K-1 (what a model outputs); as-gt: the
  GT files' raw values (ADE20K 1..K, Cityscapes labelIds), read through the
  GT's rules; auto (default): decided from a sample of the images, the
  same way for every preset; the report says which reading was used and why.

\b
Presets:
{PRESET_HELP}

\b
{LABEL_MAP_FORMAT}

\b
{CLASS_NAMES_FORMAT}

\b
Missing predictions (--allow-missing):
  semantic: every scored GT pixel of the image is a false negative of its
  class and a false positive of no class (as if predicted "void", never
  correct); panoptic: every GT segment of the image is a false negative.

\b
Scaling out (docs/scaling.md):
  --shard I/N --save-state part-I.smstate scores shard I (0..N-1) of the
  images; 'segmetrics merge part-*.smstate -o all.smstate' joins the N
  shards (a missing or repeated shard is refused).  --dask tcp://HOST:8786
  or --dask local:N scores on a Dask cluster; the GT cache is then each
  worker's own default folder unless --cache-dir names one.  --gt/--pred
  (and --gt-folder/--pred-folder) may be fsspec URLs: s3://, gs://,
  https://, ... (the [dist] extra; the worker scoring a file fetches it).

\b
Boundary metrics (--boundary, docs/boundary.md): semantic mBIoU and
mMinIoU (per class BIoU, MinIoU), panoptic Boundary PQ (BPQ BSQ BRQ),
counted in the same pass as the mask metrics, on bands of
max(1, round(R x image diagonal)) pixels: R = --dilation-ratio, default the
preset's (cityscapes 0.005) or 0.02.  Panoptic reports always hold
PQ-dagger (PQdag: stuff classes scored without the 0.5 threshold).

\b
Other tools' numbers (--convention, --conventions all):
  each tool's rules for the edge cases (classes only predicted, labels
  outside [0, K), void predictions, the panoptic union, crowd and stuff
  segments) as a profile; docs/conventions.md gives each rule's source.

\b
Outputs: the table goes to stdout; --json PATH writes the report
(schema: docs/json_schema.md; values are fractions, '-' = stdout);
--per-image PATH.csv one row per image; --markdown prints Markdown for PR
comments instead of the table; --save-state PATH the run-state file that
'segmetrics report', 'merge' and 'compare' read; --html PATH a
self-contained report with the worst images; --plots DIR the figures.
--ci adds bootstrap intervals, --worst K the K worst images, --slices
MANIFEST.csv metrics per attribute value (docs/statistics.md).  Warnings,
notes and progress go to stderr.

{EXIT_CODES_HELP}
"""
