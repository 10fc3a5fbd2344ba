"""What happens to an image between its pixels (or JPEG bytes) and the net.

Every image ends as float32 pixels in [0, 1] of one shape (`Preprocessing.shape`),
optionally normalised by per-channel means and standard deviations. Training
images may be augmented (`--augment`), with random numbers drawn by stateless ops
from a seed given per example, so an epoch's augmentations depend only on the
run's seed, the epoch and the example's place in it (resuming stays exact):

* `none`: training images are prepared as evaluation images.
* `flip_crop`: CIFAR-10's "flips and random crops" (Bartunov et al. 2018, sec.
  3.2; He et al. 2016, sec. 4.2): zero-pad 4 pixels on each side, crop a random
  window of the image's size, flip left-right with probability 1/2.
* `inception`: ImageNet's random-resized crop and flip (Szegedy et al. 2015,
  "Going deeper with convolutions", sec. 6; the TPU ResNet preprocessing of
  tensorflow/models): a random window covering 8% to 100% of the image with an
  aspect ratio in [3/4, 4/3], resized to the output size, flipped with
  probability 1/2. Evaluation images are then centre-cropped: the central square
  of 87.5% of the shorter side (224 of 256), resized to the output size.

Images of different sizes (ImageNet's) are resized to the output size; JPEG
crops are decoded with `decode_and_crop_jpeg`, which decodes only the window.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from urfbtf.errors import UsageError

AUGMENTATIONS = ("none", "flip_crop", "inception")
# Per-channel (mean, std) of pixels in [0, 1]: ImageNet's are torchvision's, the
# usual ones; CIFAR-10's are its training set's.
NORMALIZATIONS = {
    "none": None,
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}
# The centre crop of evaluation under `inception`: 224 of 256 pixels.
CENTRAL_FRACTION = 0.875
# The random-resized crop's range of areas and aspect ratios (width / height).
INCEPTION_AREA = (0.08, 1.0)
INCEPTION_ASPECT = (3 / 4, 4 / 3)
# Zero padding on each side before `flip_crop`'s random crop.
CIFAR_PADDING = 4


def check_augment(name: str) -> None:
    """Raises `UsageError` unless `name` is one of `AUGMENTATIONS`."""
    if name not in AUGMENTATIONS:
        raise UsageError(
            f"Unknown augmentation {name!r}. Valid values: none, flip_crop (CIFAR "
            "pad-and-crop and flips) and inception (ImageNet's random-resized "
            "crops and flips, centre crops for evaluation)."
        )


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How images become the net's inputs.

    Attributes:
        shape: the output (height, width, channels).
        augment: one of `AUGMENTATIONS`.
        normalize: a key of `NORMALIZATIONS`.
        resize: resize every image to `shape` (images of different sizes, or an
            `--image_size` other than theirs); otherwise images have `shape`.
    """

    shape: tuple[int, int, int]
    augment: str = "none"
    normalize: str = "none"
    resize: bool = True

    def __post_init__(self):
        check_augment(self.augment)
        if self.normalize not in NORMALIZATIONS:
            raise UsageError(
                f"Unknown normalization {self.normalize!r}. Valid values: "
                f"{', '.join(NORMALIZATIONS)}."
            )

    def train(self, image: tf.Tensor, seed: tf.Tensor, encoded: bool) -> tf.Tensor:
        """A training image, augmented with randomness from `seed` (shape [2]).

        Args:
            image: uint8 pixels [H, W, C], or a scalar string of JPEG/PNG bytes
                if `encoded`.
            seed: the stateless seed of this example.
            encoded: whether `image` is encoded bytes.
        """
        if self.augment == "none":
            return self.evaluate(image, encoded)
        crop_seed, flip_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 2)
        )
        if self.augment == "inception":
            pixels = self._resized(
                _window_pixels(
                    image,
                    encoded,
                    self.shape[2],
                    lambda s: _random_window(s, crop_seed),
                ),
                always=True,
            )
        else:
            pixels = self._resized(
                _window_pixels(image, encoded, self.shape[2], _full_window)
            )
            pad = CIFAR_PADDING
            pixels = tf.pad(pixels, [[pad, pad], [pad, pad], [0, 0]])
            pixels = tf.image.stateless_random_crop(pixels, self.shape, crop_seed)
        pixels = tf.image.stateless_random_flip_left_right(pixels, flip_seed)
        return self._scaled(pixels)

    def evaluate(self, image: tf.Tensor, encoded: bool) -> tf.Tensor:
        """An evaluation image: centre-cropped under `inception`, resized."""
        if self.augment == "inception":
            window = _central_window
        else:
            window = _full_window
        pixels = _window_pixels(image, encoded, self.shape[2], window)
        return self._scaled(self._resized(pixels, always=self.augment == "inception"))

    def _resized(self, pixels: tf.Tensor, always: bool = False) -> tf.Tensor:
        """float32 pixels in [0, 255] of the output shape."""
        if self.resize or always:
            pixels = tf.image.resize(pixels, self.shape[:2], method="bilinear")
        pixels = tf.cast(pixels, tf.float32)
        pixels.set_shape(self.shape)
        return pixels

    def _scaled(self, pixels: tf.Tensor) -> tf.Tensor:
        pixels = pixels / 255.0
        moments = NORMALIZATIONS[self.normalize]
        if moments is None:
            return pixels
        mean, std = (tf.constant(m[: self.shape[2]], tf.float32) for m in moments)
        return (pixels - mean) / std


def _window_pixels(image, encoded: bool, channels: int, window) -> tf.Tensor:
    """The uint8 pixels inside `window(shape)` ([y, x, height, width]) of an
    image given as pixels or as encoded bytes (decoding only the window of a
    JPEG)."""

    def crop(pixels):
        y, x, height, width = tf.unstack(window(tf.shape(pixels)))
        return tf.slice(pixels, [y, x, 0], [height, width, -1])

    if not encoded:
        return crop(image)

    def jpeg():
        shape = tf.image.extract_jpeg_shape(image)
        return tf.image.decode_and_crop_jpeg(image, window(shape), channels=channels)

    def other():
        return crop(
            tf.io.decode_image(image, channels=channels, expand_animations=False)
        )

    return tf.cond(tf.io.is_jpeg(image), jpeg, other)


def _full_window(shape: tf.Tensor) -> tf.Tensor:
    return tf.stack([0, 0, shape[0], shape[1]])


def _central_window(shape: tf.Tensor) -> tf.Tensor:
    """The central square of `CENTRAL_FRACTION` of the shorter side."""
    height, width = shape[0], shape[1]
    short = tf.cast(tf.minimum(height, width), tf.float32)
    side = tf.maximum(tf.cast(CENTRAL_FRACTION * short, tf.int32), 1)
    return tf.stack([(height - side + 1) // 2, (width - side + 1) // 2, side, side])


def _random_window(shape: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Inception's random window (`INCEPTION_AREA`, `INCEPTION_ASPECT`); the
    whole image if 10 draws find none."""
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.cast(shape, tf.int32),
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=seed,
        min_object_covered=0.1,
        aspect_ratio_range=INCEPTION_ASPECT,
        area_range=INCEPTION_AREA,
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    return tf.stack([begin[0], begin[1], size[0], size[1]])
