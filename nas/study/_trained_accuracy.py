"""The ``trained`` accuracy source: train the candidate's own network briefly on real images,
compress it exactly as the search does, and score the compressed network on held-out images.

``[accuracy]`` in a study file::

    [accuracy]
    source = "trained"

    [accuracy.trained]        # every key optional; the defaults shown
    data = "mnist"            # real labelled images: mnist (shipped), digits, npz:PATH, folder:PATH
    test_fraction = 0.2       # per class, the last 20 % of the images (in file order) are held out
    resolution_px = 16        # images resized to this square size, channels replicated to the network's
    width = 8                 # NB201's C of the trained network (the benchmark's is 16)
    cells_per_stage = 1       # NB201's N (the benchmark's is 5)
    epochs = 2                # dense training
    batch_size = 64
    learning_rate = 0.05      # SGD, Nesterov momentum 0.9, weight decay 5e-4, cosine to 0 (NB201's recipe, shortened)
    fine_tune_epochs = 0      # masked, quantization-aware fine-tune of the compressed network
    fine_tune_learning_rate = 0.01

The regime is *prune (and quantize) after training*: the dense network is trained, then
the trial's compression is applied with :func:`~nas.study.compress_module` (the same masks,
fake quantization and shared weights the proxies see), optionally followed by
``fine_tune_epochs`` of fine-tuning that keeps pruned weights at zero (every pruned weight,
bias and batch-norm entry is re-zeroed after each step) and trains through the weight and
activation quantizers with a straight-through estimator (quantization-aware training,
Jacob et al. 2018); weight sharing is applied once after the fine-tune. The accuracy is the
compressed network's top-1 accuracy on the held-out split, in percent.

The network trained is the space's own module shrunk (``build_reduced``: NB201's ``C`` and
``N``; spaces without one are refused when the study loads); the cost side of the trial keeps
the full-size network and its masks. So ``trained_accuracy_pct`` ranks candidates by how a
small version of them learns and compresses on MNIST: a measured, not a CIFAR-10, accuracy.

With the defaults the dense training is 126 SGD steps of about 57 ms of CPU each (measured on one
idle core: about 7 s; 46 s of wall time on a worker of a 2-core machine loaded 4x over,
``train_time_s``); a fine-tune epoch costs about half the dense training again.
Everything runs on one torch thread with deterministic algorithms, the weights and the data
order drawn from the trial's seed, so a trial gives the same accuracy on any worker.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from nas._errors import InputError

TRAINED = "trained"
ACCURACY_METRIC = "trained_accuracy_pct"
DENSE_METRIC = "trained_dense_accuracy_pct"
TRAIN_TIME_METRIC = "train_time_s"
REGIME_ATTR = "accuracy_regime"
"""Key of the regime (:meth:`TrainedSettings.regime`) in a trial's metrics user attr."""
OPTIMISER = "SGD, Nesterov momentum 0.9, weight decay 5e-4, cosine learning rate to 0, gradient norm clipped at 5"
"""The optimiser of training and fine-tune (NB201's recipe; Dong & Yang, ICLR 2020)."""


