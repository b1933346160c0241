"""An EIE-like sparse engine: compressed sparse columns spread over PEs, zero weights and activations skipped.

EIE (Han et al., "EIE: Efficient Inference Engine on Compressed Deep Neural Network",
ISCA 2016) computes ``b = ReLU(W a)``. Row ``i`` of ``W`` lives in PE ``i mod N``; each PE
stores its slice of every column in compressed sparse column form: per kept weight an
entry of a ``weight_index_bits`` codebook index (weight sharing) and a
``relative_index_bits`` count of zeros since the previous entry, plus 16-bit column
pointers. A central unit finds the non-zero input activations and broadcasts each one
(one per cycle) to all PEs, which queue it (``activation_queue_depth``) and walk their
entries of that column, one MAC per cycle.

Mapping: a linear layer is ``N`` matrix-vector products of ``W`` (``K x C``). A
convolution, with ``conv_mapping = "im2col"``, is ``N*P*Q`` products per group of the
``K/G x (C/G*R*S)`` matrix with the im2col input vector (weights are stored once and
re-read for every output position; the input feature map, if it does not fit the PE
activation registers, streams from DRAM once per output position and tap). With
``"unsupported"`` convolutions are reported unsupported (NaN). In general the layer is
``G`` block-diagonal matrices of ``No = K/G`` rows and ``Kr = C/G*R*S`` columns. Average
pools and sums can be lowered to such matrices too (see weight-free layers below).

Padding: a run of more than ``2**b - 1`` zeros (``b = relative_index_bits``) needs a
filler zero entry. With weights non-zero independently with probability ``d`` and
``r = (1-d)**(2**b)``, the expected fillers in a PE's slice of ``n`` rows of a column are::

    pad(n) = d * sum_{j=1..J} r**j * (n - j*2**b),   J = floor((n - 1) / 2**b)

(a non-zero at position ``t`` after ``L`` zeros needs ``floor(L / 2**b)`` fillers and
``P(L >= j 2**b) = r**j`` while ``j 2**b <= t``), summed in closed form.

Load balance: the layer's time is set by the busiest PE, not the average. A PE spends
``Y = max(1, X)`` cycles on a broadcast activation, where ``X`` is its non-zeros plus
fillers in that column (a PE with none still pops the activation and reads its two
pointers). With ``nnz ~ Binomial(n, d)``, ``p0 = (1-d)**n``::

    E[Y] = n d + pad(n) + p0,   Var[Y] = n d (1-d) + p0 (1 - p0) - 2 n d p0

Over ``S`` broadcasts the busiest of ``k`` equally loaded PEs with unbounded queues takes
``S E[Y] + e_k sqrt(S Var[Y])`` (normal approximation of the maximum of ``k`` totals,
``e_k`` the expected maximum of ``k`` standard normals). A queue of depth ``Q`` bounds how
far PEs drift apart (EIE's Fig. 8: load-balance efficiency rises with queue depth and
saturates near 8). After ``t`` broadcasts the leading PE is about ``e_k sqrt(t Var[Y])``
cycles ahead of the mean; the queue caps that lead at ``Q E[Y]``, which it reaches every
``(Q E[Y])**2 / (e_k**2 Var[Y])`` broadcasts, so the broadcaster stalls for about
``c e_k**2 Var[Y] / (Q E[Y])`` cycles per broadcast::

    busiest = S E[Y] + e_k sqrt(S Var[Y]) + c e_k**2 S Var[Y] / (Q E[Y]),   c = 0.3

``c`` is fitted to a cycle simulation of the broadcast and queues
(``tests/test_sparse_engine_model.py``): for 16 to 1024 PEs, 4 to 64 rows per PE and queue
depths 1 to 32 the model is within 3 % of it (1 % on AlexNet FC6's shape at depth 8),
except for very sparse slices (about one non-zero per PE and column) at depths 1 and 2,
where it is up to 16 % low.

Joint density: the broadcast non-zero activations select the columns the PEs walk. Where the
workload carries a measured :attr:`~cost_models.Workload.joint_density` ``J`` (the share of dense
MACs whose weight and activation are both non-zero; EIE's Table III "FLOP %"), the selected
columns hold ``J / act_density`` non-zeros per row on average rather than ``d`` (on VGG-6 5.5 %
against the 4 % stored: non-zero activations meet denser columns), and ``d`` above is that
conditional density for the walk, the load balance and the fillers walked; what is stored (SRAM
residency, DRAM streaming) keeps ``d``. Without a measurement the two are independent and both
densities are ``d``.

PEs holding ``ceil(No/N)`` rows and those holding one fewer are two such groups; the
busier group sets the time. ``S = A * n_busy / P_used`` broadcasts reach each PE, with
``A = N*P*Q * G * Kr * act_density`` non-zero activations, ``n_busy = min(No, N)`` PEs per
column and ``P_used = min(N, G*No)`` PEs holding any rows. The broadcast itself is one
activation per cycle (``A`` cycles per output pass; a PE's destination registers hold
``activation_entries_per_pe`` outputs, more rows need more passes) and finding the
non-zeros scans ``N`` inputs per cycle. The layer takes the largest of the three.

Memory: the network's compressed weights (entries and pointers) stay in the PEs' SRAM
when all of them fit (loaded once, no DRAM traffic per inference); otherwise every layer
streams its compressed weights from DRAM. Input and output vectors live in the PE
activation registers (``N * activation_entries_per_pe`` entries each) when they fit. Longer
vectors stay in the PEs' activation SRAM (``activation_sram_bytes_per_pe``) when the parts
of both beyond the registers fit it together, and the layer runs in batches of the register
size, the SRAM read at the start and written at the end of each batch (EIE, Sec. IV:
"Longer activation vectors can be accommodated with the 2KB activation SRAM"); else the
vectors that overflow go through DRAM. A batch boundary costs no time here: the next
source batch loads while the queues still hold work (a cycle simulation that drains every
queue and spends 64 cycles on each reload adds about 2.5 % to VGG-16 FC6's seven input
batches, ``tests/test_sparse_engine_model.py``). Latency is
``max(compute, DRAM bytes / bandwidth)``.

Operands: a layer runs only if its weights are shared into at most ``2**weight_index_bits``
values (``weight_bits <= weight_index_bits``) and its activations fit the
``mac_bits``-wide fixed-point datapath; narrower activations gain nothing. EIE has no float
datapath and reads only those bits, whatever ``math`` says: fp4 (e2m1) weights are 16 values, a
4-bit codebook holds them exactly, and run as int4 weights do; fp6 weights (64 values) need
weight sharing to fit it and are unsupported otherwise. Every fp4 and fp6 activation value is
an exact 16-bit fixed-point value (e2m1 spans 0.5..6, e3m2 0.0625..28: 10 bits with the sign),
the per-tensor scale applied at the output as for integer activations. Wider float activations
are taken at their bit width too, though e4m3 (2**-9..448) needs 19 fixed-point bits: their
rounding on a 16-bit datapath is not modelled.

Unsupported layers get NaN and a line in the breakdown's ``unsupported_reason``. EIE has no
natural mapping for an activation-activation product (:attr:`LayerKind.MATMUL`: its "matrix" is
a fresh activation that would have to be pruned and CSC-encoded at run time) or for pure data
movement (:attr:`LayerKind.COPY`), so both are unsupported. A linear layer over ``rows`` tokens
(``P = rows``) is ``N*rows`` matrix-vector products of the same stored matrix, like a batch.

Weight-free layers: a 1-input elementwise layer (ReLU) and inference batch norm (an affine,
assumed folded into the preceding layer's weights and bias) run in the PEs' write-back at
``N`` elements per cycle. Pooling and multi-input elementwise layers have no datapath in
EIE; by default they are reported unsupported (NaN). Two lowerings onto the matrix-vector
path, which are this model's, not features of the paper's chip, can be switched on:

* ``pool_mapping = "matrix"``: average pooling over ``R x S`` windows of ``C`` channels is
  the depthwise convolution (``G = C`` groups, ``K/G = 1``, ``Kr = R*S``) whose weights are
  all ``1/(R*S)``, costed exactly as that convolution through the im2col path: dense, so
  ``C*R*S`` CSC entries (each a 4-bit index into the codebook, where ``1/(R*S)`` takes one
  entry, and a relative row index) and their column pointers are stored in the PEs' SRAM
  and count towards the network's residency like any other layer's weights. A pool's
  ``weight_bits`` is not checked: its one constant fits any codebook. The codebook itself
  is a register table loaded per layer and is not charged, as for every layer. PyTorch's
  ``count_include_pad=False`` (NB201's ``avg_pool_3x3``) divides border outputs by fewer
  taps, which a constant matrix does not: the extra scaling of border outputs is not
  charged (the IR does not record it). Max pooling is not linear in its inputs, so no matrix
  computes it: it stays unsupported whatever this key says.
* ``elementwise_mapping = "matrix"``: the sum of ``k`` tensors of ``C`` channels (an
  elementwise layer whose input is ``k`` times its output) is, per output pixel, the product
  of the ``C x kC`` block matrix ``[I I ... I]`` with the ``kC`` stacked inputs: ``G = 1``,
  ``K/G = C`` rows, ``Kr = k*C`` columns, weights all 1 at density ``1/C``, so ``k*C*P*Q``
  (times ``N``) MACs and ``k*C`` entries, costed by the sparse path at that density (the
  zero runs of an identity column are shorter than ``C/N`` rows per PE, so they need no
  fillers up to ``C = 16*N``). The broadcast sends every input, one per cycle, to all PEs
  holding rows: a sum is broadcast-bound, about ``N*k*C*P*Q*act_density`` cycles, and its
  column pointers (``k*C`` per PE) take pointer SRAM. Sums of the same ``C`` could share one
  stored matrix; each layer stores its own here, an upper estimate of the SRAM taken.

Energy (levels ``mac``, ``register_file``, ``buffer``, ``dram``), for lowered layers as for any
other matrix-vector product: every entry walked,
fillers included, is a ``mac_bits`` MAC; per entry a codebook read and an accumulator read
and write, per broadcast reaching a PE a queue write and read, at register-file energy;
sparse-matrix SRAM reads per entry and two pointer reads per broadcast and PE at the SRAM
size rule; activation SRAM reads and writes of the batched vectors at its size; DRAM bytes
at DRAM energy.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import ClassVar

import numpy as np

from cost_models._cost import Cost, CostModel, HardwareConfig
from cost_models._distinct_rows import DistinctRows
from cost_models._spec_fields import SpecFields
from cost_models._systolic import gemm_dims
from cost_models._technology import technology
from cost_models._workload import LayerKind, Workload

_BOUND_LABELS = np.array(["compute", "memory", "unsupported"])
"""``layer_bound`` labels, indexed by a per-layer code (a take is faster than nested string ``where``)."""

CONV_MAPPINGS = ("im2col", "unsupported")
POOL_MAPPINGS = ("matrix", "unsupported")
ELEMENTWISE_MAPPINGS = ("matrix", "unsupported")

_QUEUE_STALL = 0.3
"""``c`` of the queue-stall term, fitted to a cycle simulation of EIE's queues (module docstring)."""


