"""T2GModel on tiny configs: shapes, gradients, causality, time offsets, and the module equations."""

from __future__ import annotations

import math

import pytest
import torch

from t2g_core import build_model, load_model_config
from t2g_core.modeling.memory_decoder import MemoryCrossAttention, SemanticHead
from t2g_core.modeling.stability_queries import LevelModulation


def _clip(b: int, t: int, size=(32, 48), seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, t, 3, *size, generator=g) * 255


def _times(b: int, t: int, dt: float = 0.1) -> torch.Tensor:
    return (torch.arange(t, dtype=torch.float64) * dt).repeat(b, 1)


@pytest.fixture
def tiny_model(make_tiny_config):
    torch.manual_seed(0)
    return build_model(make_tiny_config())


def test_forward_clip_shapes_and_values(tiny_model):
    pred = tiny_model.forward_clip(_clip(2, 4), _times(2, 4))
    assert pred.sem_logits.shape == (2, 4, 5, 4, 6)
    assert pred.sem_logits.dtype == torch.float32
    assert len(pred.aux_sem_logits) == 2  # initial queries + layer 1 of 2
    for logits in (pred.sem_logits, *pred.aux_sem_logits):
        assert logits.shape == (2, 4, 5, 4, 6)
        assert torch.isfinite(logits).all()
    probs = pred.sem_logits.softmax(dim=2)
    assert torch.allclose(probs.sum(dim=2), torch.ones(2, 4, 4, 6))
    assert tiny_model.forward_clip(_clip(1, 2), _times(1, 2), with_aux=False).aux_sem_logits == ()


def test_odd_input_size_gives_ceil_stride8_logits(tiny_model):
    pred = tiny_model.forward_clip(_clip(1, 2, size=(33, 50)), _times(1, 2))
    assert pred.sem_logits.shape == (1, 2, 5, 5, 7)


def test_gradients_reach_trainable_modules_never_backbone(tiny_model):
    tiny_model.train()
    pred = tiny_model.forward_clip(_clip(2, 3), _times(2, 3))
    loss = pred.sem_logits.logsumexp(dim=2).mean() - pred.sem_logits[:, :, 0].mean()
    loss = loss + sum(a[:, :, 1].mean() for a in pred.aux_sem_logits)
    loss.backward()
    assert all(p.grad is None for p in tiny_model.backbone.parameters())
    assert not any(m.training for m in tiny_model.backbone.modules())
    named = dict(tiny_model.trainable.named_parameters())
    missing = [name for name, p in named.items() if p.grad is None]
    assert missing == []
    assert named["stability_queries.queries"].grad.abs().sum() > 0
    for prefix in (
        "stability_queries.levels.",
        "pixel_decoder.",
        "memory_decoder.layers.",
        "memory_decoder.time_",
    ):
        assert any(p.grad.abs().sum() > 0 for n, p in named.items() if n.startswith(prefix)), prefix


def test_no_autograd_graph_through_backbone(tiny_model):
    images = (torch.rand(2, 3, 32, 48) * 255).requires_grad_(True)
    features = tiny_model.encode_frames(images)
    assert features.pixel_embedding.requires_grad  # trainable modules are on the graph...
    (features.pixel_embedding.sum() + sum(k.sum() for k in features.memory_keys)).backward()
    assert images.grad is None  # ...but nothing flows back through the backbone to its input


def test_real_lite0_model_small_input_trains_heads_only():
    torch.manual_seed(0)
    model = build_model(load_model_config("config/model_t2g.yaml"))
    pred = model.forward_clip(_clip(1, 2, size=(64, 96)), _times(1, 2))
    assert pred.sem_logits.shape == (1, 2, 11, 16, 24)  # stride 4 (detail path)
    assert torch.isfinite(pred.sem_logits).all()
    pred.sem_logits.mean().backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert model.trainable["stability_queries"].queries.grad.abs().sum() > 0


def test_clip_decoding_is_causal(tiny_model):
    clip = _clip(1, 5)
    base = tiny_model.forward_clip(clip, _times(1, 5), with_aux=False).sem_logits
    changed = clip.clone()
    changed[:, 3] = 255 - changed[:, 3]
    other = tiny_model.forward_clip(changed, _times(1, 5), with_aux=False).sem_logits
    assert torch.allclose(base[:, :3], other[:, :3], atol=1e-6)
    assert not torch.allclose(base[:, 3:], other[:, 3:], atol=1e-4)


