"""The tracer on torchvision's own models (where torchvision is installed: the test extra pins it).

The shipped workloads (``model_workload``) were traced from these modules; here they are traced
again and checked against the shipped rows and against torch's FlopCounterMode.
"""

import copy
import sys
import time

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from workload_rows import workload_rows

from search_spaces import build_model, list_models, model_workload, workload_from_module
from search_spaces._reference_models import shipped_versions
from search_spaces._torchvision import torchvision_models, torchvision_version

SHAPE = (3, 224, 224)


@pytest.fixture(scope="module")
def models():
    try:
        return torchvision_models()
    except ModuleNotFoundError:
        pytest.skip("torchvision is not installed")


def _meta(models, name):
    # RegNet computes its widths with tensor arithmetic in the constructor, which the meta device refuses.
    with torch.device("cpu" if name.startswith("regnet") else "meta"):
        return getattr(models, name)()


@pytest.mark.parametrize("name", list_models())
def test_torchvision_traces_to_the_shipped_rows(models, name):
    if torchvision_version().split("+")[0] != shipped_versions()["torchvision"].split("+")[0]:
        pytest.skip(f"the shipped rows were traced with torchvision {shipped_versions()['torchvision']}")
    traced = workload_from_module(_meta(models, name), SHAPE, batch_size=3)
    assert workload_rows(traced) == workload_rows(model_workload(name, batch_size=3))


@pytest.mark.parametrize("name", ["vit_b_16", "convnext_tiny", "efficientnet_b0"])
def test_macs_equal_the_flop_counter(models, name):
    module = _meta(models, name)
    counter = FlopCounterMode(display=False)
    with counter:  # on the meta device attention runs as matrix products, which the counter sees
        copy.deepcopy(module).to("meta")(torch.zeros(1, *SHAPE, device="meta"))
    workload = workload_from_module(module, SHAPE)
    assert 2 * int(workload.macs.sum()) == counter.get_total_flops()
    assert int(workload.params.sum()) == sum(p.numel() for p in module.parameters())


def test_vit_at_batch_256_traces_in_seconds(models):
    module = _meta(models, "vit_b_16")
    start = time.perf_counter()
    workload = workload_from_module(module, SHAPE, batch_size=256)
    assert time.perf_counter() - start < 10.0
    assert int(workload.macs.sum()) == 256 * 17_563_828_224


def test_build_model_takes_the_other_models_from_torchvision(models):
    with torch.device("meta"):
        net = build_model("vit_b_16", num_classes=10)
    assert isinstance(net, models.VisionTransformer) and net.heads.head.out_features == 10


def test_build_model_without_torchvision_fails_in_one_line(monkeypatch):
    for name in [name for name in sys.modules if name == "torchvision" or name.startswith("torchvision.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torchvision", None)  # what an import sees when it is not installed
    with pytest.raises(ValueError, match=r"'convnext_tiny' is built by torchvision, which is not installed"):
        build_model("convnext_tiny")
    assert int(model_workload("convnext_tiny").params.sum()) == 28_589_128  # shipped: no torchvision needed