@dataclasses.dataclass(frozen=True)
class SparseEngineConfig(HardwareConfig):
    """An EIE-like sparse matrix-vector engine; loaded from a ``family = "sparse"`` preset.

    Args:
        name: Configuration name.
        source: Paper or datasheet the numbers come from.
        n_pes: Processing elements.
        clock_mhz: Clock, in MHz.
        sparse_matrix_sram_bytes_per_pe: SRAM per PE for the compressed weight entries.
        pointer_sram_bytes_per_pe: SRAM per PE for the column pointers.
        pointer_bits: Width of a column pointer, in bits.
        activation_entries_per_pe: Source (and destination) activation registers per PE.
        activation_sram_bytes_per_pe: SRAM per PE for activation vectors longer than the
            registers hold (0: none, they go through DRAM).
        relative_index_bits: Bits of the zero-run count stored with each entry.
        weight_index_bits: Bits of the shared-weight codebook index stored with each entry.
        mac_bits: Width of the fixed-point datapath (activations, codebook values), in bits.
        activation_queue_depth: Depth of each PE's activation queue.
        conv_mapping: ``"im2col"`` (lower convolutions to matrix-vector) or ``"unsupported"``.
        pool_mapping: ``"matrix"`` (lower average pooling to a depthwise convolution with
            constant weights; a lowering, not an EIE feature) or ``"unsupported"`` (default).
        elementwise_mapping: ``"matrix"`` (lower a sum of ``k`` tensors to the sparse
            ``[I ... I]`` matrix; a lowering, not an EIE feature) or ``"unsupported"`` (default).
        offchip_bandwidth_gb_s: DRAM bandwidth, in GB/s.
        process_node_nm: Process node, in nm.

    Example:
        >>> from cost_models import load_hardware
        >>> eie = load_hardware("eie")
        >>> eie.n_pes, round(eie.peak_ops_per_s / 1e9, 1)
        (64, 102.4)
    """

    family: ClassVar[str] = "sparse"
    default_quantization: ClassVar[tuple[str, int, int]] = ("int8", 4, 16)
    """4-bit weight-sharing indices and 16-bit fixed-point activations (Han et al., ISCA 2016)."""
    name: str
    source: str
    n_pes: int
    clock_mhz: float
    sparse_matrix_sram_bytes_per_pe: int
    pointer_sram_bytes_per_pe: int
    pointer_bits: int
    activation_entries_per_pe: int
    activation_sram_bytes_per_pe: int
    relative_index_bits: int
    weight_index_bits: int
    mac_bits: int
    activation_queue_depth: int
    conv_mapping: str
    pool_mapping: str
    elementwise_mapping: str
    offchip_bandwidth_gb_s: float
    process_node_nm: float

    @property
    def peak_ops_per_s(self) -> float:
        """Peak rate on the compressed model: 2 ops (multiply, add) per PE per cycle."""
        return 2.0 * self.n_pes * self.clock_mhz * 1e6

    def roof(self, cost: Cost) -> tuple[float, float, str]:
        """2 x PEs x clock, counted on the work the engine does (skipped zeros can put a layer,
        plotted at dense-equivalent operations, above it), and the off-chip bandwidth."""
        return 2.0 * self.n_pes * self.clock_mhz * 1e6, self.offchip_bandwidth_gb_s * 1e9, f"{self.n_pes} PEs"

    def resources(self) -> dict[str, float]:
        """``mac_units``: one ``mac_bits`` MAC per PE; ``onchip_sram_bytes``: each PE's sparse-matrix,
        pointer and activation SRAM (not its activation registers, queue or codebook), times the PEs.

        Example:
            >>> from cost_models import load_hardware
            >>> load_hardware("eie").resources()
            {'mac_units': 64.0, 'onchip_sram_bytes': 11731072.0}
        """
        per_pe = self.sparse_matrix_sram_bytes_per_pe + self.pointer_sram_bytes_per_pe + \
            self.activation_sram_bytes_per_pe
        return {"mac_units": float(self.n_pes), "onchip_sram_bytes": float(self.n_pes * per_pe)}

    @classmethod
    def from_mapping(cls, data: dict, *, origin: str) -> SparseEngineConfig:
        fields = SpecFields(data, origin=origin, allowed=[f.name for f in dataclasses.fields(cls)])
        return cls(
            name=fields.string("name"),
            source=fields.string("source"),
            n_pes=fields.integer("n_pes"),
            clock_mhz=fields.number("clock_mhz"),
            sparse_matrix_sram_bytes_per_pe=fields.integer("sparse_matrix_sram_bytes_per_pe"),
            pointer_sram_bytes_per_pe=fields.integer("pointer_sram_bytes_per_pe"),
            pointer_bits=fields.integer("pointer_bits", maximum=64, default=16),
            activation_entries_per_pe=fields.integer("activation_entries_per_pe"),
            activation_sram_bytes_per_pe=fields.integer("activation_sram_bytes_per_pe", minimum=0, default=0),
            relative_index_bits=fields.integer("relative_index_bits", maximum=16),
            weight_index_bits=fields.integer("weight_index_bits", maximum=16),
            mac_bits=fields.integer("mac_bits", maximum=64),
            activation_queue_depth=fields.integer("activation_queue_depth"),
            conv_mapping=fields.choice("conv_mapping", CONV_MAPPINGS, default="im2col"),
            pool_mapping=fields.choice("pool_mapping", POOL_MAPPINGS, default="unsupported"),
            elementwise_mapping=fields.choice("elementwise_mapping", ELEMENTWISE_MAPPINGS, default="unsupported"),
            offchip_bandwidth_gb_s=fields.number("offchip_bandwidth_gb_s"),
            process_node_nm=fields.process_node(),
        )


