"""A ResNet macro search space: block type, per-stage depth and bottleneck expansion, width, resolution.

The skeleton is torchvision's ResNet (He et al., "Deep Residual Learning for Image
Recognition", CVPR 2016, arXiv:1512.03385): a 7x7/2 stem convolution and a 3x3/2 max pool,
four stages of residual blocks (the first block of stages 2-4 halves height and width, on
its 3x3 convolution as torchvision's "ResNet v1.5" does), global average pooling and a
linear classifier. Searched, in the manner of Once-for-All's ResNet space (Cai et al., ICLR
2020, arXiv:1908.09791):

* the block: ``basic`` (two 3x3 convolutions, ResNet-18/34) or ``bottleneck`` (1x1, 3x3,
  1x1; ResNet-50);
* the depth of each stage: 1 to 6 blocks;
* per stage, the bottleneck expansion: a bottleneck block's output channels over its
  inner channels, 2, 3 or 4 (ResNet-50 has 4; Wide ResNet-50-2 has 2: the same outer
  channels around twice the inner ones). Basic blocks have none;
* one width multiplier for all channels (0.5 to 1.5), rounded to multiples of 8;
* the input resolution (128 to 256 pixels in steps of 32).

At width 1.0 a stage's outer channels are ResNet's: 64, 128, 256, 512 for basic blocks and
four times that for bottlenecks. ResNet-18, ResNet-34, ResNet-50 and Wide ResNet-50-2 at
224 px are points of the space (:meth:`ResNetArch.torchvision`).

This module does not import torch: :meth:`ResNetSpace.workload` is computed analytically,
and torch is imported only by :meth:`ResNetSpace.build`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cost_models import Workload, WorkloadBuilder
from search_spaces._base import SearchSpace
from search_spaces._mobilenet import make_divisible

if TYPE_CHECKING:
    import optuna
    import torch

BLOCK_CHOICES: tuple[str, ...] = ("basic", "bottleneck")
"""Residual block types: two 3x3 convolutions, or 1x1-3x3-1x1."""
STAGE_WIDTHS: tuple[int, ...] = (64, 128, 256, 512)
"""Channels of each stage's 3x3 convolutions in ResNet-18/34/50 (paper, Table 1)."""
STEM_CHANNELS = 64
"""Output channels of the 7x7/2 stem convolution at width 1.0."""
DEPTH_CHOICES: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
"""Blocks per stage (ResNet-18: 2, 2, 2, 2; ResNet-34 and -50: 3, 4, 6, 3)."""
EXPANSION_CHOICES: tuple[int, ...] = (2, 3, 4)
"""Output over inner channels of a bottleneck block (ResNet-50: 4; Wide ResNet-50-2: 2)."""
WIDTH_CHOICES: tuple[float, ...] = (0.5, 0.75, 1.0, 1.25, 1.5)
"""Width multipliers of every convolution's channels."""
RESOLUTION_CHOICES: tuple[int, ...] = (128, 160, 192, 224, 256)
"""Input heights and widths in pixels."""
N_STAGES = len(STAGE_WIDTHS)

_BOTTLENECK_OUT = 4
"""Outer channels of a bottleneck stage per channel of :data:`STAGE_WIDTHS` (ResNet-50's 4x)."""
_DATASET_CLASSES = {"imagenet": 1000, "cifar10": 10, "cifar100": 100}
_TORCHVISION = {
    "resnet18": ("basic", (2, 2, 2, 2), (4, 4, 4, 4)),
    "resnet34": ("basic", (3, 4, 6, 3), (4, 4, 4, 4)),
    "resnet50": ("bottleneck", (3, 4, 6, 3), (4, 4, 4, 4)),
    "wide_resnet50_2": ("bottleneck", (3, 4, 6, 3), (2, 2, 2, 2)),
}


