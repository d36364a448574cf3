"""Any size, any pen: give a digit's strokes MNIST's width, whatever the pen and the drawing's size.

Fitting a crop into MNIST's 20x20 box scales the pen with it: a digit drawn 44 pixels tall with the
pad's thick pen becomes a blob (2, 3 and 5 read as 8), a thin pen on a large photo fades to a
hair (read as 1). So the ink mask is first thickened or thinned, in its own pixels, until its strokes
will be TARGET_WIDTH wide in the box: a disc-shaped dilation or erosion by the Euclidean distance
transform (Felzenszwalb and Huttenlocher 2012, "Distance transforms of sampled functions"; SciPy's
`distance_transform_edt` here, its whole-number squared distances in `web/static/pen.js`).
"""

from __future__ import annotations

import numpy as np

# MNIST's stroke width in the 20x20 box, by stroke_width on the training set's digits binarised at
# half intensity: the median, 1.95 (quartiles 1.65 and 2.29).
TARGET_WIDTH = 2.0
# Strokes from the target / TOLERANCE to the target x THICK_TOLERANCE are left as drawn. Thinning is
# held back more than thickening: an erosion opens the loops of a thick 9 or 6 (measured on MNIST's
# test set: eroding above 1.3x cost 0.1 points, above 2x none; pad digits 40-250 px: 0.955 at 2x,
# 0.93 without thinning).
TOLERANCE = 1.3
THICK_TOLERANCE = 2.0


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
    """HxW bool digit mask -> HxW bool whose strokes are TARGET_WIDTH wide once scaled by `box_scale`
    (box pixels per mask pixel). Dilation grows the strokes by a disc; erosion thins them, never to
    nothing (if it would erase the digit, the mask is returned as it is)."""
    width = stroke_width(mask)
    wanted = TARGET_WIDTH / box_scale
    if width == 0.0 or wanted / TOLERANCE <= width <= wanted * THICK_TOLERANCE:
        return mask
    radius = (wanted - width) / 2
    if radius > 0:
        return squared_distances(mask) <= radius * radius
    padded = np.pad(mask, 1)  # the image's edge counts as paper
    thinned = (squared_distances(~padded) > radius * radius)[1:-1, 1:-1]
    return thinned if thinned.any() else mask
