"""The input clock offset estimate: skew learned from the frames, stalls and late frames not
absorbed, a timeline that goes back (bag loop, clock step) followed after a few frames."""

from __future__ import annotations

from t2g_ros.clock_offset import ClockOffset


def feed(
    estimate: ClockOffset, stamps: list[float], *, skew: float, delays: list[float] | None = None
) -> None:
    for i, stamp in enumerate(stamps):
        delay = delays[i] if delays else 0.01
        estimate.observe(stamp_s=stamp, received_s=stamp + skew + delay)


def test_a_constant_skew_is_learned_from_the_fastest_frame():
    estimate = ClockOffset()
    assert estimate.offset_s is None
    feed(estimate, [10.0, 10.1, 10.2, 10.3], skew=2.0, delays=[0.05, 0.01, 0.3, 0.02])
    assert abs(estimate.offset_s - 2.01) < 1e-9


def test_a_late_frame_does_not_move_the_estimate_but_a_timeline_going_back_does():
    estimate = ClockOffset(restart_after=3)
    feed(estimate, [10.0, 10.1, 10.2], skew=-3.0)
    estimate.observe(
        stamp_s=9.0, received_s=10.25 - 3.0
    )  # one frame 1.2 s late: stale, not a new clock
    assert abs(estimate.offset_s - (-2.99)) < 1e-9
    # A bag loop without use_sim_time: stamps restart at 0 while the node's clock runs on.
    for i, stamp in enumerate([0.0, 0.1, 0.2]):
        estimate.observe(stamp_s=stamp, received_s=10.3 - 3.0 + 0.1 * i)
    assert abs(estimate.offset_s - 7.3) < 1e-6


def test_the_window_follows_a_drifting_clock():
    estimate = ClockOffset(window_s=4.0)
    feed(estimate, [float(i) for i in range(10)], skew=0.0)
    estimate.observe(stamp_s=10.0, received_s=10.5)  # the camera clock fell behind by 0.49 s
    feed(estimate, [11.0, 12.0, 13.0], skew=0.49, delays=[0.01, 0.01, 0.01])
    assert abs(estimate.offset_s - 0.5) < 1e-9


def test_the_window_is_in_seconds_whatever_the_frame_rate():
    """At 1 Hz an old minimum is forgotten after window_s seconds, not after 64 frames."""
    estimate = ClockOffset(window_s=5.0)
    feed(estimate, [0.0, 1.0, 2.0], skew=1.0)
    feed(estimate, [3.0 + i for i in range(7)], skew=1.3)  # 0.3 s further behind, below any limit
    assert abs(estimate.offset_s - 1.31) < 1e-9


def test_a_camera_clock_stepped_back_during_a_pause_restarts_the_estimate_at_once():
    """The camera pauses 3 s and comes back with its clock 2 s further behind: its next stamp is
    still the newest, but its offset jumps by more than the staleness limit."""
    estimate = ClockOffset()
    feed(estimate, [100.0 + 0.1 * i for i in range(30)], skew=0.5)
    estimate.observe(stamp_s=102.9 + 1.0, received_s=102.9 + 0.5 + 3.0, max_jump_s=0.5)
    assert abs(estimate.offset_s - 2.5) < 1e-9
    # A jump within the limit (jitter, a short stall) keeps the minimum.
    estimate.observe(stamp_s=104.0, received_s=104.0 + 2.9, max_jump_s=0.5)
    assert abs(estimate.offset_s - 2.5) < 1e-9


def test_a_late_frame_stamped_before_the_newest_is_not_a_clock_step():
    estimate = ClockOffset()
    feed(estimate, [10.0, 10.1, 10.2], skew=0.0)
    estimate.observe(stamp_s=9.0, received_s=10.25, max_jump_s=0.5)  # 1.25 s late: stale
    assert abs(estimate.offset_s - 0.01) < 1e-9


def test_without_a_limit_a_jump_waits_for_the_window():
    estimate = ClockOffset(window_s=5.0)
    feed(estimate, [0.0, 1.0], skew=0.0)
    estimate.observe(stamp_s=2.0, received_s=5.0)
    assert abs(estimate.offset_s - 0.01) < 1e-9