@dataclasses.dataclass(frozen=True)
class ResNetArch:
    """One network of the ResNet space; ``str(arch)`` is its canonical genotype string.

    The string reads ``<block>_r<px>_w<mult>_d<depths>`` for basic blocks and adds
    ``_e<expansions>`` for bottlenecks, the per-stage numbers joined by ``-``: ResNet-50 at
    224 px is ``bottleneck_r224_w1.0_d3-4-6-3_e4-4-4-4``, ResNet-18 ``basic_r224_w1.0_d2-2-2-2``.

    Args:
        block: ``"basic"`` or ``"bottleneck"``.
        resolution_px: Input height and width, one of :data:`RESOLUTION_CHOICES`.
        width_mult: Width multiplier, one of :data:`WIDTH_CHOICES`.
        depths: Blocks in each of the four stages, each one of :data:`DEPTH_CHOICES`.
        expansions: Bottleneck expansion of each stage, one of :data:`EXPANSION_CHOICES`;
            ``()`` for basic blocks.

    Raises:
        ValueError: A field out of its choices (one line naming it).

    Example:
        >>> arch = ResNetArch.parse("bottleneck_r160_w0.75_d2-3-5-2_e4-3-3-2")
        >>> arch.depths, arch.expansions
        ((2, 3, 5, 2), (4, 3, 3, 2))
        >>> str(ResNetArch.torchvision("resnet18"))
        'basic_r224_w1.0_d2-2-2-2'
    """

    block: str
    resolution_px: int
    width_mult: float
    depths: tuple[int, ...]
    expansions: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.block not in BLOCK_CHOICES:
            raise ValueError(f"resnet block {self.block!r} must be one of {_listed(BLOCK_CHOICES)}")
        if self.resolution_px not in RESOLUTION_CHOICES or isinstance(self.resolution_px, bool):
            raise ValueError(f"resnet resolution_px {self.resolution_px!r} must be one of "
                             f"{_listed(RESOLUTION_CHOICES)}")
        if self.width_mult not in WIDTH_CHOICES or isinstance(self.width_mult, bool):
            raise ValueError(f"resnet width_mult {self.width_mult!r} must be one of {_listed(WIDTH_CHOICES)}")
        if len(self.depths) != N_STAGES:
            raise ValueError(f"resnet arch has {len(self.depths)} stage depths; expected {N_STAGES}")
        for stage, depth in enumerate(self.depths, start=1):
            if depth not in DEPTH_CHOICES or isinstance(depth, bool):
                raise ValueError(f"resnet stage{stage}_depth {depth!r} must be one of {_listed(DEPTH_CHOICES)}")
        expected = N_STAGES if self.block == "bottleneck" else 0
        if len(self.expansions) != expected:
            raise ValueError(f"resnet arch with {self.block} blocks has {len(self.expansions)} stage expansions; "
                             f"expected {expected}")
        for stage, expansion in enumerate(self.expansions, start=1):
            if expansion not in EXPANSION_CHOICES or isinstance(expansion, bool):
                raise ValueError(f"resnet stage{stage}_expansion {expansion!r} must be one of "
                                 f"{_listed(EXPANSION_CHOICES)}")
        # Canonical types, so that equal networks compare, hash and print equal.
        object.__setattr__(self, "resolution_px", int(self.resolution_px))
        object.__setattr__(self, "width_mult", float(self.width_mult))
        object.__setattr__(self, "depths", tuple(int(depth) for depth in self.depths))
        object.__setattr__(self, "expansions", tuple(int(expansion) for expansion in self.expansions))

    def __str__(self) -> str:
        fields = [self.block, f"r{self.resolution_px}", f"w{self.width_mult}", "d" + "-".join(map(str, self.depths))]
        if self.expansions:
            fields.append("e" + "-".join(map(str, self.expansions)))
        return "_".join(fields)

    @classmethod
    def parse(cls, text: str | ResNetArch) -> ResNetArch:
        """Read a genotype string (an arch passes through unchanged).

        Raises:
            ValueError: One line naming the malformed field.
        """
        if isinstance(text, cls):
            return text
        template = "'basic_r<px>_w<mult>_d<d1-d2-d3-d4>' or 'bottleneck_r<px>_w<mult>_d<d1-d2-d3-d4>_e<e1-e2-e3-e4>'"
        if not isinstance(text, str):
            raise ValueError(f"a resnet arch must be a string like {template}, got {text!r}")
        fields = text.split("_")
        block = fields[0]
        if block not in BLOCK_CHOICES:
            raise ValueError(f"resnet arch {text!r}: block {block!r} must be one of {_listed(BLOCK_CHOICES)}")
        expected = 5 if block == "bottleneck" else 4
        if len(fields) != expected:
            raise ValueError(f"resnet arch {text!r} must have {expected} '_'-separated fields like {template}, "
                             f"got {len(fields)}")
        resolution = _numbers(text, "resolution_px", fields[1], "r", int)[0]
        width = _numbers(text, "width_mult", fields[2], "w", float)[0]
        depths = _numbers(text, "depths", fields[3], "d", int)
        expansions = _numbers(text, "expansions", fields[4], "e", int) if block == "bottleneck" else ()
        try:
            return cls(block, resolution, width, depths, expansions)
        except ValueError as error:
            raise ValueError(f"resnet arch {text!r}: {str(error).removeprefix('resnet ')}") from None

    @classmethod
    def torchvision(cls, name: str, resolution_px: int = 224) -> ResNetArch:
        """A torchvision network in the space: resnet18, resnet34, resnet50 or wide_resnet50_2.

        Raises:
            ValueError: Another name.
        """
        if name not in _TORCHVISION:
            raise ValueError(f"resnet: {name!r} is not in the space; choose from {', '.join(_TORCHVISION)}")
        block, depths, expansions = _TORCHVISION[name]
        return cls(block, resolution_px, 1.0, depths, expansions if block == "bottleneck" else ())