class TrainedSettings(BaseModel):
    """``[accuracy.trained]``: what the ``trained`` source trains, on which images, for how long.

    Example:
        >>> settings = TrainedSettings(fine_tune_epochs=1)
        >>> settings.regime(compressed=True)
        'prune-after-training, fine-tune 1 epoch'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str = "mnist"
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    resolution_px: int = Field(default=16, ge=8, le=64)
    width: int = Field(default=8, ge=1, le=64)
    cells_per_stage: int = Field(default=1, ge=1, le=5)
    epochs: int = Field(default=2, ge=1, le=50)
    batch_size: int = Field(default=64, gt=0)
    learning_rate: float = Field(default=0.05, gt=0, le=10)
    fine_tune_epochs: int = Field(default=0, ge=0, le=50)
    fine_tune_learning_rate: float = Field(default=0.01, gt=0, le=10)

    @field_validator("data")
    @classmethod
    def _real_images(cls, data: str) -> str:
        from nas.proxies import get_batch_source

        try:
            source = get_batch_source(data)
        except ValueError as error:
            raise InputError(f"trained.data: {error}") from None
        if not hasattr(source, "pool"):
            raise InputError(f"trained.data: {data!r} has no labelled images to learn from; use mnist, digits, "
                             "npz:PATH or folder:PATH")
        return data

    def regime(self, *, compressed: bool = True) -> str:
        """The accuracy measured: ``"dense, trained"`` or ``"prune-after-training, ..."`` (fine-tune or not)."""
        if not compressed:
            return "dense, trained"
        if not self.fine_tune_epochs:
            return "prune-after-training, no fine-tune"
        return f"prune-after-training, fine-tune {self.fine_tune_epochs} epoch{'s' * (self.fine_tune_epochs > 1)}"

    def describe(self) -> dict[str, Any]:
        """The settings and what they mean, JSON-ready, for results attrs."""
        split = load_split(self.data, self.resolution_px, self.test_fraction)
        return {
            **self.model_dump(),
            "dataset": split.description,
            "train_images": int(len(split.train_targets)),
            "test_images": int(len(split.test_targets)),
            "split": f"per class, the last {self.test_fraction:g} of its images in source order are held out",
            "network": f"the space's own network at width C={self.width}, {self.cells_per_stage} cell(s) per stage, "
                       f"{self.resolution_px}x{self.resolution_px} input",
            "schedule": f"{self.epochs} epochs, batch {self.batch_size}, lr {self.learning_rate:g}, {OPTIMISER}",
            "fine_tune": f"{self.fine_tune_epochs} epochs, lr {self.fine_tune_learning_rate:g}, masks kept, "
                         "quantization-aware (straight-through)",
        }


@dataclasses.dataclass(frozen=True)
class SplitImages:
    """A labelled image set split into training and held-out parts, ready for a network.

    Args:
        train_inputs: ``(n, 3, r, r)`` float32, standardised with the training part's per-channel statistics.
        train_targets: ``(n,)`` int64.
        test_inputs: Held-out images, standardised with the same statistics.
        test_targets: Held-out labels.
        num_classes: One more than the largest label.
        description: One line naming the images.
    """

    train_inputs: Any
    train_targets: Any
    test_inputs: Any
    test_targets: Any
    num_classes: int
    description: str


def split_indices(labels: np.ndarray, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """The fixed train/test split: per class, the last ``round(test_fraction * n)`` images (at least one) are held out.

    On the shipped MNIST (500 images per class, sorted by label) with 0.2 this holds out
    images 400..499 of every class: 4,000 training and 1,000 test images.

    Example:
        >>> train, test = split_indices(np.array([0, 0, 0, 0, 1, 1, 1, 1, 1]), 0.25)
        >>> train.tolist(), test.tolist()
        ([0, 1, 2, 4, 5, 6, 7], [3, 8])
    """
    test = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < 2:
            raise InputError(f"trained.data: class {int(label)} has {len(members)} image; every class needs two "
                             "or more to hold one out")
        test.append(members[len(members) - max(1, round(test_fraction * len(members))):])
    held_out = np.sort(np.concatenate(test))
    return np.setdiff1d(np.arange(len(labels)), held_out), held_out


@functools.lru_cache(maxsize=4)
def load_split(data: str, resolution_px: int, test_fraction: float) -> SplitImages:
    """The images of ``data`` split by :func:`split_indices`, resized bilinearly to
    ``resolution_px``, replicated to 3 channels (a grey image) and standardised with the
    training part's statistics (cached per process)."""
    import torch
    from torch.nn import functional

    from nas.proxies import get_batch_source

    source = get_batch_source(data)
    images, labels = source.pool()
    labels = np.asarray(labels, dtype=np.int64)
    train, test = split_indices(labels, test_fraction)
    pool = torch.from_numpy(np.asarray(images, dtype=np.float32).copy())
    if pool.shape[1] not in (1, 3):
        raise InputError(f"trained.data: images have {pool.shape[1]} channels; give 1- or 3-channel images")
    if pool.shape[2:] != (resolution_px, resolution_px):
        pool = functional.interpolate(pool, size=(resolution_px, resolution_px), mode="bilinear", align_corners=False)
    pool = pool.expand(-1, 3, -1, -1)
    mean = pool[train].mean(dim=(0, 2, 3), keepdim=True)
    std = pool[train].std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-12)
    pool = ((pool - mean) / std).contiguous()
    targets = torch.from_numpy(labels.copy())
    return SplitImages(pool[train], targets[train], pool[test], targets[test], int(labels.max()) + 1,
                       source.describe())
