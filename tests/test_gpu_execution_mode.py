"""The GPU execution mode as a setting: preset default, study ``[hardware]`` override, ``nas cost --mode``."""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner

from cli import main
from cost_models import EXECUTION_MODES, HardwareSpecError, load_hardware
from nas import cost_network
from nas.study import hardware_from_params, parse_spec
from search_spaces import get_space

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
BASE = {"study": {"name": "s", "n_trials": 1}, "space": {"name": "nb201"},
        "objectives": [{"metric": "latency_s", "direction": "minimize"}]}


def _latency(output: str) -> float:
    return float(re.search(r"^latency_s\s+(\S+)$", output, re.M)[1])


def test_every_gpu_preset_names_its_mode():
    modes = {name: load_hardware(name).execution_mode for name in ("h100", "b200", "a100", "gtx_1080ti")}
    assert set(modes.values()) <= set(EXECUTION_MODES)
    assert modes["h100"] == "cuda_graph" and modes["gtx_1080ti"] == "eager"


@pytest.mark.parametrize("batch", [1, 256])
def test_eager_adds_host_issue_and_never_beats_the_graph(batch):
    workload = get_space("nb201").workload(ARCH, batch_size=batch)
    eager = cost_network(workload, "h100", "fp16", execution_mode="eager")
    graph = cost_network(workload, "h100", "fp16", execution_mode="cuda_graph")
    # Eager PyTorch pays 8-48 us of host issue per op; a graph 1.19 us per kernel.
    assert np.all(eager.layer_detail["launch_s"] >= 8e-6)
    np.testing.assert_allclose(graph.layer_detail["launch_s"], 1.19e-6)
    if batch == 1:  # host-bound: about 8x (measured median eager/graph ratio at batch 1: ~7.9)
        assert 4 < eager.latency_s[0] / graph.latency_s[0] < 12
        assert set(eager.layer_bound) == {"launch"}
    else:
        assert eager.latency_s[0] >= graph.latency_s[0] - len(workload) * 1.19e-6


def test_nas_cost_mode_option():
    args = ["cost", "--space", "nb201", "--arch", ARCH, "--hardware", "h100"]
    eager, graph = (CliRunner().invoke(main, [*args, "--mode", mode]) for mode in ("eager", "cuda_graph"))
    assert eager.exit_code == graph.exit_code == 0, eager.output
    assert _latency(eager.output) > 4 * _latency(graph.output)
    wrong = CliRunner().invoke(main, [*args, "--mode", "graph"])
    assert wrong.exit_code != 0 and "'graph' is not one of 'eager', 'cuda_graph'" in wrong.output
    tpu = CliRunner().invoke(main, ["cost", "--model", "alexnet", "--hardware", "tpu_v1", "--mode", "eager"])
    assert tpu.exit_code != 0
    assert "execution_mode applies to GPU presets; 'tpu_v1' is a systolic preset" in tpu.output


def test_study_hardware_section_sets_the_mode_of_gpu_presets_only():
    spec = parse_spec({**BASE, "hardware": {"presets": ["h100", "tpu_v1"], "execution_mode": "eager"}})
    assert hardware_from_params(spec, {"hardware": "h100"})[2].execution_mode == "eager"
    assert hardware_from_params(spec, {"hardware": "tpu_v1"})[2].family == "systolic"
    default = parse_spec({**BASE, "hardware": {"presets": ["h100"]}})
    assert hardware_from_params(default, {})[2].execution_mode == "cuda_graph"
    with pytest.raises(ValueError, match="hardware.execution_mode: unknown execution_mode 'graph'; "
                                         "choose from cuda_graph, eager") as error:
        parse_spec({**BASE, "hardware": {"presets": ["h100"], "execution_mode": "graph"}})
    assert "\n" not in str(error.value).strip()


def test_preset_override_is_validated_in_one_line():
    with pytest.raises(HardwareSpecError, match="key 'execution_mode' is 'fast'; choose from cuda_graph, eager"):
        load_hardware("h100", {"execution_mode": "fast"})