def expected_padding(rows: np.ndarray, density: np.ndarray, index_bits: int) -> np.ndarray:
    """Expected filler entries in one PE's slice of ``rows`` rows of a column (closed form of ``pad(n)``).

    Args:
        rows: Rows of the column held by the PE (``n``, may be fractional on average).
        density: Probability that a weight is non-zero (``d``).
        index_bits: Relative-index width ``b``; a run of ``2**b`` zeros needs a filler.
    """
    span = 2.0**index_bits
    rows = np.asarray(rows, dtype=np.float64)
    density = np.asarray(density, dtype=np.float64)
    j_max = np.floor(np.maximum(rows - 1.0, 0.0) / span)
    r = (1.0 - density) ** span
    one_minus = 1.0 - r
    with np.errstate(divide="ignore", invalid="ignore"):
        r_j = r**j_max
        sum_r = np.where(one_minus > 1e-12, r * (1.0 - r_j) / one_minus, j_max)
        sum_jr = np.where(one_minus > 1e-12,
                          r * (1.0 - (j_max + 1.0) * r_j + j_max * r_j * r) / one_minus**2,
                          j_max * (j_max + 1.0) / 2.0)
    return np.maximum(density * (rows * sum_r - span * sum_jr), 0.0)


@functools.lru_cache(maxsize=16)
def _expected_max_table(n: int) -> np.ndarray:
    """``e_k``, the expected maximum of ``k`` i.i.d. standard normals, for ``k = 0..n`` (``e_0 = e_1 = 0``)."""
    x = np.linspace(-9.0, 9.0, 1801)
    cdf = 0.5 * (1.0 + np.array([math.erf(v / math.sqrt(2.0)) for v in x]))
    k = np.arange(n + 1, dtype=np.float64)[:, None]
    # E[max] = integral of x d(Phi(x)^k); Phi^k as exp(k log Phi) to stay finite.
    cdf_k = np.exp(k * np.log(np.maximum(cdf, 1e-300)))
    table = np.trapezoid(x * np.gradient(cdf_k, x, axis=1), x, axis=1)
    table[:2] = 0.0
    return table


