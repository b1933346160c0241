"""Regenerate ``torchvision_workloads.json.gz``: the 12 torchvision models, traced once.

Run from the repository root with torchvision installed (``pip install "torchvision==0.28.*"``
beside torch 2.13):

    python search_spaces/data/make_torchvision_workloads.py

Each model (1000 classes, default constructor, 3x224x224 input) is traced with
:func:`search_spaces._trace.trace_module`; the file keeps its rows for one sample (builder
method, per-sample shape, parameters first read) with the torch and torchvision versions used.
Before writing, each model's traced MACs are checked against
``torch.utils.flop_counter.FlopCounterMode`` (convolutions, matrix products and attention, one
image, FLOPs / 2) and its parameters against the module's, so the file cannot be written wrong.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

OUTPUT = Path(__file__).with_name("torchvision_workloads.json.gz")


def main() -> None:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from search_spaces._reference_models import IMAGENET_INPUT_SHAPE, TORCHVISION_MODELS
    from search_spaces._torchvision import torchvision_models, torchvision_version
    from search_spaces._trace import build_workload, trace_module

    models = torchvision_models()
    document = {
        "description": "Per-sample Workload rows of torchvision's ImageNet classifiers, traced at the ATen "
                       "operator level by search_spaces._trace.trace_module; regenerate with "
                       "search_spaces/data/make_torchvision_workloads.py",
        "torch": torch.__version__,
        "torchvision": torchvision_version(),
        "input_shape": list(IMAGENET_INPUT_SHAPE),
        "models": {},
    }
    for name in TORCHVISION_MODELS:
        # RegNet computes its widths with tensor arithmetic in the constructor, which the meta device refuses.
        with torch.device("cpu" if name.startswith("regnet") else "meta"):
            module = getattr(models, name)()
        rows = trace_module(module, IMAGENET_INPUT_SHAPE)
        workload = build_workload(rows, batch_size=1)
        # Autograd on, as the H100 measurements counted, so nn.MultiheadAttention takes the path
        # whose matrix products the counter sees (not its fused inference kernel).
        counter = FlopCounterMode(display=False)
        with counter:
            module.eval()(torch.zeros(1, *IMAGENET_INPUT_SHAPE, device=next(module.parameters()).device))
        macs, flops = int(workload.macs.sum()), counter.get_total_flops()
        params = sum(p.numel() for p in module.parameters())
        if 2 * macs != flops or int(workload.params.sum()) != params:
            raise SystemExit(f"{name}: traced {macs} MACs and {int(workload.params.sum())} parameters; "
                             f"FlopCounterMode counts {flops / 2:.0f} MACs, the module holds {params} parameters")
        document["models"][name] = {
            "params": params,
            "macs_per_sample": macs,
            "rows": [[row.name, row.method, row.shape, row.params] for row in rows],
        }
        print(f"{name}: {len(rows)} rows, {macs} MACs, {params} parameters")
    text = json.dumps(document, separators=(",", ":"), sort_keys=False)
    with OUTPUT.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as compressed:
        compressed.write(text.encode())
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