def test_memory_window_is_T_frames(tiny_model):
    clip = _clip(1, 5)
    base = tiny_model.forward_clip(clip, _times(1, 5), with_aux=False).sem_logits
    changed = clip.clone()
    changed[:, 1] = 255 - changed[:, 1]
    other = tiny_model.forward_clip(changed, _times(1, 5), with_aux=False).sem_logits
    assert not torch.allclose(
        base[:, 3], other[:, 3], atol=1e-4
    )  # frame 1 is in frame 3's memory (1..3)
    assert torch.allclose(base[:, 4], other[:, 4], atol=1e-6)  # but not in frame 4's (2..4)


def test_per_frame_mode_uses_only_current_frame(make_tiny_config):
    torch.manual_seed(0)
    model = build_model(make_tiny_config(temporal=False))
    assert model.memory_capacity == 1
    clip = _clip(1, 3)
    base = model.forward_clip(clip, _times(1, 3)).sem_logits
    changed = clip.clone()
    changed[:, 0] = 0
    other = model.forward_clip(changed, _times(1, 3)).sem_logits
    assert not torch.allclose(base[:, 0], other[:, 0], atol=1e-4)
    assert torch.allclose(base[:, 1:], other[:, 1:], atol=1e-6)


def test_time_offsets_in_seconds_matter_and_only_differences_count(tiny_model):
    clip = _clip(1, 3)
    base = tiny_model.forward_clip(clip, _times(1, 3, dt=0.1), with_aux=False).sem_logits
    slower = tiny_model.forward_clip(clip, _times(1, 3, dt=1.0), with_aux=False).sem_logits
    shifted = tiny_model.forward_clip(clip, _times(1, 3, dt=0.1) + 1.7e9, with_aux=False).sem_logits
    assert not torch.allclose(base[:, 2], slower[:, 2], atol=1e-5)
    assert torch.allclose(base, shifted, atol=1e-6)


def test_decode_and_forward_clip_validate_arguments(tiny_model):
    feats = tiny_model.encode_frames(torch.rand(2, 3, 32, 48) * 255)
    with pytest.raises(ValueError, match="offsets_s must have shape"):
        tiny_model.decode(feats, [feats, feats], torch.zeros(2, 1))
    with pytest.raises(ValueError, match="at least one frame"):
        tiny_model.decode(feats, [], torch.zeros(2, 0))
    with pytest.raises(ValueError, match="clip must be"):
        tiny_model.forward_clip(torch.rand(2, 3, 32, 48), _times(2, 3))
    with pytest.raises(ValueError, match="times_s must have shape"):
        tiny_model.forward_clip(_clip(2, 3), _times(2, 2))
    times = _times(1, 2)
    times[0, 1] = math.nan
    with pytest.raises(ValueError, match="finite"):
        tiny_model.forward_clip(_clip(1, 2), times)


def test_level_modulation_matches_written_equations():
    torch.manual_seed(0)
    d, q = 16, 4
    module = LevelModulation(in_channels=6, dim=d)
    with torch.no_grad():
        module.ro.bias.normal_()
    features = torch.randn(2, 6, 3, 5)
    s = torch.randn(q, d)
    got = module(features, s)

    x = module.proj(features).flatten(2).transpose(1, 2)  # (N, P, d)
    xn = module.norm(x)
    wq, wk, wv = module.wq.weight.T, module.wk.weight.T, module.wv.weight.T
    rq, rk, rv, ro = module.rq.weight.T, module.rk.weight.T, module.rv.weight.T, module.ro.weight.T
    a = torch.softmax((s @ wq) @ (xn @ wk).transpose(1, 2) / math.sqrt(d), dim=-1)  # (N, Q, P)
    u = a @ xn @ wv  # (N, Q, d)
    b = torch.softmax((xn @ rq) @ (u @ rk).transpose(1, 2) / math.sqrt(d), dim=-1)  # (N, P, Q)
    y = x + b @ u @ rv @ ro + module.ro.bias
    assert torch.allclose(got, y.transpose(1, 2).reshape(2, d, 3, 5), atol=1e-5)


def test_semantic_head_matches_mask2former_combination():
    torch.manual_seed(0)
    head = SemanticHead(dim=8, num_classes=3)
    queries = torch.randn(1, 4, 8)
    pixels = torch.randn(1, 8, 2, 3)
    got = head(queries, pixels)
    qn = head.norm(queries[0])
    cls = head.classes(qn).softmax(-1)  # (Q, K+1)
    emb = head.mask_mlp(qn)  # (Q, d)
    expected = torch.zeros(3, 2, 3)
    for k in range(3):
        for y in range(2):
            for x in range(3):
                expected[k, y, x] = sum(
                    cls[i, k] * torch.sigmoid(emb[i] @ pixels[0, :, y, x]) for i in range(4)
                )
    assert torch.allclose(got[0], torch.log(expected + 1e-6), atol=1e-5)