class SparseEngineModel(CostModel):
    """Cost a workload on a :class:`SparseEngineConfig` (equations in the module docstring).

    Example:
        >>> from cost_models import NumberFormat, WorkloadBuilder, evaluate
        >>> b = WorkloadBuilder(batch_size=1)
        >>> b.linear("fc6", c=9216, k=4096)
        >>> wl = b.build().with_compression(weight_density=0.09, weight_bits=4, act_bits=16,
        ...                                 act_density=0.351, math=NumberFormat.INT8)
        >>> cost = evaluate(wl, "eie")
        >>> bool(20e-6 < cost.latency_s[0] < 40e-6)
        True
    """

    family: ClassVar[str] = "sparse"

    def evaluate(self, workload: Workload, hardware: HardwareConfig) -> Cost:
        if not isinstance(hardware, SparseEngineConfig):
            raise TypeError(f"SparseEngineModel costs SparseEngineConfig, not {type(hardware).__name__}")
        hw = hardware
        # Every term but weight residency is the layer's own, so each distinct row is costed once.
        # Residency is the network's (all its compressed weights fit the PE SRAMs, or every layer
        # streams its own): summed over the whole workload, it splits rows into resident and streamed.
        rows = DistinctRows.of(workload)
        spmat_bytes, pointer_bytes = _stored_weight_bytes(rows.table, hw)
        resident = (workload.per_network(rows.expand(spmat_bytes)) <= hw.n_pes * hw.sparse_matrix_sram_bytes_per_pe) & \
            (workload.per_network(rows.expand(pointer_bytes)) <= hw.n_pes * hw.pointer_sram_bytes_per_pe)
        rows, streamed = rows.split(~resident[workload.network])
        return rows.expand_cost(self._evaluate_rows(rows.table, hw, streamed), workload)

    def _evaluate_rows(self, workload: Workload, hw: SparseEngineConfig, streamed: np.ndarray) -> Cost:
        """The layers of ``workload`` costed one by one; ``streamed``: the layer's network does not
        keep its weights in the PE SRAMs, so the layer streams them from DRAM."""
        tech = technology(hw.process_node_nm)
        kind = workload.kind
        pes = hw.n_pes
        mapping = _Mapping.of(workload, hw)
        is_mv, supported = mapping.is_mv, mapping.supported
        groups, m, k_red, n_out, d = mapping.groups, mapping.m, mapping.k_red, mapping.n_out, mapping.density
        reason = _unsupported_reason(workload, hw, is_mv | mapping.is_writeback,
                                     mapping.fits_codebook | mapping.is_writeback, mapping.fits_datapath)
        d_walked = _walked_density(workload, d, mapping.constant_weights)
        # The matrix-vector terms are computed on the layers that run on the PEs only (in a
        # search space most layers are elementwise); other rows stay 0 (1 for the divisors)
        # and are masked below.
        rows = np.flatnonzero(is_mv)
        sub = _matrix_vector(groups[rows], m[rows], k_red[rows], n_out[rows], d[rows], d_walked[rows],
                             workload.act_density[rows], hw)
        mv = {}
        for name, values in sub.items():
            mv[name] = np.ones(len(workload)) if name in ("passes", "p_used") else np.zeros(len(workload))
            mv[name][rows] = values
        busiest, passes, col_entries, active = mv["busiest"], mv["passes"], mv["col_entries"], mv["active"]
        walked_col_entries = mv["walked_col_entries"]
        n_busy, p_used = mv["n_busy"], mv["p_used"]
        cycles = np.where(is_mv, mv["cycles"], np.ceil(workload.output_elems / pes))
        compute_s = cycles / (hw.clock_mhz * 1e6)

        entries_walked = active * walked_col_entries
        entry_bits = hw.relative_index_bits + hw.weight_index_bits
        spmat_bytes = groups * k_red * col_entries * entry_bits / 8.0
        pointer_bytes = (groups * k_red * n_busy + p_used) * hw.pointer_bits / 8.0
        dram_weights = np.where(is_mv & streamed, spmat_bytes + pointer_bytes, 0.0)

        act_bytes = hw.mac_bits / 8.0
        # Per PE and input vector: entries beyond the registers, and whether both overflows fit the SRAM.
        # A linear layer over ``rows`` tokens is a batch of ``N*rows`` vectors; other layers keep a
        # sample's tensor in the registers.
        vectors = np.where(kind == LayerKind.LINEAR, m, workload.n)
        overflow_in = np.maximum(np.ceil(workload.input_elems / vectors / pes) - hw.activation_entries_per_pe, 0)
        overflow_out = np.maximum(np.ceil(workload.output_elems / vectors / pes) - hw.activation_entries_per_pe, 0)
        staged = overflow_in + overflow_out <= hw.activation_sram_bytes_per_pe * 8 // hw.mac_bits
        # An im2col input is read once per output position and tap (the input itself for a linear layer or a sum).
        streamed_inputs = np.where(is_mv, m * groups * k_red * passes, workload.input_elems)
        inputs_beyond = np.where(overflow_in > 0, streamed_inputs, 0.0)
        outputs_beyond = np.where(overflow_out > 0, workload.output_elems, 0.0)
        dram_bytes = dram_weights + np.where(staged, 0.0, inputs_beyond + outputs_beyond) * act_bytes
        act_sram_bits = np.where(staged, inputs_beyond + outputs_beyond, 0.0) * hw.mac_bits
        memory_s = dram_bytes / (hw.offchip_bandwidth_gb_s * 1e9)

        broadcasts_reaching_pes = active * n_busy * passes
        rf_bits = np.where(is_mv, entries_walked * 3 * hw.mac_bits + broadcasts_reaching_pes * 2 * hw.mac_bits,
                           workload.output_elems * 2 * hw.mac_bits)
        spmat_bits = np.where(is_mv, entries_walked * entry_bits, 0.0) + 8 * dram_weights
        pointer_bits = np.where(is_mv, broadcasts_reaching_pes * 2 * hw.pointer_bits, 0.0)
        mac_pj = tech.int_mac_energy_pj(hw.mac_bits, hw.mac_bits)
        energy = {
            "mac": np.where(is_mv, entries_walked * mac_pj, workload.ops * tech.int_add_energy_pj(hw.mac_bits)),
            "register_file": rf_bits * tech.register_file_pj_per_bit,
            "buffer": spmat_bits * tech.sram_pj_per_bit(hw.sparse_matrix_sram_bytes_per_pe)
            + pointer_bits * tech.sram_pj_per_bit(hw.pointer_sram_bytes_per_pe)
            + act_sram_bits * tech.sram_pj_per_bit(hw.activation_sram_bytes_per_pe),
            "dram": 8 * dram_bytes * tech.dram_pj_per_bit,
        }

        nan = np.where(supported, 1.0, np.nan)
        useful = groups * m * k_red * n_out * d_walked * workload.act_density
        bound = _BOUND_LABELS[np.where(supported, np.where(compute_s >= memory_s, 0, 1), 2)]
        return Cost(
            hardware=hw.name,
            workload=workload,
            layer_latency_s=np.maximum(compute_s, memory_s) * nan,
            layer_energy_by_level_j={level: e * 1e-12 * nan for level, e in energy.items()},
            layer_bound=bound,
            layer_detail={
                "compute_s": compute_s * nan,
                "memory_s": memory_s * nan,
                "cycles": cycles * nan,
                "busiest_pe_cycles": np.where(is_mv, busiest, np.nan) * nan,
                "mean_pe_cycles": np.where(is_mv, entries_walked / p_used, np.nan) * nan,
                "utilization": np.divide(useful, cycles * pes, out=np.full(len(cycles), np.nan),
                                         where=is_mv & (cycles > 0)) * nan,
                "entries": np.where(is_mv, groups * k_red * col_entries, np.nan) * nan,
                "dram_bytes": dram_bytes * nan,
                "buffer_bytes": (spmat_bits + pointer_bits + act_sram_bits) / 8.0 * nan,
                "register_file_bytes": rf_bits / 8.0 * nan,
                "unsupported_reason": reason,
            },
            area_mm2=_area_mm2(hw),
            energy_method=f"{tech.describe()}; EIE-like CSC engine, busiest-PE load (Han et al., ISCA 2016)",
        )


