"""Any size, any pen: give a digit's strokes MNIST's width, whatever the pen and the drawing's size.

Fitting a crop into MNIST's 20x20 box scales the pen with it: a digit drawn 44 pixels tall with the
pad's thick pen becomes a blob (2, 3 and 5 read as 8 by the 5-epoch CNN), a thin pen on a large photo
fades to a hair (read as 1). So the ink mask is first thickened or thinned, in its own pixels, until its
strokes will be TARGET_WIDTH wide in the box: a disc-shaped dilation or erosion by the Euclidean distance
transform (Felzenszwalb and Huttenlocher 2012, "Distance transforms of sampled functions"; SciPy's
`distance_transform_edt` here, its whole-number squared distances in `web/static/pen.js`).
"""

from __future__ import annotations

import numpy as np

# MNIST's stroke width in the 20x20 box, by stroke_width on the training set's digits binarised at
# half intensity: the median, 1.95 (quartiles 1.65 and 2.29).
TARGET_WIDTH = 2.0
# Strokes thinner than the target / TOLERANCE are grown to it; thicker ones are left as drawn:
# thinning (an erosion) opens the loops of a thick 6 or 9 and cost more than it gave (measured:
# taught handwriting styles, tests/test_personalize.py, 0.955 without it, 0.94 with it beyond 2x).
TOLERANCE = 1.3


def stroke_width(mask: np.ndarray) -> float:
    """HxW bool -> the strokes' mean width in pixels: 2 x area / perimeter, the perimeter counted as
    the pixel edges between ink and paper (a long stroke of width w has area ~ w x length and two
    sides of ~ length). 0.0 for an empty mask."""
    padded = np.pad(mask, 1).astype(np.int8)
    edges = int(np.abs(np.diff(padded, axis=0)).sum() + np.abs(np.diff(padded, axis=1)).sum())
    return 2.0 * int(mask.sum()) / edges if edges else 0.0


def squared_distances(mask: np.ndarray) -> np.ndarray:
    """HxW bool -> HxW int64: each pixel's squared Euclidean distance to the nearest True pixel of
    `mask` (0 on it). `mask` must hold at least one True."""
    from scipy import ndimage

    indices = ndimage.distance_transform_edt(~mask, return_distances=False, return_indices=True)
    rows, cols = np.indices(mask.shape)
    return (indices[0] - rows) ** 2 + (indices[1] - cols) ** 2


def normalise_pen(mask: np.ndarray, box_scale: float) -> np.ndarray:
    """HxW bool digit mask -> HxW bool whose strokes are at least TARGET_WIDTH / TOLERANCE wide once
    scaled by `box_scale` (box pixels per mask pixel): thinner strokes grow by a disc to TARGET_WIDTH."""
    width = stroke_width(mask)
    wanted = TARGET_WIDTH / box_scale
    if width == 0.0 or width >= wanted / TOLERANCE:
        return mask
    radius = (wanted - width) / 2
    return squared_distances(mask) <= radius * radius
