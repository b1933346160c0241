"""Training, compressing and scoring one network for the ``trained`` accuracy source and the
compression table (settings and images: :mod:`nas.study._trained_accuracy`).

The dense network is trained once (:func:`train_network`); :func:`compressed_accuracy_pct`
compresses a copy exactly as a search does (:func:`~nas.study.compress_module`'s two steps),
optionally fine-tunes it with the masks kept and through the quantizers (straight-through),
and scores it on the held-out images. One torch thread, deterministic algorithms.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

from nas._errors import InputError
from nas.study._compression_choice import prune_for_choice, quantize_for_choice
from nas.study._trained_accuracy import (
    ACCURACY_METRIC,
    DENSE_METRIC,
    REGIME_ATTR,
    TRAIN_TIME_METRIC,
    SplitImages,
    TrainedSettings,
    load_split,
)


@dataclasses.dataclass
class TrainedNetwork:
    """A candidate's network after dense training, ready to be compressed any number of ways.

    Args:
        module: The trained dense torch module (eval mode); :func:`compressed_accuracy_pct` works on copies.
        images: Its training and held-out images.
        dense_accuracy_pct: Top-1 held-out accuracy of the dense network, %.
        train_time_s: Wall time of the training and that evaluation, s.
        seed: The seed it was trained with (fine-tunes derive theirs from it).
    """

    module: Any
    images: SplitImages
    dense_accuracy_pct: float
    train_time_s: float
    seed: int


def train_network(space: Any, genotype: Any, settings: TrainedSettings, seed: int) -> TrainedNetwork:
    """Build the space's reduced network of ``genotype`` and train it densely (deterministic given ``seed``).

    Raises:
        InputError: The space has no reduced network to train.
    """
    import torch

    images = load_split(settings.data, settings.resolution_px, settings.test_fraction)
    started = time.perf_counter()
    with deterministic_one_thread():
        torch.manual_seed(seed)
        module = reduced_module(space, genotype, settings, images.num_classes)
        _fit(module, images, epochs=settings.epochs, learning_rate=settings.learning_rate,
             batch_size=settings.batch_size, seed=seed)
        accuracy = accuracy_pct(module, images)
    return TrainedNetwork(module, images, accuracy, time.perf_counter() - started, seed)


def reduced_module(space: Any, genotype: Any, settings: TrainedSettings, num_classes: int) -> Any:
    """The space's network of ``genotype`` at the settings' width and depth (freshly initialised)."""
    try:
        return space.build_reduced(genotype, width=settings.width, cells_per_stage=settings.cells_per_stage,
                                   num_classes=num_classes)
    except NotImplementedError as error:
        raise InputError(f"source 'trained': {error}; use space nb201, or a proxy as the source") from None


def compressed_accuracy_pct(trained: TrainedNetwork, choice: Any, *, fine_tune_epochs: int = 0,
                            fine_tune_learning_rate: float = 0.01, batch_size: int = 64) -> float:
    """Held-out top-1 accuracy (%) of ``trained``'s network compressed by ``choice``, optionally fine-tuned.

    Args:
        trained: The dense network (left unchanged).
        choice: A :class:`~nas.study.CompressionChoice`, or None for the dense network.
        fine_tune_epochs: Epochs of masked, quantization-aware fine-tune after compressing.
        fine_tune_learning_rate: Peak learning rate of the fine-tune.
        batch_size: Images per fine-tune step.
    """
    if choice is None and not fine_tune_epochs:
        return trained.dense_accuracy_pct
    import torch

    with deterministic_one_thread():
        module = copy.deepcopy(trained.module)
        if choice is None:
            _fit(module, trained.images, epochs=fine_tune_epochs, learning_rate=fine_tune_learning_rate,
                 batch_size=batch_size, seed=trained.seed + 1)
            return accuracy_pct(module, trained.images)
        before = {name: parameter.detach().clone() for name, parameter in module.named_parameters()}
        prune_for_choice(module, choice)
        # Whatever pruning zeroed (weights, and a pruned channel's bias and batch-norm entries) stays zero.
        pruned = {name: (before[name] == 0) | (parameter.detach() != 0)
                  for name, parameter in module.named_parameters()
                  if bool(((before[name] != 0) & (parameter.detach() == 0)).any())}
        if fine_tune_epochs:
            quantize_for_choice(module, choice, share=False)  # registers the activation quantizers
            with torch.no_grad():  # back to the pruned float weights: the fine-tune quantizes each step
                for name, parameter in module.named_parameters():
                    parameter.copy_(before[name] * pruned[name] if name in pruned else before[name])
            _fine_tune(module, trained.images, choice, pruned, epochs=fine_tune_epochs,
                       learning_rate=fine_tune_learning_rate, batch_size=batch_size, seed=trained.seed + 1)
        quantize_for_choice(module, choice)
        return accuracy_pct(module, trained.images)


def accuracy_pct(module: Any, images: SplitImages, batch_size: int = 500) -> float:
    """Top-1 accuracy (%) of ``module`` (put in eval mode) on the held-out images."""
    import torch

    module.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(images.test_targets), batch_size):
            logits = module(images.test_inputs[start:start + batch_size])
            correct += int((logits.argmax(dim=1) == images.test_targets[start:start + batch_size]).sum())
    return 100.0 * correct / len(images.test_targets)


def trained_metrics(settings: TrainedSettings, space: Any, genotype: Any, choice: Any, seed: int) -> dict[str, Any]:
    """The ``trained`` source's metrics of one candidate: compressed and dense accuracy (%), training time (s)
    and the regime (a string, kept in the trial's user attrs)."""
    trained = train_network(space, genotype, settings, seed)
    started = time.perf_counter()
    accuracy = compressed_accuracy_pct(trained, choice, fine_tune_epochs=settings.fine_tune_epochs if choice else 0,
                                       fine_tune_learning_rate=settings.fine_tune_learning_rate,
                                       batch_size=settings.batch_size)
    return {
        ACCURACY_METRIC: accuracy,
        DENSE_METRIC: trained.dense_accuracy_pct,
        TRAIN_TIME_METRIC: trained.train_time_s + time.perf_counter() - started,
        REGIME_ATTR: settings.regime(compressed=choice is not None),
    }


@contextlib.contextmanager
def deterministic_one_thread() -> Iterator[None]:
    """Run torch on one thread with deterministic algorithms (as Dask workers run it), then restore both."""
    import torch

    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)


