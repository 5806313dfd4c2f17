"""The raw encodings the codec accepts (its own table), with where R, G and B sit in each.

The channel counts and sizes come from ``t2g_ros.image_codec.RAW_LAYOUTS``, so a new encoding there
is tested here; the colour order is written out independently of the codec's cv2 conversion codes,
so a wrong code fails the tests instead of agreeing with itself.
"""

from __future__ import annotations

from t2g_ros.image_codec import RAW_LAYOUTS

# encoding family -> index of R, G, B among the stored channels
_RGB_ORDER = {
    "rgb": [0, 1, 2],
    "bgr": [2, 1, 0],
    "rgba": [0, 1, 2],
    "bgra": [2, 1, 0],
    "mono": [0, 0, 0],
}

#: encoding -> (channels, bytes per channel, index of R, G, B in the stored channel order)
ENCODINGS = {
    name: (layout.channels, layout.itemsize, _RGB_ORDER[name.rstrip("0123456789")])
    for name, layout in RAW_LAYOUTS.items()
}
