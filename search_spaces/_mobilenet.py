"""A MobileNetV2 / Once-for-All-style macro search space for ImageNet-sized images.

The skeleton is MobileNetV2's (Sandler et al., "MobileNetV2: Inverted Residuals and Linear
Bottlenecks", CVPR 2018, arXiv:1801.04381, Table 2): a 3x3/2 stem of 32 channels, seven stages
of inverted residual blocks (output channels 16, 24, 32, 64, 96, 160, 320; first strides 1, 2,
2, 2, 1, 2, 1), a 1x1 convolution to 1280 channels, global average pooling and a linear
classifier. As in Once-for-All (Cai et al., "Once-for-All: Train One Network and Specialize it
for Efficient Deployment", ICLR 2020, arXiv:1908.09791), what is searched is elastic:

* the depth of stages 2 to 6: 2, 3 or 4 blocks (MobileNetV2 has 2, 3, 4, 3, 3);
* per block of stages 2 to 7, the depthwise kernel (3, 5 or 7) and the expansion ratio
  (hidden channels per input channel: 3, 4 or 6; MobileNetV2 uses 3 and 6 everywhere);
* one width multiplier for the whole network (0.35 to 1.4, the multipliers of MobileNetV2's
  published checkpoints), channels rounded to multiples of 8 as MobileNetV2 does;
* the input resolution (96 to 224 pixels in steps of 32).

Stage 1 stays MobileNetV2's single 3x3 block without expansion, and stage 7 keeps its one
block, as OFA keeps its first block fixed. MobileNetV2 at every published width and resolution
is therefore a point of the space (:meth:`MobileNetArch.mobilenet_v2`).

This module does not import torch: :meth:`MobileNetSpace.workload` is computed analytically,
and torch is imported only by :meth:`MobileNetSpace.build`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cost_models import Workload, WorkloadBuilder
from search_spaces._base import SearchSpace

if TYPE_CHECKING:
    import optuna
    import torch

MOBILENET_STAGES: tuple[tuple[int, int, int], ...] = (
    (16, 1, 1), (24, 2, 2), (32, 3, 2), (64, 4, 2), (96, 3, 1), (160, 3, 2), (320, 1, 1),
)
"""``(output channels, MobileNetV2 depth, first stride)`` of stages 1-7 at width 1.0 (paper, Table 2)."""
STEM_CHANNELS = 32
"""Output channels of the 3x3/2 stem convolution at width 1.0."""
HEAD_CHANNELS = 1280
"""Output channels of the last 1x1 convolution at width 1.0; never reduced below it (paper, Sec. 6.1)."""

SEARCHED_STAGES: tuple[int, ...] = (2, 3, 4, 5, 6, 7)
"""Stages whose blocks choose kernel and expansion; stage 1 is fixed (3x3, no expansion)."""
ELASTIC_DEPTH_STAGES: tuple[int, ...] = (2, 3, 4, 5, 6)
"""Stages whose depth is searched; stage 7 always has one block."""
DEPTH_CHOICES: tuple[int, ...] = (2, 3, 4)
"""Blocks per elastic stage (OFA's depth choices)."""
KERNEL_CHOICES: tuple[int, ...] = (3, 5, 7)
"""Depthwise kernel sizes (OFA's)."""
EXPAND_CHOICES: tuple[int, ...] = (3, 4, 6)
"""Expansion ratios: hidden channels per input channel of a block (OFA's)."""
WIDTH_CHOICES: tuple[float, ...] = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
"""Width multipliers: those of MobileNetV2's published ImageNet checkpoints."""
RESOLUTION_CHOICES: tuple[int, ...] = (96, 128, 160, 192, 224)
"""Input heights and widths in pixels: those of MobileNetV2's published checkpoints."""

_DATASET_CLASSES = {"imagenet": 1000, "cifar10": 10, "cifar100": 100}


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to the nearest multiple of ``divisor``, losing at most 10 %.

    MobileNetV2's rule (TF-slim ``_make_divisible``, torchvision's alike): round to the
    nearest multiple, at least ``divisor``, and go one multiple up if rounding lost more
    than 10 % of ``value``.

    Example:
        >>> make_divisible(32 * 0.35), make_divisible(24 * 1.3), make_divisible(320 * 0.75)
        (16, 32, 240)
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