def _unsupported_reason(workload: Workload, hw: SparseEngineConfig, has_path: np.ndarray,
                        fits_codebook: np.ndarray, fits_datapath: np.ndarray) -> np.ndarray:
    """Why each layer cannot run (``""`` where it can), for the breakdown's ``unsupported_reason``.

    An object array taken from a short table by a per-layer code: millions of rows share a few
    strings rather than each holding a fixed-width copy.
    """
    kind = workload.kind
    reasons = np.array([
        "",
        "activation x activation product: EIE multiplies a stored, compressed matrix by a vector, and its "
        "second operand would have to be pruned and encoded at run time",
        "data movement: EIE has no path between PE activation registers other than a matrix-vector product",
        "max pooling is not linear in its inputs, so no matrix computes it",
        'average pooling with pool_mapping = "unsupported"',
        'multi-input elementwise layer with elementwise_mapping = "unsupported"',
        'convolution with conv_mapping = "unsupported"',
        "no EIE datapath for this layer kind",
        f"weight_bits above the {hw.weight_index_bits}-bit shared-weight codebook index",
        f"act_bits above the {hw.mac_bits}-bit datapath",
    ], dtype=object)
    code = np.zeros(len(workload), dtype=np.int8)
    # Most layers run: the codes are worked out on the others only.
    rows = np.flatnonzero(~(has_path & fits_codebook & fits_datapath))
    kind, path = kind[rows], has_path[rows]
    no_path = np.select(
        [kind == LayerKind.MATMUL, kind == LayerKind.COPY, kind == LayerKind.MAX_POOL, kind == LayerKind.POOL,
         kind == LayerKind.ELEMENTWISE, np.isin(kind, (LayerKind.CONV, LayerKind.DEPTHWISE_CONV))],
        [1, 2, 3, 4, 5, 6], default=7)
    code[rows] = np.where(path, np.where(~fits_codebook[rows], 8, 9), no_path)
    return reasons[code]


