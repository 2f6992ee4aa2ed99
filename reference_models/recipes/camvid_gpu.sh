#!/usr/bin/env bash
# DeepLabV3 in the paper's setting on CamVid, on one CUDA GPU, in about 10 minutes of device time:
# ResNet-50, output stride 16, multi-grid (1, 2, 4), ASPP rates 6/12/18 with image pooling (256 channels),
# batch 16, full-resolution 360x480 crops (random scale 0.5-2.0, flip), bf16 autocast, median-frequency
# weighted cross-entropy, poly LR with warm-up, trained from scratch (no pretrained weights exist here).
#
# From the repository root, with CamVid packed next to the checkout (git-ignored, 41 MiB):
#   python -m reference_models.recipes.pack_camvid /path/to/CamVid runs/camvid_pack
#   bash reference_models/recipes/camvid_gpu.sh
# The device tool of this project runs it as one call (the packed data travels as an ignored path):
#   run(command="bash reference_models/recipes/camvid_gpu.sh", carry=["runs/camvid_pack"], timeout_s=600)
#
# The number of iterations is chosen from a 20-iteration speed probe so that training fits BUDGET_S
# seconds (unless ITERS is set).  Results go to $OUT (the device tool's output folder) or runs/camvid_gpu:
# train.log, history.json, curve.json, val_eval.json, summary.txt, val and test prediction PNGs.
#
# Environment: DATA (runs/camvid_pack), WORK (runs/camvid_gpu_work), OUT, BUDGET_S (420), ITERS, DEVICE (cuda), BATCH (16),
# BACKBONE (resnet50), WIDTH (64), ASPP (256), PYTHON (python3), SMOKE=1 (2 iterations on 6 images, any
# device: a plumbing check; tests/test_trainer.py runs it with a tiny network).
set -euo pipefail
PY=${PYTHON:-$(command -v python3 || command -v python)}
DATA=${DATA:-runs/camvid_pack}
OUT=${OUT:-runs/camvid_gpu}
DEVICE=${DEVICE:-cuda}
BATCH=${BATCH:-16}
BACKBONE=${BACKBONE:-resnet50}
WIDTH=${WIDTH:-64}
ASPP=${ASPP:-256}
BUDGET_S=${BUDGET_S:-420}
WORK=${WORK:-runs/camvid_gpu_work}
mkdir -p "$OUT" "$WORK"
log() { echo "[camvid_gpu $(date -u +%H:%M:%S)] $*" | tee -a "$OUT/summary.txt"; }

log "python: $PY"
"$PY" - <<'PYEOF' 2>&1 | tee -a "$OUT/summary.txt"
import sys
try:
    import torch
except ImportError:
    sys.exit("torch is not installed here: pip install 'segmetrics[model]' (a CUDA build of torch)")
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("gpu", torch.cuda.get_device_name(0), "bf16", torch.cuda.is_bf16_supported())
PYEOF
if [ "$DEVICE" != "cpu" ] && ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    log "error: DEVICE=$DEVICE but torch sees no CUDA device"; exit 2
fi
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$OUT/summary.txt" || true
[ -d "$DATA/train" ] || { log "error: packed CamVid not found at $DATA (run reference_models.recipes.pack_camvid)"; exit 2; }

if [ "${SMOKE:-0}" = 1 ]; then  # a tiny copy: 4 train, 1 val, 1 test image
    rm -rf "$WORK/smoke_data"
    for s in train val test; do mkdir -p "$WORK/smoke_data/$s"; done
    mkdir -p "$WORK/smoke_data/trainannot" "$WORK/smoke_data/valannot"
    for f in $(ls "$DATA/train" | head -4); do cp "$DATA/train/$f" "$WORK/smoke_data/train/"; cp "$DATA/trainannot/${f%.jpg}.png" "$WORK/smoke_data/trainannot/"; done
    f=$(ls "$DATA/val" | head -1); cp "$DATA/val/$f" "$WORK/smoke_data/val/"; cp "$DATA/valannot/${f%.jpg}.png" "$WORK/smoke_data/valannot/"
    cp "$DATA/test/$(ls "$DATA/test" | head -1)" "$WORK/smoke_data/test/"
    DATA="$WORK/smoke_data"; ITERS=2; WARMUP=0; BATCH=${SMOKE_BATCH:-2}
fi

AMP="--amp --amp-dtype bfloat16"
[ "$DEVICE" = cpu ] && AMP="--no-amp"
ARGS=(--dataset camvid --data-root "$DATA" --backbone "$BACKBONE" --output-stride 16 --multi-grid 1,2,4
      --aspp-channels "$ASPP" --width "$WIDTH" --crop-size 360,480 --scale-range 0.5,2.0 --batch-size "$BATCH"
      --loss ce --class-weight median-freq --lr 0.02 --weight-decay 1e-4 --warmup-iters "${WARMUP:-100}" --seed 0
      --device "$DEVICE" $AMP --no-progress --log-interval 10 --checkpoint-interval 0)

if [ -z "${ITERS:-}" ]; then  # speed probe: 20 steps (after the first 10, which include cuDNN autotuning)
    "$PY" -m segmetrics train "${ARGS[@]}" --iterations 100000 --stop-after 30 --val-split none --out "$WORK/probe" > /dev/null
    SPI=$(grep -o 's/it=[0-9.]*' "$WORK/probe/train.log" | tail -1 | cut -d= -f2)
    ITERS=$("$PY" -c "print(max(100, int($BUDGET_S / $SPI) // 100 * 100))")
    log "speed probe: $SPI s/iteration -> $ITERS iterations for a ${BUDGET_S}s budget"
fi
VAL_EVERY=$(( ITERS / 4 > 0 ? ITERS / 4 : 1 ))
log "training $ITERS iterations, batch $BATCH, device $DEVICE"
"$PY" -m segmetrics train "${ARGS[@]}" --iterations "$ITERS" --val-interval "$VAL_EVERY" --out "$WORK/run" | tee -a "$OUT/summary.txt"
cp "$WORK/run/train.log" "$WORK/run/history.json" "$WORK/run/curve.json" "$OUT/"

log "predicting val and test"
"$PY" -m segmetrics predict --checkpoint "$WORK/run/last.pt" --images "$DATA/val" --out "$OUT/val_predictions" --device "$DEVICE" --no-progress
"$PY" -m segmetrics predict --checkpoint "$WORK/run/last.pt" --images "$DATA/test" --out "$OUT/test_predictions" --device "$DEVICE" --no-progress
if "$PY" -c "import segmetrics.semantic" 2> /dev/null; then
    "$PY" -m segmetrics eval --preset camvid --gt "$DATA/valannot" --pred "$OUT/val_predictions" --per-class \
        --json "$OUT/val_eval.json" | tee -a "$OUT/summary.txt"
else
    log "segmetrics kernels not built here (python setup.py build_ext --inplace): val scores are in history.json"
fi
log "done"