def _listed(choices: Sequence[Any]) -> str:
    return ", ".join(str(choice) for choice in choices)


def _numbers(text: str, label: str, field: str, prefix: str, kind: type) -> tuple[Any, ...]:
    try:
        if not field.startswith(prefix):
            raise ValueError
        return tuple(kind(item) for item in field[len(prefix):].split("-"))
    except ValueError:
        example = f"'{prefix}<number>'" if label in ("resolution_px", "width_mult") else f"'{prefix}<n1-n2-n3-n4>'"
        raise ValueError(f"resnet arch {text!r}: {label} field {field!r} must read {example}") from None


@dataclasses.dataclass(frozen=True)
class _Block:
    """One residual block, as both the workload and the torch module build it."""

    c_in: int
    mid: int
    c_out: int
    stride: int

    @property
    def projection(self) -> bool:
        """Whether the shortcut is a strided 1x1 convolution (it is the identity otherwise)."""
        return self.stride != 1 or self.c_in != self.c_out


@functools.lru_cache(maxsize=1024)
def _plan(arch: ResNetArch) -> tuple[int, tuple[tuple[_Block, ...], ...]]:
    """Stem channels, and the blocks of each stage."""
    stem = channels = make_divisible(STEM_CHANNELS * arch.width_mult)
    stages = []
    for stage, (width, depth) in enumerate(zip(STAGE_WIDTHS, arch.depths, strict=True)):
        if arch.block == "basic":
            mid = c_out = make_divisible(width * arch.width_mult)
        else:
            c_out = make_divisible(_BOTTLENECK_OUT * width * arch.width_mult)
            mid = make_divisible(c_out / arch.expansions[stage])
        blocks = []
        for index in range(depth):
            blocks.append(_Block(channels, mid, c_out, 2 if stage and not index else 1))
            channels = c_out
        stages.append(tuple(blocks))
    return stem, tuple(stages)


