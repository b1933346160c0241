"""Well-known ImageNet networks, so fixed reference models can be costed: ``nas cost --model vit_b_16``.

:func:`list_models` offers the 12 torchvision classifiers measured on an H100 (the file
``torchvision.csv`` of the project's H100 data: AlexNet to ViT-B/16). Their workloads come
from ``data/torchvision_workloads.json.gz``: each torchvision 0.28 model traced once at the
operator level (:mod:`search_spaces._trace`), with MACs equal to what
``torch.utils.flop_counter.FlopCounterMode`` counts and the module's parameter count; the
script beside the file regenerates it. So :func:`model_workload` needs neither torchvision
nor a trace.

Five of them are also written here as torch modules, from their papers, reproducing
torchvision's variant layer for layer (the same shapes, parameter count and module names,
``layer1.0.conv1``, ``features.3``, ``classifier.6``), so that accuracy proxies and
``nas sensitivity`` have a module without torchvision: AlexNet, VGG-16, ResNet-18, ResNet-50
and MobileNetV2. :func:`build_model` returns those, and takes the other seven from torchvision
where it is installed.

Importing this module imports torch; ``import search_spaces`` does not, because the
package loads these names on first use.
"""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Callable, Sequence
from importlib import resources

import torch
from torch import nn

from cost_models import Workload
from search_spaces._trace import TracedRow, build_workload

IMAGENET_INPUT_SHAPE = (3, 224, 224)
"""``(channels, height, width)`` of one input image for every model here."""


def _init_weights(module: nn.Module) -> None:
    """Initialise as torchvision does VGG and MobileNetV2, for all five models alike.

    Convolutions are He-normal with fan-out (He et al., ICCV 2015), linear layers N(0, 0.01),
    biases zero; batch norms keep torch's scale 1 and shift 0. One scheme for every model keeps
    zero-cost proxies, which score networks at initialisation, comparable across them.
    """
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, 0.0, 0.01)
        else:
            continue
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


class _FeaturesPoolClassifier(nn.Module):
    """The layout AlexNet, VGG and MobileNetV2 share: ``features``, ``avgpool``, ``classifier``."""

    features: nn.Sequential
    avgpool: nn.AdaptiveAvgPool2d
    classifier: nn.Sequential

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class AlexNet(_FeaturesPoolClassifier):
    """AlexNet, single-tower: 5 convolutions (64-192-384-256-256) and 3 linear layers.

    The one-GPU variant of Krizhevsky, "One weird trick for parallelizing convolutional
    neural networks", arXiv:1404.5997 (2014), as torchvision ships it, not the two-tower,
    96-filter network of Krizhevsky et al., NIPS 2012 (60 M parameters). Its widths are those
    of Krizhevsky's cuda-convnet2 one-GPU configuration, which torchvision kept: conv4 has 256
    filters where the paper's footnote says 384 (pytorch/vision#463). It has no local response
    normalisation; the first convolution pads by 2, so 224x224 inputs work.

    Published: 61,100,840 parameters and 0.71 GMACs per 224x224 image (torchvision model
    table); this definition counts 714,188,480 MACs.

    Args:
        num_classes: Outputs of the last linear layer.

    Example:
        >>> sum(p.numel() for p in AlexNet().parameters())
        61100840
    """

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2),
        )
        # A no-op on 224x224 inputs (the features are already 6x6); it fixes the classifier's
        # input size for other resolutions.
        self.avgpool = nn.AdaptiveAvgPool2d(6)
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )
        _init_weights(self)


VGG16_STAGES: tuple[tuple[int, int], ...] = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
"""``(channels, 3x3 convolutions)`` of each VGG-16 stage (configuration D); a 2x2 max pool ends each."""


class VGG16(_FeaturesPoolClassifier):
    """VGG-16 without batch norm: 13 3x3 convolutions in 5 stages and 3 linear layers.

    Configuration D of Simonyan & Zisserman, "Very Deep Convolutional Networks for
    Large-Scale Image Recognition", ICLR 2015 (arXiv:1409.1556).

    Published: 138 M parameters (paper, Table 2); 138,357,544 parameters and 15.47 GMACs
    per 224x224 image (torchvision model table); this definition counts 15,470,264,320 MACs.

    Args:
        num_classes: Outputs of the last linear layer.
    """

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for width, convs in VGG16_STAGES:
            for _ in range(convs):
                layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
                channels = width
            layers.append(nn.MaxPool2d(2, stride=2))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(7)
        self.classifier = nn.Sequential(
            nn.Linear(channels * 7 * 7, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(4096, num_classes),
        )
        _init_weights(self)


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    # No bias: the batch norm that follows supplies the shift.
    return [nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False), nn.BatchNorm2d(c_out)]


