# t2g entry points. Every target runs the idempotent set-up first (seconds when nothing changed) and
# the environment from scripts/env.sh (DDS on loopback, a per-run ROS domain, the large-image profile).
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
RUN := source scripts/env.sh &&

.PHONY: setup test demo lint format
setup:
	@bash scripts/setup.sh

## README command 2: the whole test suite
test: setup
	@$(RUN) python -m pytest -q $(PYTEST_ARGS)

## The lint gate (pyproject.toml): ruff's checks and its formatting, changing nothing; CI runs it first
lint: setup
	@$(RUN) ruff check . && ruff format --check .

## Rewrite the tree the way `make lint` wants it (import order and other safe fixes, then formatting)
format: setup
	@$(RUN) ruff check --fix . && ruff format .

## README command 1: the shipped checkpoint on the shipped sample bag, through the live node (artifacts/demo/)
demo: setup
	@$(RUN) python -m t2g_ros.demo $(DEMO_ARGS)

## Evaluation and benchmarks side by side (config/eval.yaml): results/results.json, summary.md, *.png
.PHONY: bench bench-quick bench-readme
bench: setup
	@$(RUN) python -m t2g_core.evaluate --config config/eval.yaml $(BENCH_ARGS)

## The same as a smoke run, a few frames per target, into results/quick/ (numbers are not results)
bench-quick: setup
	@$(RUN) python -m t2g_core.evaluate --config config/eval.yaml --quick $(BENCH_ARGS)

## README's Results section (between <!-- results:start --> and <!-- results:end -->) from results/results.json
bench-readme: setup
	@$(RUN) python scripts/update_readme_results.py

## Training (background-friendly; resumable with TRAIN_ARGS=--resume). The shipped checkpoints come from
## these two runs, which share one feature bank (same data) under runs/bank_cache/.
.PHONY: train train-perframe
# The v2 release checkpoints (commit 71a03b8: pixel fusion, no detail path) that the training configs
# warm-start from (init_from); the modules they lack (the detail path) start as an identity.
V2_COMMIT := 71a03b8
runs/init/%_v2_lite0_camvid.pt:
	@mkdir -p runs/init && git show $(V2_COMMIT):checkpoints/$*_lite0_camvid.pt > $@.tmp && mv $@.tmp $@

train: setup runs/init/t2g_v2_lite0_camvid.pt
	@$(RUN) OMP_NUM_THREADS=1 python -m t2g_core.train --config config/train_camvid.yaml \
		--bank-cache runs/bank_cache --threads 1 $(TRAIN_ARGS)

train-perframe: setup runs/init/perframe_v2_lite0_camvid.pt
	@$(RUN) OMP_NUM_THREADS=1 python -m t2g_core.train --config config/train_camvid_perframe.yaml \
		--bank-cache runs/bank_cache --threads 1 $(TRAIN_ARGS)

## ONNX export for model.backend onnxruntime (the node builds and caches one itself; this writes it where you say)
.PHONY: export bench-speed
EXPORT_ARGS ?= --checkpoint checkpoints/t2g_lite0_camvid.pt --out artifacts/onnx/t2g_lite0_camvid
export: setup
	@$(RUN) python -m t2g_core.export $(EXPORT_ARGS)

## Speed (torch vs onnxruntime, per-frame vs temporal, per-stage profile, side by side with int8 and the
## ESPNetv2 peer at 480x360, 640x480, 1280x720; through ROS: make node-rates): results/speed.json and speed.md
bench-speed: setup
	@$(RUN) python scripts/bench_speed.py $(BENCH_SPEED_ARGS)

## int8 backbone vs fp32 on CamVid val (mIoU, VC_8, flicker, labels changed) and step latency at
## 480x360, with the verdict of issue 15: results/int8.json and results/int8.md
.PHONY: int8-accept
int8-accept: setup
	@$(RUN) python scripts/int8_accept.py $(INT8_ACCEPT_ARGS)

## The node through ROS under a 30 Hz camera at 640x480 and 1280x720, raw and JPEG input: output rate,
## latency p50/p95, drops by reason, lag growth -> results/node_rates.json and results/node_rates.md
.PHONY: node-rates
node-rates: setup
	@$(RUN) python scripts/node_rates.py $(NODE_RATES_ARGS)

