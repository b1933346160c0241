"""`nas validate`: every cost model against the published or measured number it must reproduce."""

import importlib.resources
import tomllib

import numpy as np
import pytest
from click.testing import CliRunner

from cli import main
from cost_models import PRESET_DIR
from nas import run_validation
from nas.validation import format_validation, output_reachable, spearman_rho
from search_spaces import NB201_N_ARCHS, arch_to_index, eie_benchmark_layers, index_to_arch

REFERENCES = tomllib.loads((importlib.resources.files("nas") / "data" / "validation_references.toml").read_text())

_LAUNCH_FREE = ("rank", "median |error|", "bias", "share within ±25%")


def _gpu_groups() -> list[str]:
    """``H100 <file> <precision> [batch B] <mode> (<split>)`` of every group of the measured files."""
    import csv

    from search_spaces import list_models

    data = importlib.resources.files("nas") / "data" / "h100"
    rows = {name: list(csv.DictReader((data / f"{name}.csv").read_text().splitlines()))
            for name in ("nb201_calibration", "torchvision", "gemm", "op_overhead")}
    precision = {"float32": "fp32", "float32_tf32": "tf32", "float16": "fp16"}
    mode = {"graph": "cuda_graph", "eager": "eager", "eager_loop": "eager"}
    models = sorted({r["model"] for r in rows["torchvision"]})
    keys = [
        *(("nb201_calibration", precision[r["dtype"]], int(r["batch"]), mode[r["mode"]],
           "fit" if arch_to_index(r["arch"]) % 2 == 0 else "held-out") for r in rows["nb201_calibration"]),
        *(("torchvision", precision[r["dtype"]], int(r["batch"]), "eager",
           "fit" if models.index(r["model"]) % 2 == 0 else "held-out")
          for r in rows["torchvision"] if r["model"] in list_models()),
        *(("gemm", r["kind"], 0, "cuda_graph", "fit") for r in rows["gemm"]
          if r["latency_us_graph"] and not r["kind"].startswith("csr")),
        *(("op_overhead", precision[r["dtype"]], int(r["batch"]), mode[r["mode"]], "fit")
          for r in rows["op_overhead"] if r["mode"] != "host_issue"),
    ]
    order = ("nb201_calibration", "torchvision", "gemm", "op_overhead")
    return [f"H100 {f} {p}{f' batch {b}' if b else ''} {m} ({s})"
            for f, p, b, m, s in sorted(set(keys), key=lambda k: (order.index(k[0]), *k[1:]))]


EXPECTED = [
    *(f"EIE {name} latency" for name in eie_benchmark_layers()),
    "EIE effective rate, 9 layers",
    "EIE power, 9 layers",
    "EIE peak, compressed model",
    "TPU v1 peak, int8 GEMM",
    "TPU v1 ridge point",
    "TPU v1 roofline side, FC 4096x4096",
    *(f"{spec['hardware']} ridge point, {spec['precision']}" for spec in REFERENCES["gpu_ridge"]),
    *(f"NB201 rho: {check['label']}" for check in REFERENCES["nb201_rank"]["check"]),
    *(f"H100 {pool} ({split}): {metric}" for split in ("fit", "held-out")
      for pool, metrics in (("nb201 cuda_graph", _LAUNCH_FREE), ("torchvision batch 256", _LAUNCH_FREE),
                            ("nb201 eager", ("rank",)), ("torchvision eager batch < 256", ("rank",)))
      for metric in metrics),
    *_gpu_groups(),
    *(spec["label"] for spec in REFERENCES["not_modelled"]),
]

_EAGER = ("eager NB201 is host-bound and its rows move 30-60 % between days (README). An additive model on a "
          "cell's op counts fits the CUDA-graph rows to 1 % (residual sd), but even one fitted per eager group on "
          "all 152 cells (in-sample: an upper bound for any per-op cost) ranks only 0.84 / 0.79 (fit / held-out "
          "halves, pooled); the rest is host noise shared by a cell's cases in the order they were measured "
          "(residual correlation 0.65-0.75 between consecutive cases, 0.42 five cases apart), which no function "
          "of the arch predicts (test_gpu_measured.py::"
          "test_no_additive_cost_of_the_cells_ops_ranks_the_eager_rows_at_0_9). The model reaches 0.82 / 0.76")
KNOWN_MISSES = {
    "H100 nb201 eager (fit): rank": _EAGER,
    "H100 nb201 eager (held-out): rank": _EAGER,
}
"""Checks the models miss today, with the diagnosis; strict xfails, so a fix shows up as XPASS."""


@pytest.fixture(scope="module")
def quick_results():
    return {result.reference: result for result in run_validation(quick=True)}


