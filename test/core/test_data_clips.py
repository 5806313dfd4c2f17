"""Random-stride clip sampling: order, gaps in real seconds, fit, uniformity, pairs sharing a frame."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from t2g_core.data.clips import ClipSampler, sample_stride


def test_sample_stride_draws_every_integer_of_the_range_uniformly():
    rng = np.random.default_rng(0)
    draws = Counter(sample_stride(rng, s_min=2, s_max=4) for _ in range(3000))
    assert set(draws) == {2, 3, 4}
    for stride in (2, 3, 4):
        assert abs(draws[stride] / 3000 - 1 / 3) < 0.04


@pytest.mark.parametrize(("s_min", "s_max"), [(0, 2), (3, 2), (1.0, 2)])
def test_bad_stride_range_is_rejected(s_min, s_max):
    with pytest.raises(ValueError, match="s_min"):
        sample_stride(np.random.default_rng(0), s_min=s_min, s_max=s_max)


def test_clips_are_ordered_with_the_drawn_stride_and_real_times():
    # A 1 Hz run (frame numbers 30 apart, one 31) and a 15 Hz run, in seconds.
    one_hz = np.array([0, 30, 60, 91, 121, 151, 181, 211, 241, 271, 301, 331]) / 30.0
    fifteen_hz = 100.0 + np.arange(5) * 2 / 30.0
    sampler = ClipSampler([fifteen_hz, one_hz], clip_len=3, s_min=1, s_max=5)
    # Stride s fits a run of L frames when 2 s <= L - 1: the 15 Hz run up to 2, the 1 Hz run up to 5.
    np.testing.assert_array_equal(sampler.num_clips(2), [1, 8])
    np.testing.assert_array_equal(sampler.num_clips(3), [0, 6])
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(400):
        clip = sampler.sample_pair(rng)[0]
        times = (fifteen_hz, one_hz)[clip.sequence]
        assert len(clip.indices) == 3
        np.testing.assert_array_equal(np.diff(clip.indices), clip.stride)
        np.testing.assert_array_equal(clip.times_s, times[clip.indices])
        assert clip.indices[0] >= 0 and clip.indices[-1] < len(times)
        seen.add((clip.sequence, clip.stride))
    assert seen == {(0, 1), (0, 2), (1, 1), (1, 2), (1, 3), (1, 4), (1, 5)}
    # The true gap reaches the clip: stride 2 on the 15 Hz run is 4/30 s.
    clip = sampler.clip(0, end=4, stride=2)
    np.testing.assert_allclose(np.diff(clip.times_s), 4 / 30)


def test_clips_are_uniform_over_all_clips_of_a_stride():
    # clip_len 3, stride 1: 1 clip in the 3-frame run, 3 in the 5-frame run.
    sampler = ClipSampler([np.arange(3.0), np.arange(5.0)], clip_len=3, s_min=1, s_max=1)
    rng = np.random.default_rng(2)
    ends = Counter(
        (c.sequence, int(c.indices[-1])) for c in (sampler.sample_pair(rng)[0] for _ in range(4000))
    )
    assert set(ends) == {(0, 2), (1, 2), (1, 3), (1, 4)}
    for key in ends:
        assert abs(ends[key] / 4000 - 0.25) < 0.03


def test_pairs_share_their_last_frame_with_different_strides():
    sampler = ClipSampler([np.arange(20.0)], clip_len=4, s_min=1, s_max=3)
    rng = np.random.default_rng(3)
    strides = set()
    for _ in range(200):
        a, b = sampler.sample_pair(rng)
        assert a.sequence == b.sequence
        assert a.indices[-1] == b.indices[-1]
        assert a.stride != b.stride
        assert min(a.indices[0], b.indices[0]) >= 0
        strides.add((a.stride, b.stride))
    assert len(strides) == 6  # every ordered pair of distinct strides in 1..3


def test_pair_with_a_single_fitting_stride_is_identical():
    # Only stride 1 fits 4 frames into a 5-frame run (stride 2 needs 7).
    sampler = ClipSampler([np.arange(5.0)], clip_len=4, s_min=1, s_max=3)
    a, b = sampler.sample_pair(np.random.default_rng(4))
    assert a.stride == b.stride == 1
    np.testing.assert_array_equal(a.indices, b.indices)


def test_sampler_rejects_what_cannot_fit():
    with pytest.raises(ValueError, match="no sequence"):
        ClipSampler([np.arange(4.0)], clip_len=4, s_min=2, s_max=3)
    with pytest.raises(ValueError, match="strictly increasing"):
        ClipSampler([np.array([0.0, 1.0, 1.0])], clip_len=2, s_min=1, s_max=1)
    sampler = ClipSampler([np.arange(6.0)], clip_len=3, s_min=1, s_max=2)
    with pytest.raises(ValueError, match="does not fit"):
        sampler.clip(0, end=3, stride=2)


def test_sampling_is_reproducible_from_the_seed():
    sampler = ClipSampler([np.arange(30.0), np.arange(12.0)], clip_len=4, s_min=1, s_max=3)
    draws = [
        [tuple(clip.indices) for _ in range(20) for clip in sampler.sample_pair(rng)]
        for rng in (np.random.default_rng(7), np.random.default_rng(7))
    ]
    assert draws[0] == draws[1]
