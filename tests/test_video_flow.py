"""stylejax.video.flow: DIS flow against known motion, Ruder et al.'s consistency check on
hand-made flows and on clips with disocclusions, and the flow cache."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from stylejax.video import flow as video_flow
from stylejax.video.extra import VideoExtraMissingError
from tests.video_clips import panned, texture

cv2 = pytest.importorskip("cv2")

INTERIOR = 8  # pixels from the border left out where DIS has less support


@pytest.mark.parametrize("shift", [(3, 0), (-2, 1), (1.5, -0.75), (0.3, 0.6)])
def test_dis_flow_finds_a_pan(shift):
    """Frame b is frame a moved by `shift`: the flow from a to b is `shift` everywhere; the flow
    back is its opposite."""
    a, b = panned(48, 64, [(0, 0), shift])
    forward = video_flow.dis_flow(video_flow.grey(a), video_flow.grey(b))
    backward = video_flow.dis_flow(video_flow.grey(b), video_flow.grey(a))
    assert forward.shape == (48, 64, 2) and forward.dtype == np.float32
    inner = np.s_[INTERIOR:-INTERIOR, INTERIOR:-INTERIOR]
    forward_error = np.hypot(*(forward[inner] - np.array(shift)).transpose(2, 0, 1)).mean()
    backward_error = np.hypot(*(backward[inner] + np.array(shift)).transpose(2, 0, 1)).mean()
    assert forward_error < 0.2 and backward_error < 0.2


def test_grey_is_opencv_luma():
    rgb = texture(8, 8).astype(np.float32)
    expected = np.clip(rgb @ np.array([0.299, 0.587, 0.114]) * 255, 0, 255)
    np.testing.assert_allclose(video_flow.grey(rgb), expected, atol=1.01)


def _constant(height: int, width: int, dx: float, dy: float) -> np.ndarray:
    flow = np.zeros((height, width, 2), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    return flow


def test_occlusion_threshold():
    """|w̃ + ŵ|² against 0.01 (|w̃|² + |ŵ|²) + 0.5, on constant flows (no motion boundary)."""
    inner = np.s_[2:-2, 2:-2]

    def trusted(dx: float, back_dx: float) -> np.ndarray:
        return video_flow.reliability(_constant(12, 16, dx, 0), _constant(12, 16, back_dx, 0))[
            inner
        ]

    # ŵ = 0, w̃ = e: trusted while e² <= 0.01 e² + 0.5, i.e. e <= 0.7107.
    assert trusted(0, 0.70).min() == 1 and trusted(0, 0.72).max() == 0
    # ŵ = 1, w̃ = -1 + e: e² against 0.01 (1 + (1 - e)²) + 0.5 (0.490 < 0.511; 0.518 > 0.511).
    assert trusted(1, -0.30).min() == 1 and trusted(1, -0.28).max() == 0
    # Larger motion tolerates more: ŵ = 10, w̃ = -10 + 1.1: 1.21 < 0.01 (100 + 79.2) + 0.5.
    assert (
        trusted(1, -10 + 1.1).max() == 0
        and video_flow.reliability(_constant(12, 40, 10, 0), _constant(12, 40, -10 + 1.1, 0))[
            2:-2, 2:20
        ].min()
        == 1
    )


def test_motion_boundary_threshold():
    """|∇u|² + |∇v|² against 0.01 |ŵ|² + 0.002 with central differences: a flow ramp u = k x
    has |∇u|² = k²; consistent flows both ways, so only the boundary test can refuse."""
    height, width = 12, 40
    xs = np.arange(width, dtype=np.float32)[None, :].repeat(height, 0)
    for slope, trusted in [(0.04, True), (0.05, False)]:  # 0.0016 < 0.002 < 0.0025
        flow = np.zeros((height, width, 2), np.float32)
        flow[..., 0] = slope * (xs - width / 2)  # |ŵ|² <= (0.05 * 20)² = 1: adds <= 0.01
        back = np.zeros_like(flow)
        back[..., 0] = -flow[..., 0]  # close enough to consistent for this small motion
        c = video_flow.reliability(flow, back)
        middle = c[2:-2, width // 2 - 3 : width // 2 + 3]
        assert middle.min() == middle.max() == trusted


def test_flow_leaving_the_frame_is_not_trusted():
    flow = _constant(10, 12, -2.0, 0.0)  # points 2 px to the left
    c = video_flow.reliability(flow, _constant(10, 12, 2.0, 0.0))
    np.testing.assert_array_equal(c[:, :2], 0)
    np.testing.assert_array_equal(c[:, 2:], 1)


def test_pan_disoccludes_the_border():
    """The texture moves 3 px right: in the later frame the first 3 columns come from outside
    and are untrusted for warping the earlier frame onto it; the interior is trusted."""
    a, b = panned(48, 64, [(0, 0), (3, 0)])
    ga, gb = video_flow.grey(a), video_flow.grey(b)
    backward = video_flow.dis_flow(gb, ga)
    forward = video_flow.dis_flow(ga, gb)
    c = video_flow.reliability(backward, forward)
    assert c.dtype == np.float32 and set(np.unique(c)) <= {0.0, 1.0}
    np.testing.assert_array_equal(c[:, :3], 0)
    assert c[INTERIOR:-INTERIOR, INTERIOR:-INTERIOR].mean() > 0.95
    # Forward, the last 3 columns of the earlier frame leave the picture.
    c_forward = video_flow.reliability(forward, backward)
    np.testing.assert_array_equal(c_forward[:, -3:], 0)


def test_moving_square_disoccludes_what_it_uncovers():
    """A square moves 4 px right over a still background: the strip it uncovers is untrusted,
    the far background and the square's middle are trusted."""
    background = texture(48, 64, seed=1)
    square = texture(20, 20, seed=2) * 0.5 + 0.5

    def frame(left: int) -> np.ndarray:
        picture = background.copy()
        picture[14:34, left : left + 20] = square
        return picture.astype(np.float32)

    a, b = frame(16), frame(20)
    ga, gb = video_flow.grey(a), video_flow.grey(b)
    c = video_flow.reliability(video_flow.dis_flow(gb, ga), video_flow.dis_flow(ga, gb))
    assert c[16:32, 16:20].max() == 0  # uncovered in b
    assert c[:, 52:].mean() > 0.95  # background far from the square
    assert c[20:28, 26:34].mean() > 0.9  # the square's middle


