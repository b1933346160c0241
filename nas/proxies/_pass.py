"""One training-mode forward pass of a network on a batch, and the derivatives the data-dependent proxies read.

snip, grasp, grad_norm and fisher (Abdelfattah et al., ICLR 2021), jacob_cov and NASWOT
(Mellor et al., ICML 2021) all run the network once on the same batch in training mode
and read different derivatives of it. Their reference implementations each rebuild the
network and repeat the forward pass; since the pass is deterministic (batch-norm uses
the batch's statistics, dropout is off, nothing is updated), one :class:`ForwardPass`
computes it once and each proxy reads what it needs, which gives the same numbers at a
fraction of the cost.
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Collection
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from nas._errors import InputError
from nas.proxies._base import Proxy, checked

NEEDS = ("relu_kernel", "input_gradient", "weight_gradients", "output_gradients", "hessian_gradient")
"""What a :class:`ForwardPass` can compute; a proxy names the subset it reads."""

_RECTIFIERS = (nn.ReLU, nn.ReLU6)
"""Modules whose inputs' signs form NASWOT's binary codes (Mellor et al. hook every ``ReLU``)."""

_LOSS_NEEDS = {"weight_gradients", "output_gradients", "hessian_gradient"}


def training_copy(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` as the proxies run it: training mode, dropout off, no in-place activations.

    Training mode makes batch norms use the batch's statistics, as the proxies' papers do
    on freshly initialised networks; dropout would make a score random, so it is off; an
    in-place ReLU would overwrite the activations that fisher and NASWOT read.
    """
    net = copy.deepcopy(module)
    net.train()
    for layer in net.modules():
        if isinstance(layer, nn.modules.dropout._DropoutNd):
            layer.eval()
        if isinstance(getattr(layer, "inplace", None), bool):
            layer.inplace = False
    for parameter in net.parameters():
        parameter.requires_grad_(True)
    return net


def weight_layers(module: nn.Module) -> list[tuple[str, nn.Conv2d | nn.Linear]]:
    """The conv and linear layers of ``module`` by name: the layers whose weights the proxies score."""
    return [(name, layer) for name, layer in module.named_modules() if isinstance(layer, nn.Conv2d | nn.Linear)]


