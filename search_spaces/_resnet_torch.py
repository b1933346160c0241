"""Networks of the ResNet search space as torch modules, laid out as torchvision's ResNet.

Module names match the layer names of :meth:`ResNetSpace.workload` (``conv1``, ``maxpool``,
``layer2.0.conv2``, ``layer2.0.downsample.0``, ``layer1.1.add`` for a residual sum,
``fc``), so a traced workload (:func:`~search_spaces.workload_from_module`) lines up with
the analytic one layer by layer. Basic blocks, shortcuts and weight initialisation are
those of :mod:`search_spaces._reference_models`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from search_spaces._reference_models import BasicBlock, _conv_bn, _init_weights, _projection


class ElasticBottleneck(nn.Module):
    """ResNet's bottleneck block with any inner and outer channels: 1x1, 3x3, 1x1, plus the shortcut.

    With ``c_out == 4 * mid`` it is :class:`~search_spaces._reference_models.Bottleneck`
    (the stride on the 3x3 convolution, "ResNet v1.5"); Wide ResNet-50-2 has ``c_out == 2 * mid``.

    Args:
        c_in: Input channels.
        mid: Channels of the 1x1 reduction and the 3x3 convolution.
        c_out: Output channels.
        stride: Stride of the 3x3 convolution.

    Example:
        >>> block = ElasticBottleneck(64, 96, 256, stride=2)
        >>> block(torch.zeros(1, 64, 16, 16)).shape
        torch.Size([1, 256, 8, 8])
    """

    def __init__(self, c_in: int, mid: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(c_in, mid, 1)
        self.conv2, self.bn2 = _conv_bn(mid, mid, 3, stride)
        self.conv3, self.bn3 = _conv_bn(mid, c_out, 1)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _projection(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


class ResNetNetwork(nn.Module):
    """A network of the ResNet space: 7x7/2 stem and max pool, four stages of blocks, pool, ``fc``.

    Build one with :meth:`ResNetSpace.build`, which works out the channels. Weights are
    initialised as the reference models are (He-normal convolutions, N(0, 0.01) linear).

    Args:
        block: ``"basic"`` or ``"bottleneck"``.
        stem: Output channels of the stem convolution.
        stages: For each of the four stages, ``(c_in, mid, c_out, stride)`` of each block
            (``mid == c_out`` for basic blocks).
        num_classes: Outputs of ``fc``.

    Example:
        >>> from search_spaces import ResNetSpace
        >>> net = ResNetSpace().build("basic_r128_w0.5_d1-1-1-1")
        >>> net(torch.zeros(1, 3, 128, 128)).shape
        torch.Size([1, 1000])
    """

    def __init__(
        self, block: str, stem: int, stages: Sequence[Sequence[tuple[int, int, int, int]]], num_classes: int
    ) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(3, stem, 7, stride=2)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        for stage, blocks in enumerate(stages, start=1):
            if block == "basic":
                layers = [BasicBlock(c_in, c_out, stride) for c_in, _, c_out, stride in blocks]
            else:
                layers = [ElasticBottleneck(*spec) for spec in blocks]
            self.add_module(f"layer{stage}", nn.Sequential(*layers))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(stages[-1][-1][2], num_classes)
        self.stages = len(stages)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for stage in range(1, self.stages + 1):
            x = getattr(self, f"layer{stage}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))
