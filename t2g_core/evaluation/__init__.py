"""Evaluation and benchmarks: per-frame, per-frame + EMA and T2G side by side on every target, with
the pretrained ESPNetv2 Cityscapes peer on CamVid test, weather, video and speed.

``t2g-eval --config config/eval.yaml`` (``t2g_core.evaluate``) runs :func:`run_evaluation`; the
modules are one concept each: ``config`` (the YAML), ``sources`` (frames of each target),
``contenders`` (the models and streaming them), ``peer`` (the ESPNetv2 peer as a contender, and
T2G against it), ``targets`` (scoring), ``ablation`` (the memory
ablation's changed labels), ``ema_tuning``, ``speed``, ``plots`` and ``strip`` (PNGs), ``report``
(JSON and markdown), ``readme`` (the README block), ``environment`` (machine and date).
"""

from .ablation import LabelChange, label_change
from .config import EvalConfig, load_eval_config
from .contenders import (
    PERFRAME,
    PERFRAME_EMA,
    T2G,
    T2G_MEMORY1,
    Contender,
    make_contenders,
    memory_ablation_contender,
    predict_stream,
)
from .ema_tuning import AlphaScore, EmaTuning, select_alpha, tune_ema_alpha
from .peer import ESPNETV2_PEER, PeerContender, open_peer_contender, peer_comparison
from .readme import END_MARKER, START_MARKER, replace_block, update_readme
from .report import RESULTS_FILE, SUMMARY_FILE, load_results, render_markdown, write_results
from .runner import run_evaluation
from .speed import LatencyStats, SegformerPeer, latency_ratios, measure_latency

__all__ = [
    "AlphaScore",
    "Contender",
    "END_MARKER",
    "ESPNETV2_PEER",
    "EmaTuning",
    "EvalConfig",
    "LabelChange",
    "LatencyStats",
    "PERFRAME",
    "PERFRAME_EMA",
    "PeerContender",
    "RESULTS_FILE",
    "START_MARKER",
    "SUMMARY_FILE",
    "SegformerPeer",
    "T2G",
    "T2G_MEMORY1",
    "label_change",
    "latency_ratios",
    "load_eval_config",
    "load_results",
    "make_contenders",
    "measure_latency",
    "memory_ablation_contender",
    "open_peer_contender",
    "peer_comparison",
    "predict_stream",
    "render_markdown",
    "replace_block",
    "run_evaluation",
    "select_alpha",
    "tune_ema_alpha",
    "update_readme",
    "write_results",
]
