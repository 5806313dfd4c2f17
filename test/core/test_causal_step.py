"""One causal step (``T2GModel.step``): the training clip forward, the trainer's validation stream and
``StreamingSegmenter`` decode the same frames to the same result, and a memory of one frame keeps no
pixel-fusion state on every path (torch, onnxruntime, clips)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from t2g_core import StreamingSegmenter, build_model, frames_to_tensor, upsample_logits
from t2g_core.config import FusionConfig
from t2g_core.modeling.causal import keeps_fusion_state, window_start
from t2g_core.training.trainer import ClipPairForward, validation_stream

STAMPS = [0.0, 0.04, 0.1, 0.13, 0.2, 0.31]  # irregular: offsets are seconds, not indices


@pytest.fixture
def model(make_tiny_config):
    """A tiny temporal model with every part a step runs: a 3-frame memory, pixel fusion and the
    detail path."""
    torch.manual_seed(0)
    config = dataclasses.replace(
        make_tiny_config(memory_length=3, detail=True),
        fusion=FusionConfig(enabled=True, window=3, key_dim=8, init_time_constant_s=0.5),
    )
    return build_model(config).eval()


def _frames(n: int, size=(32, 48), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(n)]


def _assert_same_prediction(result, logits: torch.Tensor, where: str) -> None:
    """``result`` (a streaming FrameResult at the model input size) against (1, K, h, w) logits read
    out as the trainer's validation does (upsample + argmax), within float noise."""
    probs = upsample_logits(logits, result.labels.shape).softmax(dim=1)[0]  # (K, H, W)
    top2 = probs.topk(2, dim=0).values
    confidence, labels = probs.max(dim=0)
    np.testing.assert_allclose(result.confidence, confidence.numpy(), atol=1e-5, err_msg=where)
    decided = (top2[0] - top2[1]).numpy() > 1e-4  # near-ties may go either way
    assert decided.mean() > 0.9, where
    np.testing.assert_array_equal(result.labels[decided], labels.numpy()[decided], err_msg=where)


def test_window_start_and_the_memory_one_rule():
    assert [window_start(t, 3) for t in range(5)] == [0, 0, 0, 1, 2]
    assert [window_start(t, 1) for t in range(3)] == [0, 1, 2]
    assert not keeps_fusion_state(1) and keeps_fusion_state(2)
    with pytest.raises(ValueError, match="memory_length"):
        window_start(0, 0)


def test_trainer_validation_stream_equals_streaming_segmenter(model):
    frames = _frames(len(STAMPS))
    with torch.no_grad():
        trained = list(
            validation_stream(
                model,
                frames_to_tensor(np.stack(frames)),
                np.asarray(STAMPS, np.float64) + 1.7e9,  # absolute stamps: only differences count
                device="cpu",
            )
        )
    segmenter = StreamingSegmenter(model, max_gap_s=1.0)
    assert len(trained) == len(frames)
    for t, (frame, stamp, logits) in enumerate(zip(frames, STAMPS, trained, strict=True)):
        _assert_same_prediction(segmenter.step(frame, stamp + 1.7e9), logits, f"frame {t}")


def test_training_clip_forward_equals_streaming_on_each_clip(model):
    """``ClipPairForward`` (what a training step differentiates) decodes the last frame of clip a,
    the frame before it and the last frame of clip b exactly as streaming each clip from a reset."""
    frames = _frames(len(STAMPS), seed=1)
    slots_a, slots_b = [0, 1, 2, 3, 4], [0, 2, 4]  # two strides ending on the same frame
    with torch.no_grad():
        levels = model.backbone(frames_to_tensor(np.stack(frames)))
        times = torch.tensor(STAMPS, dtype=torch.float64)
        last_a, last_b, before_last_a = ClipPairForward(model)(
            levels,
            torch.tensor([slots_a]),
            torch.tensor([slots_b]),
            times[slots_a][None],
            times[slots_b][None],
        )
    assert len(last_a) == model.config.decoder.num_layers + 1  # the aux predictions, then the final
    for slots, expected in (
        (slots_a, {3: before_last_a, 4: last_a[-1]}),
        (slots_b, {4: last_b[-1]}),
    ):
        segmenter = StreamingSegmenter(model, max_gap_s=1.0)
        for slot in slots:
            result = segmenter.step(frames[slot], STAMPS[slot])
            if slot in expected:
                _assert_same_prediction(result, expected[slot], f"clip {slots}, frame {slot}")


def test_a_one_frame_memory_keeps_no_fusion_state_in_clips(make_tiny_config):
    """T = 1 with pixel fusion: the past reaches no frame of a clip, as in the segmenters."""
    torch.manual_seed(0)
    config = dataclasses.replace(
        make_tiny_config(memory_length=1),
        fusion=FusionConfig(enabled=True, window=3, key_dim=8, init_time_constant_s=0.5),
    )
    model = build_model(config).eval()
    assert model.pixel_fusion is not None
    clip = frames_to_tensor(np.stack(_frames(3)))[None]  # (1, 3, 3, H, W)
    times = torch.tensor([STAMPS[:3]], dtype=torch.float64)
    changed = clip.clone()
    changed[0, :2] = 255 - changed[0, :2]
    with torch.no_grad():
        base = model.forward_clip(clip, times, with_aux=False).sem_logits
        other = model.forward_clip(changed, times, with_aux=False).sem_logits
        alone = model.forward_clip(clip[:, 2:], times[:, 2:], with_aux=False).sem_logits
    torch.testing.assert_close(base[:, 2], other[:, 2], rtol=0, atol=0)
    torch.testing.assert_close(base[:, 2], alone[:, 0], rtol=0, atol=1e-5)  # batch size only


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_a_one_frame_memory_keeps_no_fusion_state_when_streaming(model, backend, tmp_path):
    """At memory length 1 every frame is segmented as if it were the first after a reset."""
    if backend == "torch":

        def open_stream():
            return StreamingSegmenter(model, max_gap_s=1.0, memory_length=1)
    else:
        from t2g_core.export import export_model
        from t2g_core.inference.ort_streaming import OrtStreamingSegmenter

        export_model(model, tmp_path)

        def open_stream():
            return OrtStreamingSegmenter(tmp_path, max_gap_s=1.0, threads=1, memory_length=1)

    frames = _frames(4, seed=2)
    segmenter = open_stream()
    for t, (frame, stamp) in enumerate(zip(frames, STAMPS)):
        result = segmenter.step(frame, stamp)
        fresh = open_stream().step(frame, stamp)
        assert result.frames_in_memory == 1
        np.testing.assert_array_equal(result.confidence, fresh.confidence, err_msg=f"frame {t}")
