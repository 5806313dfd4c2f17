"""t2g-train: train the T2G decoder (or the per-frame baseline) on CamVid.

    t2g-train --config config/train_camvid.yaml            # the shipped T2G model
    t2g-train --config config/train_camvid_perframe.yaml   # the per-frame baseline
    t2g-train --config config/train_stage1.yaml            # stage 1: per-frame, single views
    t2g-train --config config/train_stage2.yaml            # stage 2: the temporal parts, ego clips
    torchrun --nproc_per_node=2 -m t2g_core.train --config ...   # DDP: gloo on CPU, nccl on GPU

Writes into ``out_dir``: ``best.pt`` (best val mIoU) and ``last.pt`` checkpoints, ``train_state.pt`` (resume
with ``--resume``), ``log.csv``, ``val.csv`` and ``summary.json``.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Collection
from pathlib import Path

import torch
import torch.distributed as dist

from t2g_core.checkpoint import CheckpointError, load_checkpoint
from t2g_core.config import load_model_config
from t2g_core.data.camvid import CamVidSplit, check_not_test_split
from t2g_core.labels import LabelSet
from t2g_core.modeling.model import build_model
from t2g_core.training.backbone_onnx import OrtBackbone
from t2g_core.training.config import load_train_config
from t2g_core.training.feature_bank import FeatureBank, bank_key, build_feature_bank
from t2g_core.training.temporal_stage import EgoClipSampler, TemporalTrainer
from t2g_core.training.trainer import STATE_FILE, Trainer
from t2g_core.training.views import ViewSampler, ViewTrainer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="t2g-train", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config", required=True, help="training YAML, e.g. config/train_camvid.yaml"
    )
    parser.add_argument(
        "--resume", action="store_true", help=f"continue from <out_dir>/{STATE_FILE}"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--bank-cache",
        help="folder to reuse/save the feature bank (keyed by data, backbone, "
        "bank config and seed)",
    )
    parser.add_argument("--threads", type=int, help="CPU threads (overrides optim.threads)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (logs only)")
    args = parser.parse_args(argv)

    config = load_train_config(args.config)
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    out_dir = Path(config.out_dir)
    state_path = out_dir / STATE_FILE
    # Checked on every rank before the process group forms, so a bad start fails everywhere at once.
    if args.resume and not state_path.is_file():
        parser.error(f"--resume: no {state_path} to continue from")
    if not args.resume and out_dir.exists() and any(out_dir.iterdir()):
        parser.error(
            f"{out_dir} is not empty: pass --resume to continue it, or choose another out_dir"
        )

    device = torch.device(args.device)
    if world > 1:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    torch.manual_seed(config.seed + rank)
    torch.set_num_threads(max(1, (args.threads or config.optim.threads) // world))
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)

    label_set = LabelSet.from_yaml(config.labels)
    model = build_model(load_model_config(config.model))
    if config.init_from:
        _warm_start(model, Path(config.init_from), config.init_modules)
    if model.config.num_classes != label_set.num_classes:
        parser.error(
            f"{config.model} predicts {model.config.num_classes} classes, {config.labels} has "
            f"{label_set.num_classes}"
        )
    train = CamVidSplit(config.data_root, split=check_not_test_split("train"))
    val = CamVidSplit(config.data_root, split=check_not_test_split(config.eval.val_split))
    holdout = tuple(config.eval.holdout_drives)
    if holdout:  # validated on, never trained on: the selection criterion sees unseen drives
        val = (val, train.select_drives(keep=holdout))
        train = train.select_drives(drop=holdout)
    if config.stage in ("views", "temporal"):
        trainer = _on_the_fly_trainer(config, model, label_set, train, val, args, device=device)
    else:
        bank = _bank(train, model, config, args, rank=rank, void_id=label_set.void_id)
        trainer = Trainer(
            config, model, label_set, bank, val, config_path=args.config, device=device
        )
    if args.resume:
        trainer.load_state(state_path)
    summary = trainer.run(progress=not args.no_progress)
    if rank == 0:
        print(
            f"done: {summary['steps']} steps in {summary['minutes']:.1f} min, best selection criterion "
            f"{summary['best_val_miou']:.4f} -> {out_dir / 'best.pt'}"
        )
    if world > 1:
        dist.destroy_process_group()
    return 0


def _warm_start(model, path: Path, modules: tuple[str, ...] = ()) -> None:
    """Load the trainable weights of checkpoint ``path`` into the modules of ``model`` it has.

    ``modules``: the checkpoint's modules to take (empty = all). Every module taken must exist in
    ``model`` with the same shapes (``CheckpointError`` otherwise); the model's other modules keep their
    random initialisation.
    """
    loaded = load_checkpoint(path)
    state = loaded.model.trainable.state_dict()
    if modules:
        absent = sorted(set(modules) - {key.split(".")[0] for key in state})
        if absent:
            raise CheckpointError(f"{path}: has no modules {absent} (init_modules)")
        state = {key: value for key, value in state.items() if key.split(".")[0] in modules}
    missing, unexpected = model.trainable.load_state_dict(state, strict=False)
    if unexpected:
        raise CheckpointError(
            f"{path}: weights for modules this model does not have: {unexpected[:5]}"
        )
    new_modules = _outermost_new_modules(model.trainable.state_dict().keys(), missing)
    print(f"warm start from {path}; new modules start random: {new_modules or 'none'}", flush=True)


def _outermost_new_modules(keys: Collection[str], missing: list[str]) -> list[str]:
    """The outermost modules all of whose weights are in ``missing`` (e.g. ``memory_decoder.past_encoding``,
    not ``memory_decoder``, when only that part of the decoder is new)."""
    missing_set, new = set(missing), set()
    for key in missing:
        parts = key.split(".")
        prefixes = (".".join(parts[:i]) for i in range(1, len(parts)))
        new.add(
            next(
                (
                    p
                    for p in prefixes
                    if all(k in missing_set for k in keys if k.startswith(p + "."))
                ),
                key,
            )
        )
    return sorted(new)


def _on_the_fly_trainer(
    config, model, label_set, train, val, args, *, device
) -> ViewTrainer | TemporalTrainer:
    """Stage 1 (views of ``train``) or stage 2 (ego-motion clips of them), the backbone run on the fly
    (onnxruntime on a CPU)."""
    from t2g_core.data.class_appearance import ClassAppearanceConfig, recolour_by_class

    appearance = ClassAppearanceConfig(prob=1.0)  # views.class_appearance_prob decides
    sampler = ViewSampler(
        train,
        config.views,
        void_id=label_set.void_id,
        recolour=functools.partial(recolour_by_class, cfg=appearance),
    )
    if torch.device(args.device).type == "cpu":
        backbone = OrtBackbone(
            model.backbone,
            input_size=tuple(config.views.crop_size),
            threads=torch.get_num_threads(),
        )
    else:
        backbone = model.backbone.to(device)
    if config.stage == "temporal":
        return TemporalTrainer(
            config,
            model,
            label_set,
            EgoClipSampler(sampler, config.ego_clips),
            backbone,
            val,
            config_path=args.config,
            device=device,
        )
    return ViewTrainer(
        config, model, label_set, sampler, backbone, val, config_path=args.config, device=device
    )


def _bank(train: CamVidSplit, model, config, args, *, rank: int, void_id: int) -> FeatureBank:
    """Load the feature bank from ``--bank-cache`` when a bank with the same key is there, else build it
    (and save it there). T2G and the per-frame baseline share one bank this way: same data, built once."""
    cache = None
    if args.bank_cache:
        key = bank_key(train, model.config.backbone.name, config.bank, seed=config.seed)
        cache = Path(args.bank_cache) / f"bank_{key}.pt"
        if cache.is_file():
            print(f"feature bank: loading {cache}", flush=True)
            return FeatureBank.load(cache)
    runner = None
    if (
        torch.device(args.device).type == "cpu"
    ):  # the frozen backbone in onnxruntime: same maps, ~6x faster than eager torch here
        runner = OrtBackbone(
            model.backbone, input_size=tuple(config.bank.crop_size), threads=torch.get_num_threads()
        )
    bank = build_feature_bank(
        train,
        model.backbone,
        config.bank,
        seed=config.seed,
        void_id=void_id,
        progress=not args.no_progress and rank == 0,
        runner=runner,
    )
    print(f"feature bank: {len(bank)} frames", flush=True)
    if cache is not None and rank == 0:
        bank.save(cache)
        # Reopened memory-mapped: its pages are then shared with other jobs that load the same bank.
        return FeatureBank.load(cache)
    return bank


if __name__ == "__main__":
    sys.exit(main())