class ForwardPass:
    """Run a training copy of ``module`` on ``inputs`` once and compute the derivatives in ``needs``.

    Args:
        module: The network; left unchanged (the pass runs on :func:`training_copy`).
        inputs: A batch ``(n, ...)``.
        targets: Class labels ``(n,)`` for the cross-entropy loss; needed for the loss terms.
        needs: A subset of :data:`NEEDS`:

            * ``relu_kernel``: NASWOT's kernel ``K[i, j]`` = the number of rectifier units
              on which samples ``i`` and ``j`` agree in sign (``x > 0``), summed over every
              ``nn.ReLU``/``nn.ReLU6`` module (``relu_units`` says how many ran);
            * ``input_gradient``: ``d sum(outputs) / d inputs``, one row per sample;
            * ``weight_gradients``: ``dL/dW`` of every conv and linear weight, ``L`` the
              mean cross-entropy of the batch;
            * ``output_gradients``: each conv and linear layer's output and ``dL/d output``;
            * ``hessian_gradient``: ``H g`` for every weight, ``g = dL/dW`` (held constant)
              and ``H`` the Hessian of ``L`` (GraSP's Hessian-gradient product).

    Attributes:
        weights: The conv and linear weights (detached), in :func:`weight_layers` order.
        weight_gradients, hessian_gradient: Lists in the same order (zeros for a weight the
            loss does not reach).
        outputs, output_gradients: Lists in the same order; ``None`` for a layer the forward
            pass did not call.
        input_gradient: Tensor shaped like ``inputs``.
        relu_kernel: ``(n, n)`` float64 array; ``relu_units``: the rectifier modules that ran.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> p = ForwardPass(net, torch.randn(5, 4), torch.arange(5) % 3, needs={"weight_gradients", "relu_kernel"})
        >>> [tuple(g.shape) for g in p.weight_gradients], p.relu_kernel.shape, float(p.relu_kernel[0, 0])
        ([(8, 4), (3, 8)], (5, 5), 8.0)
    """

    def __init__(
        self,
        module: nn.Module,
        inputs: torch.Tensor,
        targets: torch.Tensor | None = None,
        *,
        needs: Collection[str],
    ) -> None:
        unknown = sorted(set(needs) - set(NEEDS))
        if unknown:
            raise InputError(f"ForwardPass.needs: unknown {', '.join(map(repr, unknown))}; "
                             f"choose from {', '.join(NEEDS)}")
        if _LOSS_NEEDS & set(needs) and targets is None:
            raise InputError(f"ForwardPass: {', '.join(sorted(_LOSS_NEEDS & set(needs)))} need targets (class labels)")
        net = training_copy(module)
        layers = [layer for _, layer in weight_layers(net)]
        dtype = next((parameter.dtype for parameter in net.parameters()), inputs.dtype)
        x = inputs.detach().to(dtype).clone().requires_grad_("input_gradient" in needs)

        handles = []
        self.relu_units = 0
        self.relu_kernel = np.zeros((len(x), len(x)))
        if "relu_kernel" in needs:
            for layer in net.modules():
                if isinstance(layer, _RECTIFIERS):
                    handles.append(layer.register_forward_hook(self._count_codes))
        outputs: dict[int, torch.Tensor] = {}
        if "output_gradients" in needs:
            for index, layer in enumerate(layers):
                handles.append(layer.register_forward_hook(_keep_output(outputs, index)))
        try:
            with torch.enable_grad():
                logits = net(x)
        finally:
            for handle in handles:
                handle.remove()

        self.weights = [layer.weight.detach() for layer in layers]
        self.input_gradient = None
        if "input_gradient" in needs:
            # A cell with no path from its input (its output a zeros_like) leaves x unused: a zero gradient.
            (gradient,) = torch.autograd.grad(logits, x, torch.ones_like(logits), allow_unused=True,
                                              retain_graph=bool(_LOSS_NEEDS & set(needs)))
            self.input_gradient = torch.zeros_like(x) if gradient is None else gradient
        self.weight_gradients: list[torch.Tensor] = []
        self.outputs: list[torch.Tensor | None] = [outputs.get(i) for i in range(len(layers))]
        self.output_gradients: list[torch.Tensor | None] = [None] * len(layers)
        self.hessian_gradient: list[torch.Tensor] = []
        if not _LOSS_NEEDS & set(needs):
            return
        loss = functional.cross_entropy(logits, targets)
        weights = [layer.weight for layer in layers]
        called = [i for i, out in enumerate(self.outputs) if out is not None]
        hessian = "hessian_gradient" in needs
        grads = torch.autograd.grad(loss, weights + [self.outputs[i] for i in called], create_graph=hessian,
                                    allow_unused=True)
        self.weight_gradients = [torch.zeros_like(w) if g is None else g for w, g in zip(weights, grads, strict=False)]
        for i, grad in zip(called, grads[len(weights):], strict=True):
            self.output_gradients[i] = grad.detach()
        self.outputs = [None if out is None else out.detach() for out in self.outputs]
        if hessian:
            # GraSP: differentiate g_const . g(W) once more, which gives H g without forming H.
            product = sum((g.detach() * g).sum() for g in self.weight_gradients if g.requires_grad)
            if isinstance(product, torch.Tensor):
                hg = torch.autograd.grad(product, weights, allow_unused=True)
                self.hessian_gradient = [torch.zeros_like(w) if h is None else h for w, h in zip(weights, hg,
                                                                                                  strict=True)]
            else:
                self.hessian_gradient = [torch.zeros_like(w) for w in weights]
        self.weight_gradients = [g.detach() for g in self.weight_gradients]

    def _count_codes(self, module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        codes = (args[0].detach() > 0).flatten(1).to(torch.float32)
        # Agreements = matching ones + matching zeros (NASWOT's K = c c^T + (1-c)(1-c)^T);
        # float32 counts are exact up to 2**24 units per module.
        agree = codes @ codes.T + (1 - codes) @ (1 - codes).T
        self.relu_kernel += agree.double().numpy()
        self.relu_units += 1


def _keep_output(store: dict[int, torch.Tensor], index: int):
    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        # A layer called more than once (shared weights) keeps its first call's output:
        # fisher reads one activation per layer, as its reference implementation does.
        store.setdefault(index, output)

    return hook


class PassProxy(Proxy):
    """A proxy that reads one :class:`ForwardPass`; :func:`~nas.proxies.score_proxies` shares the pass among them.

    Subclasses set :attr:`needs` and implement :meth:`_from_pass`.
    """

    needs: ClassVar[frozenset[str]]
    """The parts of :data:`NEEDS` the proxy reads."""

    def score_pass(self, forward_pass: ForwardPass) -> float:
        """The proxy's score from a pass that computed (at least) :attr:`needs`.

        Raises:
            ProxyError: The score is NaN or infinite.
        """
        return checked(self.name, self._from_pass(forward_pass))

    def _compute(self, module: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | None) -> float:
        return self._from_pass(ForwardPass(module, inputs, targets, needs=self.needs))

    @abc.abstractmethod
    def _from_pass(self, forward_pass: ForwardPass) -> float:
        """The raw score, which may be non-finite; :meth:`score_pass` checks it."""