def test_lite0_t2g_config_trainable_parameter_budget():
    model = build_model(load_model_config("config/model_t2g.yaml"))
    trainable = sum(p.numel() for p in model.trainable.parameters())
    assert all(p.requires_grad for p in model.trainable.parameters())
    assert 0.5e6 < trainable < 2e6, (
        trainable
    )  # light head: well under the 3.4M frozen Lite0 parameters


def test_feature_bank_path_matches_encode_frames(tiny_model):
    images = torch.rand(3, 3, 32, 48) * 255
    with torch.no_grad():
        direct = tiny_model.encode_frames(images)
        banked = tiny_model.encode_backbone_features(tiny_model.backbone(images))
        half = tiny_model.encode_backbone_features(
            {s: f.half() for s, f in tiny_model.backbone(images).items()}
        )
    assert torch.equal(direct.pixel_embedding, banked.pixel_embedding)
    assert all(torch.equal(a, b) for a, b in zip(direct.memory_keys, banked.memory_keys))
    assert half.pixel_embedding.dtype == torch.float32
    assert torch.allclose(direct.pixel_embedding, half.pixel_embedding, atol=0.05)


def test_concat_and_select_are_inverse(tiny_model):
    with torch.no_grad():
        feats = tiny_model.encode_frames(torch.rand(4, 3, 32, 48) * 255)
    joined = type(feats).concat([feats.select(slice(0, 1)), feats.select(slice(1, 4))])
    assert joined.num_frames == 4
    assert torch.equal(joined.pixel_embedding, feats.pixel_embedding)
    assert all(torch.equal(a, b) for a, b in zip(joined.memory_values, feats.memory_values))
    picked = feats.select(torch.tensor([3, 0]))
    assert torch.equal(picked.memory_keys[1][0], feats.memory_keys[1][3])


def test_decode_with_aux_ends_with_decode(tiny_model):
    with torch.no_grad():
        feats = tiny_model.encode_frames(torch.rand(2, 3, 32, 48) * 255)
        memory = [feats.select(torch.tensor([1, 0])), feats]
        offsets = torch.tensor([[-0.1, 0.0], [-0.3, 0.0]])
        outputs = tiny_model.decode_with_aux(feats, memory, offsets)
        final = tiny_model.decode(feats, memory, offsets)
    assert len(outputs) == 3  # initial queries, layer 1, layer 2 (output)
    assert torch.equal(outputs[-1], final)


@pytest.mark.parametrize("magnitude", [1.0, 40.0])
def test_cached_memory_projection_matches_written_keys_and_values(magnitude):
    """K = (M + P + τ) Wk + bk and V = (M + τ) Wv + bv, with the per-frame part cached by ``project``,
    attended frame by frame as one softmax over the concatenated memory, even where the scores are
    hundreds (``magnitude``) and exp() of them would overflow."""
    torch.manual_seed(0)
    attn = MemoryCrossAttention(dim=8, num_heads=2)
    tokens = [magnitude * torch.randn(1, 5, 8) for _ in range(3)]  # three memory frames
    pos = [torch.randn(5, 8) for _ in range(3)]
    tau = magnitude * torch.randn(1, 3, 8)
    queries = magnitude * torch.randn(1, 4, 8)
    split = [attn.split_heads(*attn.project(m, p)) for m, p in zip(tokens, pos)]
    stacked_keys = torch.stack([k for k, _ in split], dim=1)  # (1, 3, 2, 4, 5)
    stacked_values = torch.stack([v for _, v in split], dim=1)  # (1, 3, 2, 5, 4)
    got = attn(queries, stacked_keys, stacked_values, tau)

    keys = torch.cat(
        [attn.k(m + p + tau[:, i]) for i, (m, p) in enumerate(zip(tokens, pos))], dim=1
    )
    values = torch.cat([attn.v(m + tau[:, i]) for i, m in enumerate(tokens)], dim=1)
    q = attn.q(queries)
    heads = []
    for h in (slice(0, 4), slice(4, 8)):  # 2 heads of width 4, scaled by 1/sqrt(4)
        weights = torch.softmax(
            q[..., h] @ keys[..., h].transpose(1, 2) / 2.0, dim=-1
        )  # (1, Q, 15 tokens)
        heads.append(weights @ values[..., h])
    assert torch.isfinite(got).all()
    expected = attn.out(torch.cat(heads, dim=-1))
    assert torch.allclose(got, expected, atol=1e-5 * magnitude**2, rtol=1e-5)
