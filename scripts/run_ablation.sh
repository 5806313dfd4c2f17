#!/usr/bin/env bash
# The stage-1 ablation (`make ablation`): every config/ablation/a*.yaml for 7 min from the same start,
# two runs at a time (one thread each, plus each run's augmentation worker), then the table in
# results/ablation.md. A finished run (summary.json) is kept; an unfinished one starts again.
set -euo pipefail
source scripts/env.sh
mkdir -p runs/ablation

train() {
    local name=$1
    [ -f "runs/ablation/$name/summary.json" ] && return 0
    rm -rf "runs/ablation/$name"
    OMP_NUM_THREADS=1 python -m t2g_core.train --config "config/ablation/$name.yaml" --threads 1 \
        --no-progress > "runs/ablation/$name.log" 2>&1
}

names=()
for config in config/ablation/a*.yaml; do names+=("$(basename "$config" .yaml)"); done
for ((i = 0; i < ${#names[@]}; i += 2)); do
    train "${names[i]}" &
    if ((i + 1 < ${#names[@]})); then train "${names[i + 1]}" & fi
    wait
done
python scripts/ablation_table.py "${names[@]/#/runs/ablation/}" --output results/ablation.md
