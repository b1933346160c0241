r"""How a framework issues a network's kernels to a GPU: eager PyTorch or a replayed CUDA graph.

The two modes differ in what a kernel costs besides its device time (measured on an H100
SXM; ``nas/data/h100/op_overhead.csv`` and ``machine.json``):

* ``eager``: the host issues every op through the framework's dispatcher, 8-12 us for an
  add, 13-17 us for an activation or pooling, 19-33 us for a cuDNN convolution, 30-48 us
  for an eval batch norm. The launch queue is asynchronous: a kernel starts when the host
  has issued it and the kernel before it has finished, so a long kernel's device time
  hides the host issue of the ops after it (:func:`eager_queue`). Small work is host-bound.
* ``cuda_graph``: a captured graph replays its kernels from the GPU's own queue; each
  kernel adds a gap of about 1.2 us (1000 tiny kernels in one graph: 1.19 us each), so a
  layer costs :math:`t_{device} + t_{gap}`.
"""

from __future__ import annotations

import numpy as np

EXECUTION_MODES: tuple[str, ...] = ("cuda_graph", "eager")
"""Valid values of ``execution_mode`` (preset key, study ``[hardware]`` key, ``nas cost --mode``)."""


def check_execution_mode(mode: str, *, where: str = "execution_mode") -> str:
    """Return ``mode`` if it is one of :data:`EXECUTION_MODES`.

    Raises:
        ValueError: One line naming ``where`` and the choices.
    """
    if mode not in EXECUTION_MODES:
        raise ValueError(f"{where} is {mode!r}; choose from {', '.join(EXECUTION_MODES)}")
    return mode


def _segment_cumsum(values: np.ndarray, first: np.ndarray, segment: np.ndarray) -> np.ndarray:
    total = np.cumsum(values)
    return total - (total - values)[first][segment]


def eager_queue(device_s: np.ndarray, issue_s: np.ndarray, network: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Per-layer time of an eager network whose host issues kernels into an asynchronous queue.

    The host issues the layers of a network one after another (layer *i* is ready at
    :math:`H_i = \sum_{j \le i} h_j`, ``issue_s``); the GPU runs them in order, each when it
    is ready and the one before has finished:
    :math:`f_i = \max(H_i, f_{i-1}) + d_i` (``device_s``). Unrolled,
    :math:`f_i = D_i + \max_{j \le i} (H_j - D_{j-1})` with :math:`D_i = \sum_{j \le i} d_j`,
    which is what is computed, per network, with cumulative sums and a cumulative maximum.
    A layer's time is what it adds to the network's finish time, :math:`f_i - f_{i-1}`:
    its device time plus the time the GPU waited for the host to issue it. The network's
    time is :math:`f_n` (the timed region ends when the last kernel does), between
    :math:`\max(H_n, D_n)` and :math:`\sum_i \max(h_i, d_i)`: a long kernel hides the host
    issue of the small ops after it.

    Args:
        device_s: Device time of each layer, seconds.
        issue_s: Host issue time of each layer, seconds.
        network: Network index of each layer (non-decreasing; layers in issue order).

    Returns:
        ``(latency_s, wait_s)``: each layer's share of its network's time, and the part of
        it the GPU sat idle waiting for the host (``latency_s = device_s + wait_s``).

    Example:
        >>> lat, wait = eager_queue(np.array([50.0, 5.0, 5.0]), np.array([20.0, 30.0, 30.0]), np.zeros(3, int))
        >>> lat.tolist(), wait.tolist()  # the 50 s kernel hides the next op's 30 s of issue
        ([70.0, 5.0, 10.0], [20.0, 0.0, 5.0])
    """
    size = len(device_s)
    if size == 0:
        return np.zeros(0), np.zeros(0)
    starts = np.ones(size, dtype=bool)
    starts[1:] = network[1:] != network[:-1]
    first = np.flatnonzero(starts)
    segment = np.cumsum(starts) - 1
    ready = _segment_cumsum(issue_s, first, segment) - (_segment_cumsum(device_s, first, segment) - device_s)
    # A cumulative maximum within each network: lift every network above the ones before it.
    lift = segment * (float(ready.max() - ready.min()) + 1.0)
    start_gap = np.maximum.accumulate(ready + lift) - lift
    wait_s = np.empty(size)
    wait_s[0] = start_gap[0]
    np.subtract(start_gap[1:], start_gap[:-1], out=wait_s[1:])
    wait_s[first] = start_gap[first]
    np.maximum(wait_s, 0.0, out=wait_s)
    return device_s + wait_s, wait_s
