"""Networks of the MobileNet search space as torch modules, laid out as torchvision's MobileNetV2.

Module names match the layer names of :meth:`MobileNetSpace.workload` (``features.0.0``,
``features.2.conv.1.0``, ``features.3.add`` for a residual sum, ``avgpool``,
``classifier.1``), so a traced workload (:func:`~search_spaces.workload_from_module`) lines
up with the analytic one layer by layer. The stem, the head and the weight initialisation
are those of :class:`~search_spaces._reference_models.MobileNetV2`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from search_spaces._reference_models import _conv_bn_relu6, _FeaturesPoolClassifier, _init_weights


class ElasticInvertedResidual(nn.Module):
    """MobileNetV2's inverted residual block with any depthwise kernel size.

    1x1 expansion (left out when ``hidden == c_in``), ``kernel x kernel`` depthwise
    convolution, 1x1 linear projection, and the input added back where the block keeps
    its shape. With ``kernel=3`` it is :class:`~search_spaces._reference_models.InvertedResidual`.

    Args:
        c_in: Input channels.
        hidden: Channels of the expansion and the depthwise convolution.
        c_out: Output channels.
        kernel: Depthwise kernel size (odd; padded to keep the size at stride 1).
        stride: Stride of the depthwise convolution.

    Example:
        >>> block = ElasticInvertedResidual(16, 96, 16, kernel=7, stride=1)
        >>> block(torch.zeros(1, 16, 12, 12)).shape
        torch.Size([1, 16, 12, 12])
    """

    def __init__(self, c_in: int, hidden: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [] if hidden == c_in else [_conv_bn_relu6(c_in, hidden, 1)]
        layers += [
            _conv_bn_relu6(hidden, hidden, kernel, stride, groups=hidden),
            nn.Conv2d(hidden, c_out, 1, bias=False),  # linear bottleneck: no activation
            nn.BatchNorm2d(c_out),
        ]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetNetwork(_FeaturesPoolClassifier):
    """A network of the MobileNet space: stem, inverted residual blocks, 1x1 head, classifier.

    Build one with :meth:`MobileNetSpace.build`, which works out the channels. Weights are
    initialised as torchvision's MobileNetV2 (He-normal convolutions, N(0, 0.01) linear).

    Args:
        stem: Output channels of the 3x3/2 stem convolution.
        blocks: ``(c_in, hidden, c_out, kernel, stride)`` of each block, in order.
        head: Output channels of the last 1x1 convolution.
        num_classes: Outputs of the classifier.

    Example:
        >>> from search_spaces import MobileNetArch, MobileNetSpace
        >>> net = MobileNetSpace().build(MobileNetArch.mobilenet_v2(0.35, 96))
        >>> net(torch.zeros(1, 3, 96, 96)).shape
        torch.Size([1, 1000])
    """

    def __init__(
        self, stem: int, blocks: Sequence[tuple[int, int, int, int, int]], head: int, num_classes: int
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn_relu6(3, stem, 3, stride=2)]
        layers += [ElasticInvertedResidual(*block) for block in blocks]
        layers.append(_conv_bn_relu6(blocks[-1][2], head, 1))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(head, num_classes))
        _init_weights(self)