def _walked_density(workload: Workload, density: np.ndarray, constant_weights: np.ndarray) -> np.ndarray:
    """Weight density of the columns that non-zero activations select (module docstring, joint density).

    ``joint_density / act_density`` where the joint density was measured, else ``density`` (the
    non-zeros of weights and activations independent); lowered layers keep their constant matrix.
    """
    walked = density.copy()
    measured = np.flatnonzero(~np.isnan(workload.joint_density) & ~constant_weights & (workload.act_density > 0))
    walked[measured] = np.minimum(workload.joint_density[measured] / workload.act_density[measured], 1.0)
    return walked


def _matrix_vector(groups: np.ndarray, m: np.ndarray, k_red: np.ndarray, n_out: np.ndarray,
                   density: np.ndarray, walked_density: np.ndarray, act_density: np.ndarray,
                   hw: SparseEngineConfig) -> dict[str, np.ndarray]:
    """Busiest-PE load, output passes, cycles and CSC entries per column of matrix-vector layers.

    ``density`` sets what is stored (every column), ``walked_density`` what the broadcast
    activations walk (the columns they select).
    """
    pes = hw.n_pes
    n_busy = np.minimum(n_out, pes)
    p_used = np.minimum(pes, groups * n_out)
    active = m * groups * k_red * act_density
    per_pe = active * n_busy / p_used
    rows_hi = np.ceil(n_out / n_busy)
    count_hi = n_out - n_busy * (rows_hi - 1.0)
    busiest = np.maximum(
        _group_load(rows_hi, count_hi * p_used / n_busy, per_pe, walked_density, hw),
        _group_load(rows_hi - 1.0, (n_busy - count_hi) * p_used / n_busy, per_pe, walked_density, hw),
    )
    passes = np.ceil(rows_hi / hw.activation_entries_per_pe)
    scan = m * groups * k_red / pes * passes
    stored = _column_entries(n_out, n_busy, density, hw)
    walked = stored.copy()
    # Only layers with a measured joint density walk columns of another density than they store.
    differ = np.flatnonzero(walked_density != density)
    walked[differ] = _column_entries(n_out[differ], n_busy[differ], walked_density[differ], hw)
    return {
        "busiest": busiest,
        "passes": passes,
        "cycles": np.maximum.reduce([busiest, active * passes, scan]),
        "col_entries": stored,
        "walked_col_entries": walked,
        "active": active,
        "n_busy": n_busy,
        "p_used": p_used,
    }