@dataclasses.dataclass(frozen=True)
class MobileNetArch:
    """One network of the MobileNet space; ``str(arch)`` is its canonical genotype string.

    The string reads ``r<px>_w<mult>_<stage 2>_..._<stage 7>``, each stage its blocks
    ``k<kernel>e<expansion>`` joined by ``-``; MobileNetV2-1.0 at 224 px is
    ``r224_w1.0_k3e6-k3e6_k3e6-k3e6-k3e6_k3e6-k3e6-k3e6-k3e6_k3e6-k3e6-k3e6_k3e6-k3e6-k3e6_k3e6``.

    Args:
        resolution_px: Input height and width, one of :data:`RESOLUTION_CHOICES`.
        width_mult: Width multiplier, one of :data:`WIDTH_CHOICES`.
        stages: For stages 2 to 7, the ``(kernel, expansion)`` of each block; stages 2-6
            hold 2 to 4 blocks, stage 7 one.

    Raises:
        ValueError: A field out of its choices (one line naming it).

    Example:
        >>> arch = MobileNetArch.parse("r160_w0.75_k5e4-k3e6_k7e3-k3e3_k3e6-k3e6-k3e6_k3e4-k5e4_k3e6-k3e6_k7e6")
        >>> arch.depths, arch.stages[0]
        ((2, 2, 3, 2, 2, 1), ((5, 4), (3, 6)))
        >>> str(arch) == "r160_w0.75_k5e4-k3e6_k7e3-k3e3_k3e6-k3e6-k3e6_k3e4-k5e4_k3e6-k3e6_k7e6"
        True
    """

    resolution_px: int
    width_mult: float
    stages: tuple[tuple[tuple[int, int], ...], ...]

    def __post_init__(self) -> None:
        if self.resolution_px not in RESOLUTION_CHOICES or isinstance(self.resolution_px, bool):
            raise ValueError(f"mobilenet resolution_px {self.resolution_px!r} must be one of "
                             f"{_listed(RESOLUTION_CHOICES)}")
        if self.width_mult not in WIDTH_CHOICES or isinstance(self.width_mult, bool):
            raise ValueError(f"mobilenet width_mult {self.width_mult!r} must be one of {_listed(WIDTH_CHOICES)}")
        if len(self.stages) != len(SEARCHED_STAGES):
            raise ValueError(f"mobilenet arch has {len(self.stages)} searched stages; expected "
                             f"{len(SEARCHED_STAGES)} (stages {SEARCHED_STAGES[0]}-{SEARCHED_STAGES[-1]})")
        for stage, blocks in zip(SEARCHED_STAGES, self.stages, strict=True):
            allowed = DEPTH_CHOICES if stage in ELASTIC_DEPTH_STAGES else (MOBILENET_STAGES[stage - 1][1],)
            if len(blocks) not in allowed:
                raise ValueError(f"mobilenet stage{stage}_depth {len(blocks)} must be one of {_listed(allowed)}")
            for block, (kernel, expand) in enumerate(blocks, start=1):
                if kernel not in KERNEL_CHOICES or isinstance(kernel, bool):
                    raise ValueError(f"mobilenet stage{stage}_block{block}_kernel {kernel!r} must be one of "
                                     f"{_listed(KERNEL_CHOICES)}")
                if expand not in EXPAND_CHOICES or isinstance(expand, bool):
                    raise ValueError(f"mobilenet stage{stage}_block{block}_expand {expand!r} must be one of "
                                     f"{_listed(EXPAND_CHOICES)}")
        # Canonical types, so that equal networks compare, hash and print equal.
        object.__setattr__(self, "resolution_px", int(self.resolution_px))
        object.__setattr__(self, "width_mult", float(self.width_mult))
        object.__setattr__(self, "stages", tuple(tuple((int(k), int(e)) for k, e in blocks) for blocks in self.stages))

    def __str__(self) -> str:
        blocks = ("-".join(f"k{kernel}e{expand}" for kernel, expand in stage) for stage in self.stages)
        return "_".join((f"r{self.resolution_px}", f"w{self.width_mult}", *blocks))

    @property
    def depths(self) -> tuple[int, ...]:
        """Blocks in each of stages 2 to 7."""
        return tuple(len(blocks) for blocks in self.stages)

    @classmethod
    def parse(cls, text: str | MobileNetArch) -> MobileNetArch:
        """Read a genotype string (an arch passes through unchanged).

        Raises:
            ValueError: One line naming the malformed field.
        """
        if isinstance(text, cls):
            return text
        template = "r<px>_w<mult>_" + "_".join(f"<stage {stage}>" for stage in SEARCHED_STAGES)
        if not isinstance(text, str):
            raise ValueError(f"a mobilenet arch must be a string like {template!r}, got {text!r}")
        fields = text.split("_")
        if len(fields) != 2 + len(SEARCHED_STAGES):
            raise ValueError(f"mobilenet arch {text!r} must have {2 + len(SEARCHED_STAGES)} '_'-separated fields "
                             f"{template!r}, got {len(fields)}")
        resolution = _number(text, "resolution_px", fields[0], "r", int)
        width = _number(text, "width_mult", fields[1], "w", float)
        stages = []
        for stage, field in zip(SEARCHED_STAGES, fields[2:], strict=True):
            blocks = []
            for block, item in enumerate(field.split("-"), start=1):
                kernel, e, expand = item.removeprefix("k").partition("e")
                if not (item.startswith("k") and e and kernel.isdigit() and expand.isdigit()):
                    raise ValueError(f"mobilenet arch {text!r}: stage{stage}_block{block} {item!r} must read "
                                     f"'k<kernel>e<expansion>', e.g. 'k3e6'")
                blocks.append((int(kernel), int(expand)))
            stages.append(tuple(blocks))
        try:
            return cls(resolution, width, tuple(stages))
        except ValueError as error:
            raise ValueError(f"mobilenet arch {text!r}: {str(error).removeprefix('mobilenet ')}") from None

    @classmethod
    def mobilenet_v2(cls, width_mult: float = 1.0, resolution_px: int = 224) -> MobileNetArch:
        """MobileNetV2 itself: its stage depths, 3x3 kernels and expansion 6 everywhere.

        Example:
            >>> str(MobileNetArch.mobilenet_v2(0.5, 128))[:22]
            'r128_w0.5_k3e6-k3e6_k3'
        """
        stages = tuple(((3, 6),) * MOBILENET_STAGES[stage - 1][1] for stage in SEARCHED_STAGES)
        return cls(resolution_px, width_mult, stages)