class ResNetSpace(SearchSpace):
    """ResNet macro space: basic or bottleneck blocks, per-stage depth and expansion, width, resolution.

    The genotype is the canonical string of a :class:`ResNetArch`. The Optuna parameters
    are flat: ``block``, ``resolution_px``, ``width_mult``, ``stage{1..4}_depth`` (1-6
    blocks) and ``stage{1..4}_expansion`` (2/3/4). All of them are suggested on every trial,
    so the search space is the same for every trial; the expansions are ignored when the
    block is ``basic``. The space holds 2,656,800 networks.

    Layers and module names follow torchvision's ResNet (``conv1``, ``layer2.0.conv2``,
    ``layer2.0.downsample.0``, ``layer1.1.add`` for a residual sum, ``fc``), so the
    torchvision points (:meth:`ResNetArch.torchvision`) build modules whose state dicts load
    torchvision's weights.

    Args:
        dataset: ``"imagenet"`` (1000 classes), or ``"cifar10"`` / ``"cifar100"`` (10 / 100
            classes), whose images are resized to the genotype's resolution. The dataset sets
            only the classifier's outputs.

    Example:
        >>> workload = ResNetSpace().workload("bottleneck_r224_w1.0_d3-4-6-3_e4-4-4-4")  # ResNet-50
        >>> int(workload.macs.sum()), int(workload.params.sum())  # torchvision: 4.089 GMACs, 25,557,032
        (4089184256, 25557032)
    """

    name = "resnet"

    def __init__(self, dataset: str = "imagenet") -> None:
        if dataset not in _DATASET_CLASSES:
            raise ValueError(f"resnet: unknown dataset {dataset!r}; choose from {', '.join(_DATASET_CLASSES)}")
        self.dataset = dataset
        self.num_classes = _DATASET_CLASSES[dataset]

    def __repr__(self) -> str:
        return f"ResNetSpace(dataset={self.dataset!r})"

    def sample(self, trial: optuna.Trial) -> str:
        """Suggest every parameter (see the class docstring) and return the genotype string."""
        params: dict[str, Any] = {
            "block": trial.suggest_categorical("block", BLOCK_CHOICES),
            "resolution_px": trial.suggest_int("resolution_px", RESOLUTION_CHOICES[0], RESOLUTION_CHOICES[-1],
                                               step=RESOLUTION_CHOICES[1] - RESOLUTION_CHOICES[0]),
            "width_mult": trial.suggest_categorical("width_mult", WIDTH_CHOICES),
        }
        for stage in range(1, N_STAGES + 1):
            params[f"stage{stage}_depth"] = trial.suggest_int(f"stage{stage}_depth", DEPTH_CHOICES[0],
                                                              DEPTH_CHOICES[-1])
        for stage in range(1, N_STAGES + 1):
            params[f"stage{stage}_expansion"] = trial.suggest_int(f"stage{stage}_expansion", EXPANSION_CHOICES[0],
                                                                  EXPANSION_CHOICES[-1])
        return self.from_params(params)

    def from_params(self, params: Mapping[str, Any]) -> str:
        """Rebuild the genotype string from a trial's parameters (expansions ignored for basic blocks)."""
        missing = [name for name in parameter_names() if name not in params]
        if missing:
            raise ValueError(f"resnet: parameters lack {', '.join(missing)}; expected {', '.join(parameter_names())}")
        block = params["block"]
        depths = tuple(params[f"stage{stage}_depth"] for stage in range(1, N_STAGES + 1))
        expansions = tuple(params[f"stage{stage}_expansion"] for stage in range(1, N_STAGES + 1))
        return str(ResNetArch(block, params["resolution_px"], params["width_mult"], depths,
                              expansions if block == "bottleneck" else ()))

    def workload(self, genotype: str | ResNetArch, *, batch_size: int = 1) -> Workload:
        """The network's layers, in the torch module's execution order, named as its modules.

        Args:
            genotype: A genotype string or a :class:`ResNetArch`.
            batch_size: Images per forward pass (``n`` of every layer).
        """
        return _workload(ResNetArch.parse(genotype), self.num_classes, int(batch_size))

    def build(self, genotype: str | ResNetArch) -> torch.nn.Module:
        """A freshly initialised :class:`~search_spaces._resnet_torch.ResNetNetwork` (imports torch)."""
        from search_spaces._resnet_torch import ResNetNetwork

        arch = ResNetArch.parse(genotype)
        stem, stages = _plan(arch)
        blocks = [[dataclasses.astuple(block) for block in stage] for stage in stages]
        return ResNetNetwork(arch.block, stem, blocks, num_classes=self.num_classes)

    def input_shape(self, genotype: str | ResNetArch | None = None) -> tuple[int, int, int]:
        """``(3, r, r)`` at the genotype's resolution ``r``; 224 px when no genotype is given."""
        resolution = 224 if genotype is None else ResNetArch.parse(genotype).resolution_px
        return 3, resolution, resolution

    def describe_genotype(self, genotype: str | ResNetArch) -> dict[str, str | int]:
        """``{"arch": canonical genotype string}``."""
        return {"arch": str(ResNetArch.parse(genotype))}


