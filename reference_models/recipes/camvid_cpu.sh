#!/usr/bin/env bash
# The CamVid runs behind the tables of docs/model.md, on a CPU, from scratch (no pretrained weights).
#
#   bash reference_models/recipes/camvid_cpu.sh recipe     # train-only run of the recipe (val mIoU), val predictions
#   bash reference_models/recipes/camvid_cpu.sh final      # the same recipe on train+val, the 233 test predictions
#   bash reference_models/recipes/camvid_cpu.sh losses     # the loss table: one short run per loss
#   bash reference_models/recipes/camvid_cpu.sh loss NAME  # one row of it (ce, wce, focal, combo, lovasz, ohem, ...)
#   bash reference_models/recipes/camvid_cpu.sh post-recipe|post-final  # only the prediction steps of recipe/final
#   bash reference_models/recipes/camvid_cpu.sh publish    # fill the tables of docs/model.md and README.md
#
# Environment: CAMVID (../shared/data/camvid, else /work/shared/data/camvid), RUNS (runs), THREADS (1:
# the runs of docs/model.md ran two at a time, one thread each, on a shared 2-core machine).
# Every run is seeded (--seed 0) and resumable: rerun a command with --resume RUNS/<name>/last.pt appended.
set -euo pipefail
CAMVID=${CAMVID:-$( [ -d ../shared/data/camvid ] && echo ../shared/data/camvid || echo /work/shared/data/camvid )}
RUNS=${RUNS:-runs}
THREADS=${THREADS:-1}
SM=${SEGMETRICS:-python -m segmetrics}

# The recipe: DeepLabV3, ResNet-18 at half width (32 channels in the first stage, 2.8 M parameters
# in the backbone), output stride 16, multi-grid (1, 2, 4), ASPP 6/12/18 + image pooling at 128
# channels; batch 8 of 256x256 crops (random scale 0.5-2.0, flip), median-frequency weighted CE,
# SGD momentum 0.9, poly LR 0.02 with a 200-iteration warm-up, weight decay 5e-4, channels-last.
MODEL="--backbone resnet18 --width 32 --aspp-channels 128 --output-stride 16 --multi-grid 1,2,4"
OPTIM="--crop-size 256 --batch-size 8 --scale-range 0.5,2.0 --lr 0.02 --weight-decay 5e-4 --warmup-iters 200 --seed 0"
BASE="--dataset camvid --data-root $CAMVID $MODEL $OPTIM --device cpu --threads $THREADS --no-progress"
RECIPE_ITERS=12000
LOSS_ITERS=${LOSS_ITERS:-1000}

loss_run() {  # the loss table: same model and schedule for every loss, only --loss / --class-weight differ
    local name=$1 args
    case $name in
        ce) args="--loss ce" ;;
        wce) args="--loss ce --class-weight median-freq" ;;
        focal) args="--loss focal" ;;
        combo) args="--loss combo" ;;
        lovasz) args="--loss lovasz" ;;
        ohem) args="--loss ohem" ;;
        dice) args="--loss dice" ;;
        tversky) args="--loss tversky" ;;
        *) echo "unknown loss run $name" >&2; exit 2 ;;
    esac
    $SM train $BASE $args --iterations $LOSS_ITERS --val-interval 250 --checkpoint-interval 250 \
        --log-interval 50 --out "$RUNS/s-$name"
}

post_recipe() {  # val predictions of the train-only model, scored by segmetrics eval
    rm -rf benchmarks/camvid/val_predictions
    $SM predict --checkpoint "$RUNS/r1-train/last.pt" --images "$CAMVID/val" \
        --out benchmarks/camvid/val_predictions --threads "$THREADS" --no-progress
    $SM eval --preset camvid --gt "$CAMVID/valannot" --pred benchmarks/camvid/val_predictions --per-class \
        --json benchmarks/camvid/val_eval.json
}

post_final() {  # test predictions of the final (train + val) model
    rm -rf benchmarks/camvid/test_predictions
    $SM predict --checkpoint "$RUNS/r1-trainval/last.pt" --images "$CAMVID/test" \
        --out benchmarks/camvid/test_predictions --threads "$THREADS" --no-progress
}

case ${1:-} in
    recipe)
        $SM train $BASE --loss ce --class-weight median-freq --iterations $RECIPE_ITERS --val-interval 1000 \
            --checkpoint-interval 500 --log-interval 100 --out "$RUNS/r1-train"
        post_recipe ;;
    post-recipe)
        post_recipe ;;
    final)
        $SM train $BASE --train-split trainval --val-split none --loss ce --class-weight median-freq \
            --iterations $RECIPE_ITERS --checkpoint-interval 500 --log-interval 100 --out "$RUNS/r1-trainval"
        post_final ;;
    post-final)
        post_final ;;
    publish)  # the tables of docs/model.md and README.md, benchmarks/camvid/train_history.json, the plot
        python -m reference_models.recipes.report publish "$RUNS" ;;
    losses)
        for name in ce wce focal combo lovasz ohem; do loss_run "$name"; done ;;
    loss)
        loss_run "${2:?name of the loss run}" ;;
    *)
        sed -n '2,13p' "$0"; exit 2 ;;
esac