def _listed(choices: Sequence[Any]) -> str:
    return ", ".join(str(choice) for choice in choices)


def _number(text: str, label: str, field: str, prefix: str, kind: type) -> Any:
    try:
        if not field.startswith(prefix):
            raise ValueError
        return kind(field[len(prefix):])
    except ValueError:
        raise ValueError(f"mobilenet arch {text!r}: {label} field {field!r} must read '{prefix}<number>'") from None


@dataclasses.dataclass(frozen=True)
class _Block:
    """One inverted residual block, as both the workload and the torch module build it."""

    c_in: int
    hidden: int
    c_out: int
    kernel: int
    stride: int

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.c_in == self.c_out


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Channels of every layer of one arch: the stem, the blocks in order, the head."""

    stem: int
    blocks: tuple[_Block, ...]
    head: int


@functools.lru_cache(maxsize=1024)
def _plan(arch: MobileNetArch) -> _Plan:
    width = arch.width_mult
    stem = channels = make_divisible(STEM_CHANNELS * width)
    blocks = [_Block(channels, channels, make_divisible(MOBILENET_STAGES[0][0] * width), 3, MOBILENET_STAGES[0][2])]
    channels = blocks[0].c_out
    for stage, stage_blocks in zip(SEARCHED_STAGES, arch.stages, strict=True):
        c_out, _, first_stride = MOBILENET_STAGES[stage - 1]
        c_out = make_divisible(c_out * width)
        for index, (kernel, expand) in enumerate(stage_blocks):
            blocks.append(_Block(channels, channels * expand, c_out, kernel, first_stride if index == 0 else 1))
            channels = c_out
    return _Plan(stem, tuple(blocks), make_divisible(HEAD_CHANNELS * max(1.0, width)))


class MobileNetSpace(SearchSpace):
    """MobileNetV2 / Once-for-All macro space: elastic depth, kernel, expansion, width, resolution.

    The genotype is the canonical string of a :class:`MobileNetArch`. The Optuna parameters
    are flat: ``resolution_px`` and ``width_mult``; ``stage{2..6}_depth`` (2-4 blocks); and,
    per block as OFA has them, ``stage{S}_block{B}_kernel`` (3/5/7) and
    ``stage{S}_block{B}_expand`` (3/4/6) for blocks 1-4 of stages 2-6 and block 1 of stage
    7. All of them are suggested on every trial, so the search space is the same for every
    trial (NSGA-II and the GP sampler need that); a block beyond its stage's depth is not
    built, and its two parameters are ignored. The space holds about 5.9e21 networks.

    Layers and module names follow torchvision's MobileNetV2 (``features.3.conv.1.0`` is
    the depthwise convolution of the third block, ``classifier.1`` the linear layer), so
    :meth:`MobileNetArch.mobilenet_v2` builds a module whose state dict loads torchvision's
    weights.

    Args:
        dataset: ``"imagenet"`` (1000 classes), or ``"cifar10"`` / ``"cifar100"`` (10 / 100
            classes), whose 32x32 images are resized to the genotype's resolution as
            transfer-learning studies do. The dataset sets only the classifier's outputs.

    Example:
        >>> space = MobileNetSpace()
        >>> workload = space.workload(str(MobileNetArch.mobilenet_v2()))
        >>> int(workload.macs.sum()), int(workload.params.sum())  # torchvision: 0.30 GMACs, 3,504,872
        (300774272, 3504872)
    """

    name = "mobilenet"

    def __init__(self, dataset: str = "imagenet") -> None:
        if dataset not in _DATASET_CLASSES:
            raise ValueError(f"mobilenet: unknown dataset {dataset!r}; choose from {', '.join(_DATASET_CLASSES)}")
        self.dataset = dataset
        self.num_classes = _DATASET_CLASSES[dataset]

    def __repr__(self) -> str:
        return f"MobileNetSpace(dataset={self.dataset!r})"

    def sample(self, trial: optuna.Trial) -> str:
        """Suggest every parameter (see the class docstring) and return the genotype string."""
        params: dict[str, Any] = {
            "resolution_px": trial.suggest_int("resolution_px", RESOLUTION_CHOICES[0], RESOLUTION_CHOICES[-1],
                                               step=RESOLUTION_CHOICES[1] - RESOLUTION_CHOICES[0]),
            "width_mult": trial.suggest_categorical("width_mult", WIDTH_CHOICES),
        }
        for stage in ELASTIC_DEPTH_STAGES:
            params[f"stage{stage}_depth"] = trial.suggest_int(f"stage{stage}_depth", DEPTH_CHOICES[0],
                                                              DEPTH_CHOICES[-1])
        for name in _block_parameters():
            if name.endswith("_kernel"):
                params[name] = trial.suggest_int(name, KERNEL_CHOICES[0], KERNEL_CHOICES[-1], step=2)
            else:
                params[name] = trial.suggest_categorical(name, EXPAND_CHOICES)
        return self.from_params(params)

    def from_params(self, params: Mapping[str, Any]) -> str:
        """Rebuild the genotype string from a trial's parameters (unused blocks' are ignored)."""
        missing = [name for name in parameter_names() if name not in params]
        if missing:
            raise ValueError(f"mobilenet: parameters lack {', '.join(missing[:4])}"
                             f"{' ...' if len(missing) > 4 else ''}; expected {len(parameter_names())} parameters")
        stages = []
        for stage in SEARCHED_STAGES:
            depth = params[f"stage{stage}_depth"] if stage in ELASTIC_DEPTH_STAGES else 1
            if depth not in DEPTH_CHOICES and stage in ELASTIC_DEPTH_STAGES:
                raise ValueError(f"mobilenet stage{stage}_depth {depth!r} must be one of {_listed(DEPTH_CHOICES)}")
            names = (f"stage{stage}_block{block}" for block in range(1, depth + 1))
            stages.append(tuple((params[f"{name}_kernel"], params[f"{name}_expand"]) for name in names))
        return str(MobileNetArch(params["resolution_px"], params["width_mult"], tuple(stages)))

    def workload(self, genotype: str | MobileNetArch, *, batch_size: int = 1) -> Workload:
        """The network's layers, in the torch module's execution order, named as its modules.

        Args:
            genotype: A genotype string or a :class:`MobileNetArch`.
            batch_size: Images per forward pass (``n`` of every layer).
        """
        return _workload(MobileNetArch.parse(genotype), self.num_classes, int(batch_size))

    def build(self, genotype: str | MobileNetArch) -> torch.nn.Module:
        """A freshly initialised :class:`~search_spaces._mobilenet_torch.MobileNetNetwork` (imports torch)."""
        from search_spaces._mobilenet_torch import MobileNetNetwork

        plan = _plan(MobileNetArch.parse(genotype))
        return MobileNetNetwork(plan.stem, [dataclasses.astuple(block) for block in plan.blocks], plan.head,
                                num_classes=self.num_classes)

    def input_shape(self, genotype: str | MobileNetArch | None = None) -> tuple[int, int, int]:
        """``(3, r, r)`` at the genotype's resolution ``r``; 224 px when no genotype is given."""
        resolution = 224 if genotype is None else MobileNetArch.parse(genotype).resolution_px
        return 3, resolution, resolution

    def describe_genotype(self, genotype: str | MobileNetArch) -> dict[str, str | int]:
        """``{"arch": canonical genotype string}``."""
        return {"arch": str(MobileNetArch.parse(genotype))}


