"""Conformance: every search space and every hardware preset passes the same checks.

In the spirit of scikit-learn's ``check_estimator``: a new space or preset is covered the day it
is registered. Spaces: the analytic Workload of a sampled genotype has the MACs and parameters of
its traced torch module, counts that scale with the batch, and non-negative columns. Presets: a
network costs a non-negative latency and energy on every layer it runs, NaN exactly on the layers
reported unsupported, per-layer numbers that add up to the totals, units in every total's name, and
a cost that never falls when the batch or the network grows; in the family's default quantization
and in fp6 and fp4, which a preset runs natively, widens (GPUs) or refuses as unsupported.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import optuna
import pytest

from cost_models import Workload, list_presets
from nas import cost_network
from search_spaces import get_space, list_spaces, workload_from_module

SAMPLES = 3
"""Genotypes drawn per space (seeded)."""


def _genotypes(name: str) -> list:
    space = get_space(name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    return [space.sample(study.ask()) for _ in range(SAMPLES)]


@pytest.mark.parametrize("name", list_spaces())
def test_a_space_s_analytic_workload_equals_its_traced_module(name):
    space = get_space(name)
    for genotype in _genotypes(name):
        analytic = space.workload(genotype, batch_size=2)
        module = space.build(genotype)
        traced = workload_from_module(module, space.input_shape(genotype), batch_size=2)
        assert int(analytic.macs.sum()) == int(traced.macs.sum()), space.describe_genotype(genotype)
        assert int(analytic.params.sum()) == int(traced.params.sum()) == sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", list_spaces())
def test_a_space_s_counts_scale_with_the_batch_and_are_never_negative(name):
    space = get_space(name)
    for genotype in _genotypes(name):
        one, four = space.workload(genotype, batch_size=1), space.workload(genotype, batch_size=4)
        for column in ("macs", "ops", "input_elems", "output_elems"):
            np.testing.assert_array_equal(getattr(four, column), 4 * getattr(one, column))
        np.testing.assert_array_equal(four.params, one.params)
        for field in dataclasses.fields(Workload):
            values = getattr(one, field.name)
            if values.dtype.kind in "if":
                assert not (values < 0).any(), field.name


def _network() -> Workload:
    return get_space("nb201").workload(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|",
        batch_size=2)


_UNITS = re.compile(r"_(s|j|mm2)$")


PRECISIONS = [None, "fp6", "fp4"]
"""The family's default quantization, and the narrow floats: every preset runs them or says it cannot."""


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("preset", list_presets())
def test_a_preset_costs_every_layer_it_runs_and_says_which_it_cannot(preset, precision):
    cost = cost_network(_network(), preset, precision)
    unsupported = cost.unsupported
    assert np.isnan(cost.layer_latency_s[unsupported]).all()
    ran = ~unsupported
    # A systolic array lists its float formats; one without fp4/fp6 refuses every layer in them.
    assert ran.any() or precision is not None, f"{preset} runs no layer of a CIFAR cell"
    assert (cost.layer_latency_s[ran] >= 0).all() and np.isfinite(cost.layer_latency_s[ran]).all()
    assert (cost.layer_energy_j[ran] >= 0).all()
    if not unsupported.any():  # a NaN layer makes the totals NaN
        assert cost.latency_s[0] == pytest.approx(cost.layer_latency_s.sum())
        assert cost.energy_j[0] == pytest.approx(sum(cost.summary()[k] for k in cost.summary()
                                                     if k.startswith("energy_") and k != "energy_j"))
    for key in cost.summary():
        assert _UNITS.search(key), f"{key!r} names no unit"


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("preset", list_presets())
def test_a_preset_s_cost_never_falls_when_the_batch_or_the_network_grows(preset, precision):
    small = cost_network(_network(), preset, precision)
    space = get_space("nb201")
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|"
    bigger_batch = cost_network(space.workload(arch, batch_size=8), preset, precision)
    wider = cost_network(space.workload(arch.replace("skip_connect~0", "nor_conv_3x3~0"), batch_size=2), preset,
                         precision)
    if precision is not None and small.unsupported.any():
        # A float format the chip has no datapath for: the same layers are refused at every size.
        for other in (bigger_batch, wider):
            assert np.isnan(other.latency_s).all() and np.isnan(other.energy_j).all()
        return
    for other in (bigger_batch, wider):
        assert not (small.unsupported.any() or other.unsupported.any()), "pick a cell every preset runs"
        assert other.latency_s[0] >= small.latency_s[0] * (1 - 1e-9)
        assert other.energy_j[0] >= small.energy_j[0] * (1 - 1e-9)