def _column_entries(n_out: np.ndarray, n_busy: np.ndarray, density: np.ndarray,
                    hw: SparseEngineConfig) -> np.ndarray:
    """Expected CSC entries (non-zeros and fillers) of one column of ``n_out`` rows over ``n_busy`` PEs."""
    return n_out * density + n_busy * expected_padding(n_out / n_busy, density, hw.relative_index_bits)


def _group_load(rows: np.ndarray, pes: np.ndarray, broadcasts: np.ndarray, density: np.ndarray,
                hw: SparseEngineConfig) -> np.ndarray:
    """Expected cycles of the busiest of ``pes`` PEs that each hold ``rows`` rows of every column."""
    p0 = (1.0 - density) ** rows
    nnz = rows * density
    mean = nnz + expected_padding(rows, density, hw.relative_index_bits) + p0
    var = np.maximum(nnz * (1.0 - density) + p0 * (1.0 - p0) - 2.0 * nnz * p0, 0.0)
    e_max = _expected_max_table(hw.n_pes)[np.clip(np.round(pes).astype(np.int64), 0, hw.n_pes)]
    stalls = _QUEUE_STALL * e_max**2 * broadcasts * var / (hw.activation_queue_depth * mean)
    load = broadcasts * mean + e_max * np.sqrt(broadcasts * var) + stalls
    return np.where((rows > 0) & (pes >= 0.5), load, 0.0)