def _block_parameters() -> list[str]:
    names = []
    for stage in SEARCHED_STAGES:
        blocks = max(DEPTH_CHOICES) if stage in ELASTIC_DEPTH_STAGES else 1
        for block in range(1, blocks + 1):
            names += [f"stage{stage}_block{block}_kernel", f"stage{stage}_block{block}_expand"]
    return names


@functools.cache
def parameter_names() -> tuple[str, ...]:
    """Names of the Optuna parameters :meth:`MobileNetSpace.sample` suggests, in order.

    Example:
        >>> len(parameter_names()), parameter_names()[:3]
        (49, ('resolution_px', 'width_mult', 'stage2_depth'))
    """
    depths = [f"stage{stage}_depth" for stage in ELASTIC_DEPTH_STAGES]
    return ("resolution_px", "width_mult", *depths, *_block_parameters())


@functools.lru_cache(maxsize=256)
def _workload(arch: MobileNetArch, num_classes: int, batch_size: int) -> Workload:
    plan = _plan(arch)
    builder = WorkloadBuilder(batch_size=batch_size)

    def conv_bn_relu6(prefix: str, c: int, size: int, k: int, kernel: int, stride: int = 1, groups: int = 1) -> int:
        out, _ = builder.conv(f"{prefix}.0", c=c, h=size, w=size, k=k, r=kernel, stride=stride,
                              padding=kernel // 2, groups=groups)
        builder.norm(f"{prefix}.1", c=k, h=out, w=out)
        builder.elementwise(f"{prefix}.2", c=k, h=out, w=out)
        return out

    size = conv_bn_relu6("features.0", 3, arch.resolution_px, plan.stem, 3, stride=2)
    for index, block in enumerate(plan.blocks, start=1):
        prefix = f"features.{index}.conv"
        layer = 0
        if block.hidden != block.c_in:
            conv_bn_relu6(f"{prefix}.0", block.c_in, size, block.hidden, 1)
            layer = 1
        out = conv_bn_relu6(f"{prefix}.{layer}", block.hidden, size, block.hidden, block.kernel, block.stride,
                            groups=block.hidden)
        builder.conv(f"{prefix}.{layer + 1}", c=block.hidden, h=out, w=out, k=block.c_out, r=1)
        builder.norm(f"{prefix}.{layer + 2}", c=block.c_out, h=out, w=out)
        if block.residual:
            builder.elementwise(f"features.{index}.add", c=block.c_out, h=out, w=out, inputs=2)
        size = out
    conv_bn_relu6(f"features.{len(plan.blocks) + 1}", plan.blocks[-1].c_out, size, plan.head, 1)
    builder.pool("avgpool", c=plan.head, h=size, w=size, r=size, global_pool=True)
    builder.linear("classifier.1", c=plan.head, k=num_classes)
    return builder.build()
