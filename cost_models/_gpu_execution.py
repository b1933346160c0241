r"""How a framework issues a network's kernels to a GPU: eager PyTorch or a replayed CUDA graph.

The two modes differ in what a kernel costs besides its device time (measured on an H100
SXM; ``nas/data/h100/op_overhead.csv`` and ``machine.json``):

* ``eager``: the host issues every op through the framework's dispatcher, 8-12 us for an
  add or another op on two tensors (no ``nn.Module`` call), 13-17 us for an activation or
  pooling module, 19-33 us for a cuDNN convolution, 30-48 us for an eval batch norm (the
  16-bit channels-last one at the top). The host issues a layer while the GPU runs the one
  before, so a layer costs :math:`\max(t_{device}, t_{issue})`: small work is host-bound.

  Not a deeper queue, though the launch queue is asynchronous: were the host free to run
  many ops ahead, a long kernel would hide the issue of the ops after it. The measurements
  disagree on how far ahead it runs. Batch-256 fp16 torchvision models and NB201 cells (at fp16
  batch 256 a 3x3 average pool adds ~20 us in eager mode, less than its 49 us kernel) show host issue
  hidden behind kernels; yet torchvision models at batch 16 take a median 1.18x
  :math:`\max(\sum t_{issue}, \sum t_{device})`, more than a perfect queue allows (batch 1:
  1.10x, batch 64: 1.09x). Refitted, a perfect queue ranks the held-out torchvision eager
  rows at 0.89 against 0.92 for the per-layer overlap (and the NB201 eager rows at 0.78
  against 0.76), so the per-layer overlap is kept.

* ``cuda_graph``: a captured graph replays its kernels from the GPU's own queue; each
  kernel adds a gap of about 1.2 us (1000 tiny kernels in one graph: 1.19 us each), so a
  layer costs :math:`t_{device} + t_{gap}`.
"""

from __future__ import annotations

EXECUTION_MODES: tuple[str, ...] = ("cuda_graph", "eager")
"""Valid values of ``execution_mode`` (preset key, study ``[hardware]`` key, ``nas cost --mode``)."""


def check_execution_mode(mode: str, *, where: str = "execution_mode") -> str:
    """Return ``mode`` if it is one of :data:`EXECUTION_MODES`.

    Raises:
        ValueError: One line naming ``where`` and the choices.
    """
    if mode not in EXECUTION_MODES:
        raise ValueError(f"unknown {where} {mode!r}; choose from {', '.join(EXECUTION_MODES)}")
    return mode
