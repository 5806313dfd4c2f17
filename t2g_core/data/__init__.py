"""Data for training and evaluation: CamVid sequences, stride-randomised clips, pseudo-clips, augmentations,
weather corruptions. numpy/OpenCV only; ``corrupt`` loads ``imagecorruptions`` (and scikit-image) on first use.
"""

from .augment import AugmentConfig, augment_clip
from .camvid import (
    CAMVID_NUM_CLASSES,
    CAMVID_SOURCE_FPS,
    CAMVID_SPLITS,
    CAMVID_VOID_ID,
    DEFAULT_DATA_ROOT,
    CamVidFrame,
    CamVidSequence,
    CamVidSplit,
    camvid_root,
    check_not_test_split,
    check_split_name,
    group_sequences,
    load_image,
    load_labels,
    parse_frame_name,
    read_split_list,
)
from .clips import Clip, ClipSampler, check_stride_range, sample_stride
from .corruptions import WEATHER_CORRUPTIONS, corrupt
from .pseudo_clip import (
    CameraMotion,
    MotionRange,
    PseudoClip,
    render_pseudo_clip,
    sample_motion,
    sample_times,
)

__all__ = [
    "sample_stride",
    "AugmentConfig",
    "CAMVID_NUM_CLASSES",
    "CAMVID_SOURCE_FPS",
    "CAMVID_SPLITS",
    "CAMVID_VOID_ID",
    "CameraMotion",
    "CamVidFrame",
    "CamVidSequence",
    "CamVidSplit",
    "Clip",
    "ClipSampler",
    "DEFAULT_DATA_ROOT",
    "MotionRange",
    "PseudoClip",
    "WEATHER_CORRUPTIONS",
    "augment_clip",
    "camvid_root",
    "check_not_test_split",
    "check_split_name",
    "check_stride_range",
    "corrupt",
    "group_sequences",
    "load_image",
    "load_labels",
    "parse_frame_name",
    "read_split_list",
    "render_pseudo_clip",
    "sample_motion",
    "sample_times",
]