@dataclasses.dataclass(frozen=True)
class _Mapping:
    """How each layer maps onto the PEs: which path runs it and the matrix it multiplies
    (``groups`` block-diagonal matrices of ``n_out x k_red`` at weight density ``density``)."""

    is_mv: np.ndarray
    is_writeback: np.ndarray
    constant_weights: np.ndarray
    fits_codebook: np.ndarray
    fits_datapath: np.ndarray
    supported: np.ndarray
    groups: np.ndarray
    m: np.ndarray
    k_red: np.ndarray
    n_out: np.ndarray
    density: np.ndarray

    @classmethod
    def of(cls, workload: Workload, hw: SparseEngineConfig) -> _Mapping:
        kind = workload.kind
        is_conv = np.isin(kind, (LayerKind.CONV, LayerKind.DEPTHWISE_CONV))
        has_weights = (kind == LayerKind.LINEAR) | (is_conv & (hw.conv_mapping == "im2col"))
        # Lowered layers (module docstring): average pools and sums of k >= 2 tensors.
        pool_mv = (kind == LayerKind.POOL) & (hw.pool_mapping == "matrix")
        single_input = workload.input_elems == workload.output_elems
        sum_mv = (kind == LayerKind.ELEMENTWISE) & ~single_input & (hw.elementwise_mapping == "matrix")
        constant_weights = pool_mv | sum_mv
        is_mv = has_weights | constant_weights
        is_writeback = ((kind == LayerKind.ELEMENTWISE) & single_input) | (kind == LayerKind.NORM)
        # A lowered layer's one constant weight takes one codebook entry, whatever its weight_bits.
        fits_codebook = (workload.weight_bits <= hw.weight_index_bits) | constant_weights
        fits_datapath = workload.act_bits <= hw.mac_bits
        supported = ((is_mv & fits_codebook) | is_writeback) & fits_datapath

        groups, m, k_red, n_out = gemm_dims(workload)
        inputs = workload.input_elems / workload.output_elems
        return cls(
            is_mv=is_mv, is_writeback=is_writeback, constant_weights=constant_weights,
            fits_codebook=fits_codebook, fits_datapath=fits_datapath, supported=supported,
            groups=np.where(sum_mv, 1.0, groups), m=m,
            k_red=np.where(sum_mv, inputs * workload.c, k_red),
            n_out=np.where(sum_mv, workload.c, n_out),
            density=np.where(sum_mv, 1.0 / workload.c, np.where(pool_mv, 1.0, workload.weight_density)),
        )


def _stored_weight_bytes(workload: Workload, hw: SparseEngineConfig) -> tuple[np.ndarray, np.ndarray]:
    """Compressed weight bytes of each layer run on the PEs, in ``(sparse-matrix SRAM, pointer SRAM)``
    (0 for the other layers): what its network must fit to keep its weights on chip."""
    mapping = _Mapping.of(workload, hw)
    rows = np.flatnonzero(mapping.is_mv & mapping.supported)
    groups, k_red, n_out = mapping.groups[rows], mapping.k_red[rows], mapping.n_out[rows]
    n_busy = np.minimum(n_out, hw.n_pes)
    p_used = np.minimum(hw.n_pes, groups * n_out)
    col_entries = _column_entries(n_out, n_busy, mapping.density[rows], hw)
    spmat_bytes = np.zeros(len(workload))
    pointer_bytes = np.zeros(len(workload))
    spmat_bytes[rows] = groups * k_red * col_entries * (hw.relative_index_bits + hw.weight_index_bits) / 8.0
    pointer_bytes[rows] = (groups * k_red * n_busy + p_used) * hw.pointer_bits / 8.0
    return spmat_bytes, pointer_bytes


def _area_mm2(hw: SparseEngineConfig) -> float:
    """PE arithmetic (one MAC each) and all SRAM, in mm² (no control or interconnect)."""
    tech = technology(hw.process_node_nm)
    sram = hw.sparse_matrix_sram_bytes_per_pe + hw.pointer_sram_bytes_per_pe + hw.activation_sram_bytes_per_pe + \
        2 * hw.activation_entries_per_pe * hw.mac_bits / 8.0
    return hw.n_pes * (tech.int_mac_area_um2(hw.mac_bits, hw.mac_bits) * 1e-6 + tech.sram_area_mm2(sram))