@functools.cache
def parameter_names() -> tuple[str, ...]:
    """Names of the Optuna parameters :meth:`ResNetSpace.sample` suggests, in order.

    Example:
        >>> parameter_names()[:4]
        ('block', 'resolution_px', 'width_mult', 'stage1_depth')
    """
    stages = range(1, N_STAGES + 1)
    return ("block", "resolution_px", "width_mult", *(f"stage{stage}_depth" for stage in stages),
            *(f"stage{stage}_expansion" for stage in stages))


@functools.lru_cache(maxsize=256)
def _workload(arch: ResNetArch, num_classes: int, batch_size: int) -> Workload:
    stem, stages = _plan(arch)
    builder = WorkloadBuilder(batch_size=batch_size)
    size, _ = builder.conv("conv1", c=3, h=arch.resolution_px, w=arch.resolution_px, k=stem, r=7, stride=2,
                           padding=3)
    builder.norm("bn1", c=stem, h=size, w=size)
    builder.elementwise("relu", c=stem, h=size, w=size)
    size, _ = builder.pool("maxpool", c=stem, h=size, w=size, r=3, stride=2, padding=1, mode="max")
    # A block runs its convolutions, then the shortcut, then the sum and the last ReLU; its
    # one ReLU module is called after each activation (`relu`, `relu:2`, ...), as torchvision's.
    for stage, blocks in enumerate(stages, start=1):
        for index, block in enumerate(blocks):
            prefix = f"layer{stage}.{index}"
            if arch.block == "basic":
                convs = ((3, block.c_out, block.stride), (3, block.c_out, 1))
            else:
                convs = ((1, block.mid, 1), (3, block.mid, block.stride), (1, block.c_out, 1))
            channels, out = block.c_in, size
            for layer, (kernel, k, stride) in enumerate(convs, start=1):
                out, _ = builder.conv(f"{prefix}.conv{layer}", c=channels, h=out, w=out, k=k, r=kernel,
                                      stride=stride, padding=kernel // 2)
                builder.norm(f"{prefix}.bn{layer}", c=k, h=out, w=out)
                if layer < len(convs):
                    builder.elementwise(f"{prefix}.relu" + (f":{layer}" if layer > 1 else ""), c=k, h=out, w=out)
                channels = k
            if block.projection:
                builder.conv(f"{prefix}.downsample.0", c=block.c_in, h=size, w=size, k=block.c_out, r=1,
                             stride=block.stride)
                builder.norm(f"{prefix}.downsample.1", c=block.c_out, h=out, w=out)
            builder.elementwise(f"{prefix}.add", c=block.c_out, h=out, w=out, inputs=2)
            builder.elementwise(f"{prefix}.relu:{len(convs)}", c=block.c_out, h=out, w=out)
            size = out
    channels = stages[-1][-1].c_out
    builder.pool("avgpool", c=channels, h=size, w=size, r=size, global_pool=True)
    builder.linear("fc", c=channels, k=num_classes)
    return builder.build()