def test_the_table_lists_every_reference(quick_results):
    assert list(quick_results) == EXPECTED
    table = format_validation(list(quick_results.values()))
    for reference in EXPECTED:
        assert reference in table
    assert f"{len(EXPECTED)} checks:" in table
    assert f", {len(_gpu_groups())} reported" in table  # one info row per group, with no target


@pytest.mark.parametrize("reference", [
    pytest.param(name, marks=pytest.mark.xfail(reason=KNOWN_MISSES[name], strict=True))
    if name in KNOWN_MISSES else name
    for name in EXPECTED
])
def test_every_check_passes(quick_results, reference):
    result = quick_results[reference]
    assert result.passed is not False, f"{reference}: {result.score:.3g} outside {result.tolerance:.3g}; {result.note}"


def test_eie_layers_show_the_balanced_time_and_a_known_miss_its_diagnosis(quick_results):
    for name in eie_benchmark_layers():
        assert "against Table IV's theoretical" in quick_results[f"EIE {name} latency"].note
    diagnosis = REFERENCES["eie_layer_latency"]["diagnosis"]
    for name, text in diagnosis.items():
        assert f"EIE {name} latency" in KNOWN_MISSES
        assert quick_results[f"EIE {name} latency"].note.endswith(text)


def test_every_eie_layer_passes_with_table_iii_flop_density(quick_results):
    # VGG-6 was a strict xfail (24.3 us against 34.4 us) while weights and activations were taken
    # as independent; Table III's FLOP % (1 %, not 4 % x 18.3 % = 0.73 %) puts it inside 25 %.
    vgg6 = quick_results["EIE VGG-6 latency"]
    assert vgg6.passed and vgg6.score == pytest.approx(-0.14, abs=0.03)
    assert "perfectly balanced 28.2 us against Table IV's theoretical 28.1 us" in vgg6.note
    for name in eie_benchmark_layers():
        assert quick_results[f"EIE {name} latency"].passed, name


def test_a_check_not_modelled_is_listed_not_faked(quick_results):
    eyeriss = quick_results["Eyeriss AlexNet CONV1-5 power"]
    assert eyeriss.passed is None
    assert np.isnan(eyeriss.model_value) and eyeriss.published_value == 278.0


def test_a_wrong_preset_makes_its_checks_fail(tmp_path):
    """10x the DRAM bandwidth (and a 10x slower EIE clock) must break checks that pass on the presets."""
    h100 = (PRESET_DIR / "h100.toml").read_text().replace("memory_bandwidth_gbs = 3350.0",
                                                          "memory_bandwidth_gbs = 33500.0")
    eie = (PRESET_DIR / "eie.toml").read_text().replace("clock_mhz = 800", "clock_mhz = 80")
    assert "33500.0" in h100 and "= 80\n" in eie
    (tmp_path / "h100_fast_memory.toml").write_text(h100)
    (tmp_path / "eie_slow.toml").write_text(eie)
    results = {r.reference: r for r in run_validation(quick=True, hardware={
        "h100": tmp_path / "h100_fast_memory.toml", "eie": tmp_path / "eie_slow.toml"})}
    ridge = results["h100_fast_memory ridge point, fp16"]
    assert ridge.passed is False and ridge.score == pytest.approx(-0.9, abs=0.01)
    assert results["EIE Alex-6 latency"].passed is False
    assert results["EIE peak, compressed model"].passed is False
    assert results["a100 ridge point, fp16"].passed is True


def test_nas_validate_prints_the_table_and_exits_nonzero_on_a_failure():
    result = CliRunner().invoke(main, ["validate", "--quick"])
    assert result.exit_code == (1 if KNOWN_MISSES else 0), result.output
    assert "check" in result.output.splitlines()[0]
    assert "Sources:" in result.output


def test_spearman_rho_ranks_ties_by_their_mean():
    x = np.array([1.0, 2.0, 2.0, 5.0])
    y = np.array([10.0, 30.0, 20.0, 40.0])
    # Ranks 1, 2.5, 2.5, 4 against 1, 3, 2, 4: Pearson of those.
    assert spearman_rho(x, y) == pytest.approx(np.corrcoef([1, 2.5, 2.5, 4], [1, 3, 2, 4])[0, 1])
    assert spearman_rho(x, -y) == pytest.approx(-spearman_rho(x, y))


def test_341_cells_cannot_reach_their_output():
    unreachable = [i for i in range(NB201_N_ARCHS) if not output_reachable(index_to_arch(i))]
    assert len(unreachable) == 341
    assert 1651 in unreachable  # every edge none


def test_a_references_file_without_a_table_is_one_clear_error(tmp_path):
    broken = tmp_path / "refs.toml"
    broken.write_text('[sources]\neie = "x"\n')
    with pytest.raises(ValueError, match="missing table"):
        run_validation(quick=True, references=broken)
