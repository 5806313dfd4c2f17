"""The output gate starts as the EMA exactly and moves with its evidence; a memory of one frame is the
per-frame model exactly; the vertical prior starts as the identity and reads the height only."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from tiny_models import tiny_config

from t2g_core import build_model
from t2g_core.modeling.output_gate import OutputGate
from t2g_core.modeling.vertical_prior import VerticalPrior


def _probs(shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).softmax(1)


def test_a_new_gate_is_the_ema_with_its_alpha():
    gate = OutputGate(init_alpha=0.7, hidden=4)
    logits = torch.randn(2, 5, 6, 8)
    past = _probs((2, 5, 6, 8), 1)
    embedding, past_embedding = torch.randn(2, 16, 3, 4), torch.randn(2, 16, 3, 4)
    out, probs = gate(logits, past, embedding, past_embedding, torch.tensor([-0.04, -0.5]))
    expected = 0.7 * logits.softmax(1) + 0.3 * past
    torch.testing.assert_close(probs, expected)
    torch.testing.assert_close(out.softmax(1), expected)


def test_a_trained_gate_trusts_the_frame_where_the_image_changed():
    """With a weight on the image-change evidence, the new frame's weight rises where the embedding
    changed and stays at α where it did not; the weight is always within (0, 1)."""
    gate = OutputGate(init_alpha=0.7, hidden=4)
    with torch.no_grad():
        gate.evidence.weight.zero_()
        gate.evidence.bias.zero_()
        gate.evidence.weight[0, 3, 1, 1] = 1.0  # hidden unit 0 reads the image change (channel 3)
        gate.weight.weight[0, 0] = 5.0
    probs, past = _probs((1, 5, 4, 4), 2), _probs((1, 5, 4, 4), 3)
    embedding = torch.ones(1, 8, 4, 4)
    moved = embedding.clone()
    moved[..., 2:, :] = -1.0  # the bottom half changed
    weight = gate.gate(probs, past, embedding, moved, torch.tensor([-0.04]))
    assert torch.allclose(weight[..., :2, :], torch.tensor(0.7))
    assert (weight[..., 2:, :] > 0.99).all() and (weight < 1).all()


@pytest.mark.parametrize("fusion", [False, True])
def test_memory_one_is_the_per_frame_model_exactly(fusion):
    """No state at memory 1 (the memory-1 rule): the gated model's output equals the same weights
    decoding each frame alone, even with a trained-looking (non-zero) gate."""
    torch.manual_seed(0)
    config = tiny_config(output_gate=True, vertical_prior=True)
    config = dataclasses.replace(config, fusion=dataclasses.replace(config.fusion, enabled=fusion))
    model = build_model(config).eval()
    torch.nn.init.normal_(model.output_gate.weight.weight, std=0.5)
    clip = torch.rand(1, 4, 3, 32, 48) * 255
    times = torch.arange(4.0)[None] * 0.04
    with torch.no_grad():
        frames = model.encode_frames(clip[0])
        state, gated, alone = None, [], []
        for t in range(4):
            current = frames.select(slice(t, t + 1))
            out = model.step(current, [current], times[:, t : t + 1], state, memory_length=1)
            assert out.state is None
            gated.append(out.sem_logits)
            alone.append(model.decode(current, [current], torch.zeros(1, 1)))
        full = model.forward_clip(clip, times, with_aux=False).sem_logits[0]
    for t in range(4):
        torch.testing.assert_close(gated[t], alone[t])
    assert not torch.allclose(full[1:], torch.cat(alone[1:])), "memory 3 must differ"


def test_the_gated_model_filters_with_the_previous_output():
    """At memory > 1 frame t's output is the gate's blend of its decoded probabilities with frame t-1's
    output (checked against the decoder's logits and the gate called directly)."""
    torch.manual_seed(1)
    model = build_model(tiny_config(output_gate=True, memory_length=2)).eval()
    clip = torch.rand(1, 3, 3, 32, 48) * 255
    times = torch.tensor([[0.0, 0.1, 0.2]], dtype=torch.float64)
    with torch.no_grad():
        out = model.forward_clip(clip, times, with_aux=False).sem_logits[0]  # (3, K, h, w)
        frames = [model.encode_frames(clip[0, t : t + 1]) for t in range(3)]
        decoded = model.decode(frames[1], frames[0:2], torch.tensor([[-0.1, 0.0]]))
    expected = 0.7 * decoded.softmax(1) + 0.3 * out[0:1].softmax(1)
    torch.testing.assert_close(out[1:2].softmax(1), expected, atol=1e-5, rtol=1e-4)


def test_vertical_prior_starts_as_identity_and_reads_only_the_height():
    prior = VerticalPrior(dim=8, num_frequencies=3)
    embedding = torch.randn(2, 8, 5, 7)
    torch.testing.assert_close(prior(embedding), embedding)
    torch.nn.init.normal_(prior.proj.weight)
    added = prior(embedding) - embedding  # (2, 8, 5, 7)
    torch.testing.assert_close(added, added[..., :1].expand_as(added))  # same along the width
    assert not torch.allclose(added[:, :, 0], added[:, :, -1])  # differs between top and bottom
    torch.testing.assert_close(added[0], added[1])  # the same for every image