def _fit(module: Any, images: SplitImages, *, epochs: int, learning_rate: float, batch_size: int, seed: int,
         before_forward: Callable[[], None] | None = None, after_backward: Callable[[], None] | None = None,
         after_step: Callable[[], None] | None = None) -> None:
    """Train ``module`` in place with :data:`OPTIMISER`; the data order comes from ``seed``."""
    import torch
    from torch.nn import functional

    count = len(images.train_targets)
    steps = epochs * math.ceil(count / batch_size)
    optimizer = torch.optim.SGD(module.parameters(), lr=learning_rate, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    generator = torch.Generator().manual_seed(seed)
    module.train()
    for _ in range(epochs):
        order = torch.randperm(count, generator=generator)
        for start in range(0, count, batch_size):
            chosen = order[start:start + batch_size]
            if before_forward is not None:
                before_forward()
            loss = functional.cross_entropy(module(images.train_inputs[chosen]), images.train_targets[chosen])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if after_backward is not None:
                after_backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 5.0)
            optimizer.step()
            schedule.step()
            if after_step is not None:
                after_step()
    module.eval()


def _fine_tune(module: Any, images: SplitImages, choice: Any, pruned: dict[str, Any], *, epochs: int,
               learning_rate: float, batch_size: int, seed: int) -> None:
    """Masked, quantization-aware fine-tune: each step runs on the quantized weights and updates the float ones
    (straight-through), then re-zeroes what pruning removed."""
    import torch

    parameters = dict(module.named_parameters())
    quantized = [name for name, parameter in parameters.items() if parameter.ndim > 1]
    floats: dict[str, torch.Tensor] = {}

    def quantize() -> None:
        floats.update({name: parameters[name].detach().clone() for name in quantized})
        quantize_for_choice(module, choice, share=False)

    def restore_floats() -> None:
        with torch.no_grad():
            for name in quantized:
                parameters[name].copy_(floats[name])

    def mask() -> None:
        with torch.no_grad():
            for name, keep in pruned.items():
                parameters[name].mul_(keep)

    quantizes = choice.weight_format is not None or bool(choice.layer_weight_formats)
    _fit(module, images, epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, seed=seed,
         before_forward=quantize if quantizes else None, after_backward=restore_floats if quantizes else None,
         after_step=mask)
