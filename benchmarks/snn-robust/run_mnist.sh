#!/usr/bin/env bash
# Vanilla against gradient-sparsity regularized spiking CNNs on MNIST: clean, uniform-noise, FGSM and
# PGD accuracy at eps 0.1 and 0.3, worst case over four gradient estimators.
#
# Data: the MNIST t10k files only, split by class into 8,000 training and 2,000 held-out images
# (holdout fraction 0.2, split seed 0). The attacks use the first EVAL_SAMPLES held-out images.
# Every model trains with the same epochs, batch size, optimizer and learning rate. Each model trains
# and is evaluated in its own single-threaded process, so the models run side by side on the cores.
#
# Usage: benchmarks/snn-robust/run_mnist.sh DATA_DIR OUT_DIR [LAMBDA ...]
set -euo pipefail

DATA_DIR=${1:?usage: run_mnist.sh DATA_DIR OUT_DIR [LAMBDA ...]}
OUT_DIR=${2:?usage: run_mnist.sh DATA_DIR OUT_DIR [LAMBDA ...]}
shift 2
if [[ $# -eq 0 ]]; then
    set -- 0.01
fi
LAMBDAS=("0" "$@")

SNN=${SNN:-snn}
PYTHON=${PYTHON:-python}
EPOCHS=${EPOCHS:-3}
TIME_STEPS=${TIME_STEPS:-4}
EVAL_SAMPLES=${EVAL_SAMPLES:-500}
PGD_STEPS=${PGD_STEPS:-10}
export OMP_NUM_THREADS=1 SNN_CORE_BACKEND=${SNN_CORE_BACKEND:-fused}
HERE=$(cd "$(dirname "$0")" && pwd)

run_one() {
    local lam=$1 name=$2
    "$SNN" -q robust train --dataset mnist --data-dir "$DATA_DIR" --holdout-fraction 0.2 \
        --time-steps "$TIME_STEPS" --neuron if --surrogate triangle --epochs "$EPOCHS" \
        --batch-size 64 --lr 2e-3 --lam "$lam" --h 0.01 --seed 0 --device cpu \
        --out-dir "$OUT_DIR/$name/train"
    "$SNN" -q robust eval --checkpoint "$OUT_DIR/$name/train/model" --epsilons 0.1 0.3 \
        --pgd-steps "$PGD_STEPS" --estimators ensemble --max-samples "$EVAL_SAMPLES" \
        --batch-size 250 --seed 0 --device cpu --out-dir "$OUT_DIR/$name/eval"
}

mkdir -p "$OUT_DIR"
started=$(date +%s)
names=()
pids=()
for lam in "${LAMBDAS[@]}"; do
    name="lam-$lam"
    names+=("$OUT_DIR/$name/eval")
    run_one "$lam" "$name" > "$OUT_DIR/$name.log" 2>&1 &
    pids+=($!)
done
for index in "${!pids[@]}"; do
    wait "${pids[$index]}" || { echo "model ${LAMBDAS[$index]} failed; see $OUT_DIR/lam-${LAMBDAS[$index]}.log" >&2; exit 1; }
done
"$PYTHON" "$HERE/merge_results.py" "$OUT_DIR" "${names[@]}"
echo "total wall time: $(( $(date +%s) - started )) s"