## Flicker on both real clips delivered as JPEG CompressedImage at quality 85 and 100, through t2g-bag-eval
## (T2G, the per-frame checkpoint, T2G at memory 1): results/jpeg_flicker.json and results/jpeg_flicker.md
.PHONY: jpeg-flicker
jpeg-flicker: setup
	@$(RUN) OMP_NUM_THREADS=1 python scripts/jpeg_flicker.py $(JPEG_FLICKER_ARGS)

## Soak (a measurement, not a test): the node under a 30 Hz 640x480 camera for N minutes; RSS slope,
## output rate, latency p50/p95 per minute, drops by reason -> results/soak.json and results/soak.md
.PHONY: soak
SOAK_ARGS ?= --minutes 10
soak: setup
	@$(RUN) python scripts/soak.py $(SOAK_ARGS)

## The scorecard (config/scorecard.yaml): checkpoint pairs side by side on the real-road regions, real-video
## flicker, CamVid val/test, weather and speed -> results/scorecard.{json,md,png}. PAIRS="NAME=DIR ..."
## (default the shipped pair); SCORECARD_ARGS=--quick for a few minutes while training (results/quick/).
.PHONY: scorecard release-check noise-bands
PAIRS ?= shipped=checkpoints
scorecard: setup
	@$(RUN) python -m t2g_core.scorecard $(addprefix --pair ,$(PAIRS)) $(SCORECARD_ARGS)

## The release gate: CANDIDATE=NAME=DIR (or NAME=T2G.pt,PERFRAME.pt) against BASELINE (the shipped pair):
## a verdict per axis and PASS/FAIL -> results/release/<candidate>_vs_<baseline>.{json,md}. Exit 1 on FAIL.
BASELINE ?= shipped=checkpoints
release-check: setup
	@test -n "$(CANDIDATE)" || { echo "usage: make release-check CANDIDATE=name=DIR [BASELINE=name=DIR]"; exit 2; }
	@$(RUN) python -m t2g_core.release_check --candidate $(CANDIDATE) --baseline $(BASELINE) $(RELEASE_ARGS)

## The gate's noise bands (config/release_gate.yaml) from a full scorecard's bootstrap stds: SCORECARD=path
noise-bands: setup
	@$(RUN) python -m t2g_core.release_check --measure-bands $(SCORECARD) $(RELEASE_ARGS)

## A past release's checkpoint pair from git, for the scorecard and the gate: make runs/releases/<commit>
runs/releases/%:
	@mkdir -p $@.tmp && for f in t2g_lite0_camvid.pt perframe_lite0_camvid.pt; do \
		git show $*:checkpoints/$$f > $@.tmp/$$f; done && mv $@.tmp $@

## Issue 22's staged recipe. Stage 1: the per-frame model on single views (backbone on the fly).
## Stage 2: the temporal parts (output gate, past-frame encoding) on ego-motion clips, stage 1 frozen.
## train-gpu: both stages on one CUDA GPU in under 9 minutes (never part of CI or the README's commands).
.PHONY: train-stage1 train-stage2 train-gpu ablation
WARM_START := runs/releases/d008ba7
train-stage1: setup $(WARM_START)
	@$(RUN) OMP_NUM_THREADS=1 python -m t2g_core.train --config config/train_stage1.yaml --threads 1 $(TRAIN_ARGS)

train-stage2: setup
	@$(RUN) OMP_NUM_THREADS=1 python -m t2g_core.train --config config/train_stage2.yaml --threads 1 $(TRAIN_ARGS)

train-gpu: setup $(WARM_START)
	@$(RUN) python -m t2g_core.train --config config/gpu_stage1.yaml --device cuda --no-progress && \
		python -m t2g_core.train --config config/gpu_stage2.yaml --device cuda --no-progress

## The stage-1 ablation: 7 min runs from one start (config/ablation/), two at a time, then the table
## (results/ablation.md: real-road regions of each best.pt and its validation).
ablation: setup $(WARM_START)
	@bash scripts/run_ablation.sh
