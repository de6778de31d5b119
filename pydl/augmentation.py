"""Data augmentation for image inputs, applied inside the compiled training loop."""
from __future__ import annotations

from pydl._checks import check_param


class Augmentation:
    """Random horizontal flips and small shifts of image inputs, per mini-batch, in C.

    Each example of each mini-batch is flipped left-right with probability 1/2 (if `flip`)
    and shifted by (dy, dx), each uniform in [-max_shift, max_shift], zeros filling what
    comes in. Decisions are drawn from Philox4x32-10 keyed by the network's seed, the epoch,
    the mini-batch and the example's place in it: reproducible, and independent of the
    number of threads. Augmentation acts only in `fit`.

    Parameters
    ----------
    image_shape : (height, width) or (height, width, channels)
        How each row of X (C order) is an image; height * width * channels = n_x.
    flip : bool, default True
    max_shift : int, default 1
    """

    def __init__(self, image_shape, flip=True, max_shift=1):
        shape = tuple(image_shape)
        if len(shape) not in (2, 3):
            raise ValueError(f"image_shape must be (height, width[, channels]), got {shape}")
        shape = tuple(check_param("image_shape", v) for v in shape)
        self.image_shape = shape if len(shape) == 3 else shape + (1,)
        if not isinstance(flip, bool):
            raise TypeError(f"flip must be a bool, got {flip!r}")
        self.flip = flip
        self.max_shift = check_param("max_shift", max_shift,
                                      high=min(self.image_shape[:2]) - 1)

    def _spec(self):
        return (*self.image_shape, self.flip, self.max_shift)

    def __repr__(self):
        return (f"Augmentation(image_shape={self.image_shape}, flip={self.flip}, "
                f"max_shift={self.max_shift})")