class BasicBlock(nn.Module):
    """ResNet-18/34 block: two 3x3 convolutions with batch norm, plus the shortcut.

    Args:
        c_in: Input channels.
        width: Output channels.
        stride: Stride of the first convolution (2 halves height and width).
    """

    expansion = 1
    """Output channels per unit of ``width``."""

    def __init__(self, c_in: int, width: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(c_in, width, 3, stride)
        self.relu = nn.ReLU(inplace=True)
        self.conv2, self.bn2 = _conv_bn(width, width, 3)
        self.downsample = _projection(c_in, width * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


class Bottleneck(nn.Module):
    """ResNet-50/101/152 block: 1x1 reduce, 3x3, 1x1 expand (4x), plus the shortcut.

    The stride sits on the 3x3 convolution, as in torchvision ("ResNet v1.5"); the paper puts
    it on the first 1x1 convolution, which gives the same parameters and fewer MACs.

    Args:
        c_in: Input channels.
        width: Channels of the 1x1 and 3x3 convolutions; the block outputs ``4 * width``.
        stride: Stride of the 3x3 convolution.
    """

    expansion = 4
    """Output channels per unit of ``width``."""

    def __init__(self, c_in: int, width: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(c_in, width, 1)
        self.conv2, self.bn2 = _conv_bn(width, width, 3, stride)
        self.conv3, self.bn3 = _conv_bn(width, width * self.expansion, 1)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _projection(c_in, width * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


def _projection(c_in: int, c_out: int, stride: int) -> nn.Sequential | None:
    """The 1x1 convolution shortcut (option B of the paper) where the identity does not fit."""
    if stride == 1 and c_in == c_out:
        return None
    return nn.Sequential(*_conv_bn(c_in, c_out, 1, stride))


class ResNet(nn.Module):
    """ResNet for ImageNet: a 7x7 stem, four stages of residual blocks, pooling and a classifier.

    He et al., "Deep Residual Learning for Image Recognition", CVPR 2016 (arXiv:1512.03385).
    The stages have block widths 64, 128, 256 and 512; each but the first halves height and width.

    Published (paper, Table 1, multiply-adds): ResNet-18 1.8 G, ResNet-50 3.8 G. torchvision
    model table: ResNet-18 11,689,512 parameters and 1.81 GMACs; ResNet-50 25,557,032
    parameters and 4.09 GMACs (its stride on the 3x3 convolution adds MACs; see
    :class:`Bottleneck`). This definition counts 1,814,073,344 and 4,089,184,256 MACs.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        blocks: Blocks per stage, e.g. ``(2, 2, 2, 2)`` for ResNet-18, ``(3, 4, 6, 3)`` for ResNet-50.
        num_classes: Outputs of ``fc``.
    """

    def __init__(
        self, block: type[BasicBlock | Bottleneck], blocks: Sequence[int], num_classes: int = 1000
    ) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(3, 64, 7, stride=2)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = 64
        for stage, count in enumerate(blocks):
            width = 64 * 2**stage
            stride = 1 if stage == 0 else 2
            stage_blocks = []
            for index in range(count):
                stage_blocks.append(block(channels, width, stride if index == 0 else 1))
                channels = width * block.expansion
            self.add_module(f"layer{stage + 1}", nn.Sequential(*stage_blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        self.stages = len(blocks)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for stage in range(1, self.stages + 1):
            x = getattr(self, f"layer{stage}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _conv_bn_relu6(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expansion, 3x3 depthwise, 1x1 linear projection, residual sum.

    The expansion is left out when ``expand_ratio`` is 1; the input is added back only where
    the block keeps its shape (stride 1, ``c_in == c_out``).

    Args:
        c_in: Input channels.
        c_out: Output channels.
        stride: Stride of the depthwise convolution.
        expand_ratio: Hidden channels per input channel (``t`` in the paper).
    """

    def __init__(self, c_in: int, c_out: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = c_in * expand_ratio
        layers: list[nn.Module] = [] if expand_ratio == 1 else [_conv_bn_relu6(c_in, hidden, 1)]
        layers += [
            _conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, c_out, 1, bias=False),  # linear bottleneck: no activation
            nn.BatchNorm2d(c_out),
        ]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


MOBILENET_V2_BLOCKS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)
"""``(t, c, n, s)`` rows of MobileNetV2's Table 2: expansion, output channels, repeats, first stride."""


class MobileNetV2(_FeaturesPoolClassifier):
    """MobileNetV2 at width 1.0: 17 inverted residual blocks between a 3x3 stem and a 1x1 head.

    Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018
    (arXiv:1801.04381): a 3x3/2 stem of 32 channels, the blocks of :data:`MOBILENET_V2_BLOCKS`,
    a 1x1 convolution to 1280 channels, global average pooling, dropout 0.2 and a linear layer.

    Published: 300 M multiply-adds and 3.4 M parameters (paper, Table 4); 3,504,872
    parameters and 0.30 GMACs (torchvision model table); this definition counts 300,774,272 MACs.

    Args:
        num_classes: Outputs of the last linear layer.
    """

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        channels = 32
        layers: list[nn.Module] = [_conv_bn_relu6(3, channels, 3, stride=2)]
        for expand_ratio, c_out, repeats, stride in MOBILENET_V2_BLOCKS:
            for index in range(repeats):
                layers.append(InvertedResidual(channels, c_out, stride if index == 0 else 1, expand_ratio))
                channels = c_out
        layers.append(_conv_bn_relu6(channels, 1280, 1))
        self.features = nn.Sequential(*layers)
        # torchvision pools with a function call; a module marks the pooled features for the Zen
        # proxy. A trace names both ``avgpool``.
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))
        _init_weights(self)


_MODULES: dict[str, Callable[[int], nn.Module]] = {
    "alexnet": AlexNet,
    "mobilenet_v2": MobileNetV2,
    "resnet18": lambda num_classes: ResNet(BasicBlock, (2, 2, 2, 2), num_classes),
    "resnet50": lambda num_classes: ResNet(Bottleneck, (3, 4, 6, 3), num_classes),
    "vgg16": VGG16,
}
"""The reference models written here as modules."""

TORCHVISION_MODELS: tuple[str, ...] = (
    "alexnet", "convnext_tiny", "densenet121", "efficientnet_b0", "mobilenet_v2", "mobilenet_v3_large",
    "regnet_y_400mf", "resnet18", "resnet50", "squeezenet1_0", "vgg16", "vit_b_16",
)
"""torchvision's names of the 12 models measured on the H100, whose workloads are shipped."""

_WORKLOADS_FILE = "torchvision_workloads.json.gz"


@functools.cache
def _shipped() -> dict:
    data = resources.files("search_spaces") / "data" / _WORKLOADS_FILE
    with data.open("rb") as raw, gzip.open(raw, "rt") as text:
        return json.load(text)


def list_models() -> list[str]:
    """Registry names of the reference models, sorted (torchvision's names).

    Example:
        >>> list_models()[:4]
        ['alexnet', 'convnext_tiny', 'densenet121', 'efficientnet_b0']
        >>> len(list_models())
        12
    """
    return sorted(TORCHVISION_MODELS)


def _check_name(name: str) -> None:
    if name not in TORCHVISION_MODELS:
        raise ValueError(f"unknown reference model {name!r}; choose from {', '.join(list_models())}")


def build_model(name: str, num_classes: int = 1000) -> nn.Module:
    """A freshly initialised reference model, in training mode.

    AlexNet, VGG-16, ResNet-18, ResNet-50 and MobileNetV2 are defined here; the others are
    torchvision's (``torchvision.models.NAME(num_classes=...)``) and need it installed.

    Args:
        name: One of :func:`list_models`.
        num_classes: Outputs of the classifier (1000 for ImageNet).

    Raises:
        ValueError: Unknown name, ``num_classes`` below 1, or a torchvision model without
            torchvision (one line).

    Example:
        >>> net = build_model("resnet18", num_classes=10).eval()
        >>> net(torch.zeros(1, *model_input_shape("resnet18"))).shape
        torch.Size([1, 10])
    """
    _check_name(name)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if name in _MODULES:
        return _MODULES[name](num_classes)
    from search_spaces._torchvision import torchvision_models

    try:
        models = torchvision_models()
    except ModuleNotFoundError:
        raise ValueError(f"reference model {name!r} is built by torchvision, which is not installed "
                         f"(pip install torchvision); its workload needs no module: model_workload({name!r})") from None
    return getattr(models, name)(num_classes=num_classes)


def model_input_shape(name: str) -> tuple[int, int, int]:
    """``(channels, height, width)`` of one input image of a reference model: ``(3, 224, 224)``.

    Raises:
        ValueError: Unknown name.
    """
    _check_name(name)
    return IMAGENET_INPUT_SHAPE


def model_workload(name: str, batch_size: int = 1) -> Workload:
    """The layers of a reference model (1000 classes) as a Workload: torchvision's model, traced.

    Read from the shipped trace (see the module docstring), so neither torchvision nor torch's
    tracing runs; the rows are those :func:`~search_spaces.workload_from_module` gives for
    ``torchvision.models.NAME()``.

    Args:
        name: One of :func:`list_models`.
        batch_size: Images per forward pass (``n`` of every layer).

    Raises:
        ValueError: Unknown name, or ``batch_size`` below 1.

    Example:
        >>> wl = model_workload("vit_b_16", batch_size=256)
        >>> int(wl.macs.sum()) // 256, int(wl.params.sum())
        (17563828224, 86567656)
    """
    _check_name(name)
    rows = [TracedRow(row_name, method, shape, params)
            for row_name, method, shape, params in _shipped()["models"][name]["rows"]]
    return build_workload(rows, batch_size)


def shipped_versions() -> dict[str, str]:
    """The torch and torchvision versions the shipped workloads were traced with."""
    return {key: _shipped()[key] for key in ("torch", "torchvision")}