def test_clip_flow_layout():
    """to_past[k, i] goes from frame i to i - j, to_future[k, i] to i + j; missing neighbours
    have zero flow and c; the offsets come sorted."""
    shifts = [(k, 0) for k in range(6)]  # 1 px right per frame
    frames = panned(40, 48, shifts)
    flows = video_flow.clip_flow(frames, offsets=(2, 1))
    assert flows.offsets == (1, 2)
    assert flows.to_past.shape == (2, 6, 40, 48, 2) and flows.reliable_past.shape == (2, 6, 40, 48)
    inner = np.s_[INTERIOR:-INTERIOR, INTERIOR:-INTERIOR]
    for k, j in enumerate(flows.offsets):
        assert not flows.to_past[k, :j].any() and not flows.reliable_past[k, :j].any()
        assert not flows.to_future[k, 6 - j :].any() and not flows.reliable_future[k, 6 - j :].any()
        for i in range(j, 6):
            np.testing.assert_allclose(
                flows.to_past[k, i][inner].mean(axis=(0, 1)), (-j, 0), atol=0.1
            )
            np.testing.assert_allclose(
                flows.to_future[k, i - j][inner].mean(axis=(0, 1)), (j, 0), atol=0.1
            )
            np.testing.assert_array_equal(flows.reliable_past[k, i][:, :j], 0)


def test_flow_cache_is_reused_only_for_the_same_frames(tmp_path, monkeypatch):
    frames = panned(32, 40, [(k, 0) for k in range(4)])
    cache = video_flow.cache_path(tmp_path / "out.mp4")
    assert cache == tmp_path / "out.mp4.flow.npz"
    first = video_flow.cached_clip_flow(frames, cache, offsets=(1, 2))
    assert cache.is_file() and [p.name for p in tmp_path.iterdir()] == [cache.name]

    computed = []
    real = video_flow.clip_flow
    monkeypatch.setattr(
        video_flow, "clip_flow", lambda *a, **k: computed.append(1) or real(*a, **k)
    )
    again = video_flow.cached_clip_flow(frames, cache, offsets=(1, 2))
    assert computed == []  # read from the cache
    np.testing.assert_array_equal(again.to_past, first.to_past)
    np.testing.assert_array_equal(again.reliable_future, first.reliable_future)
    assert again.offsets == (1, 2)

    video_flow.cached_clip_flow(frames, cache, offsets=(1,))  # other offsets
    changed = frames.copy()
    changed[0, 0, 0, 0] += 0.01
    video_flow.cached_clip_flow(changed, cache, offsets=(1,))  # other frames
    assert computed == [1, 1]
    cache.write_bytes(b"truncated")
    video_flow.cached_clip_flow(changed, cache, offsets=(1,))  # unreadable: computed again
    assert computed == [1, 1, 1]
    video_flow.cached_clip_flow(changed, cache, offsets=(1,))
    assert computed == [1, 1, 1]


def test_missing_extra_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # makes `import cv2` fail
    with pytest.raises(VideoExtraMissingError, match=r'pip install "stylejax\[video\]"'):
        video_flow.clip_flow(np.zeros((2, 8, 8, 3), np.float32))


def test_bad_offsets_and_shapes():
    frames = np.zeros((3, 8, 8, 3), np.float32)
    for offsets in [(), (0,), (1, 1)]:
        with pytest.raises(ValueError, match="offsets"):
            video_flow.clip_flow(frames, offsets)
    with pytest.raises(ValueError, match="frames"):
        video_flow.clip_flow(frames[0])
    with pytest.raises(ValueError, match="flows"):
        video_flow.reliability(np.zeros((4, 4, 2)), np.zeros((4, 5, 2)))
