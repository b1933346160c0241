"""Feed the CLI a corpus of malformed inputs and count the outcomes: clean one-line errors, tracebacks, accepted.

Run from the repository root: ``python -m benchmarks.bad_inputs [n_random]`` (default 40 random
mutations per file kind, seeded, so the table is reproducible). Prints one row per input kind.

Each input goes through the real CLI in this process (click's runner): study files (``nas status
FILE``, which validates the spec and needs no Dask), hardware files (``nas cost --hardware FILE``),
``nas cost`` arguments, results files (``nas pareto`` / ``report`` / ``export``) and journal files
(``nas status --storage``). An outcome is *clean* when the command exits 2 with one ``error:``
line, a *traceback* when any other exception escapes, and *accepted* when it exits 0. The
hand-written cases say which must be refused; an accepted one of those is counted as *wrongly
accepted*. Random mutations may be valid, so their acceptance is only counted.
"""

from __future__ import annotations

import random
import sys
import tempfile
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from cli import main as cli_main
from cost_models import PRESET_DIR

REPO = Path(__file__).parents[1]
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|"
QUICKSTART = (REPO / "studies" / "quickstart.toml").read_text()

STUDY_CASES = {
    "n_trials as a string": ("n_trials = 200", 'n_trials = "2"'),
    "n_trials as a boolean": ("n_trials = 200", "n_trials = true"),
    "batch size as a string": ("batch_size = 1", 'batch_size = "64"'),
    "batch size 10**12": ("batch_size = 1", "batch_size = 1000000000000"),
    "dataset as a list": ('dataset = "cifar10"', 'dataset = ["cifar10"]'),
    "name of 300 characters": ('name = "quickstart"', f'name = "{"x" * 300}"'),
    "empty storage": ("[study]", '[study]\nstorage = ""'),
    "postgres:// storage": ("[study]", '[study]\nstorage = "postgres://u:secret@db/x"'),
    "redis:// storage": ("[study]", '[study]\nstorage = "redis://db"'),
    "nan constraint bound": (None, '\n[[constraints]]\nmetric = "latency_s"\nmax = nan\n'),
    "string constraint bound": (None, '\n[[constraints]]\nmetric = "latency_s"\nmax = "0.002"\n'),
    "1000 nested arrays": (None, "\nx = " + "[" * 1000 + "]" * 1000 + "\n"),
    "unknown preset": ('presets = ["h100", "a100", "t4"]', 'presets = ["h1000"]'),
    "not TOML": ("[study]", "[study"),
}

COST_CASES = {
    "batch size 2**62": ["--batch-size", str(2**62)],
    "unknown preset": ["--hardware", "h1000"],
    "hardware is a directory": ["--hardware", str(REPO / "studies")],
    "unknown precision": ["--precision", "fp64"],
    "bad arch": ["--arch", "|conv~0|"],
}


def _outcome(args: list[str]) -> str:
    result = CliRunner().invoke(cli_main, args)
    if result.exit_code == 0:
        return "accepted"
    if isinstance(result.exception, SystemExit) and result.exit_code == 2:
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        if len(errors) == 1 or "Usage:" in result.output:
            return "clean"
    return "traceback"


_TOML_VALUES = ["0", "-1", "nan", "inf", "true", '""', "[]", "{}", "1e300", '"x"', "9223372036854775807"]


def _mutate_text(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    i = rng.randrange(len(lines))
    action = rng.choice(["delete", "value", "bytes"])
    if action == "delete":
        del lines[i]
    elif action == "value" and "=" in lines[i]:
        key = lines[i].split("=")[0]
        lines[i] = key + "= " + rng.choice(_TOML_VALUES)
    else:
        lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)] + rng.choice(["\x00", "]", "\"", "=", "\x1b[2J"])
    return "\n".join(lines) + "\n"


def _mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    action = rng.choice(["truncate", "flip", "append"])
    if action == "truncate":
        return data[: rng.randrange(len(data))]
    if action == "append":
        return data + rng.randbytes(rng.randrange(1, 64))
    data = bytearray(data)
    for _ in range(rng.randrange(1, 9)):
        data[rng.randrange(len(data))] ^= rng.randrange(1, 256)
    return bytes(data)


def _small_study(folder: Path) -> tuple[Path, Path]:
    """A 6-trial quickstart study, searched for real: its journal and its results file."""
    spec = folder / "small.toml"
    spec.write_text(QUICKSTART.replace('name = "quickstart"', 'name = "small"')
                    .replace("n_trials = 200", "n_trials = 6").replace("population_size = 40", "population_size = 4"))
    result = CliRunner().invoke(cli_main, ["search", str(spec), "--out", str(folder), "--no-progress"])
    if result.exit_code != 0:
        raise RuntimeError(f"the small study did not run: {result.output}")
    return folder / "small.journal", folder / "small.nc"


def count_outcomes(n_random: int) -> None:
    rng = random.Random(0)
    rows: dict[str, Counter] = {}

    def record(kind: str, outcome: str, must_refuse: bool) -> None:
        counts = rows.setdefault(kind, Counter())
        counts["tried"] += 1
        counts[outcome] += 1
        counts["wrongly accepted"] += must_refuse and outcome == "accepted"

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        journal, results = _small_study(folder)
        path = folder / "input.toml"
        for old, new in STUDY_CASES.values():
            path.write_text(QUICKSTART.replace(old, new, 1) if old else QUICKSTART + new)
            record("study files (listed)", _outcome(["status", str(path), "--out", str(folder)]), True)
        for study in sorted((REPO / "studies").glob("*.toml")):
            if study.name.startswith("sweep_"):
                continue
            for _ in range(n_random // 4):
                path.write_text(_mutate_text(study.read_text(), rng))
                record("study files (random)", _outcome(["status", str(path), "--out", str(folder)]), False)
        cost = ["cost", "--hardware", "h100", "--space", "nb201", "--arch", ARCH]
        for args in COST_CASES.values():
            merged = list(cost)
            for flag, value in zip(args[::2], args[1::2], strict=True):
                if flag in merged:
                    merged[merged.index(flag) + 1] = value
                else:
                    merged += [flag, value]
            record("nas cost arguments (listed)", _outcome(merged), True)
        for preset in ("h100", "a100", "tpu_v1", "edge_systolic", "eie"):
            text = (PRESET_DIR / f"{preset}.toml").read_text()
            for _ in range(n_random // 5):
                path.write_text(_mutate_text(text, rng))
                record("hardware files (random)", _outcome([*cost[:1], "--hardware", str(path), *cost[3:]]), False)
        damaged = folder / "damaged.nc"
        for command in (["pareto"], ["report", "-o", str(folder / "r.html")], ["export", "-o", str(folder / "c.toml")]):
            for _ in range(n_random // 3):
                damaged.write_bytes(_mutate_bytes(results.read_bytes(), rng))
                record("results files (random)", _outcome([command[0], str(damaged), *command[1:]]), False)
        torn = folder / "damaged.journal"
        for _ in range(n_random):
            for side in folder.glob("damaged.journal.*"):
                side.unlink()
            torn.write_bytes(_mutate_bytes(journal.read_bytes(), rng))
            record("journal files (random)", _outcome(["status", "small", "--storage", str(torn)]), False)

    columns = ["tried", "clean", "traceback", "accepted", "wrongly accepted"]
    print(f"{'input kind':32s}" + "".join(f"{c:>18s}" for c in columns))
    total: Counter = Counter()
    for kind, counts in rows.items():
        total.update(counts)
        print(f"{kind:32s}" + "".join(f"{counts[c]:>18d}" for c in columns))
    print(f"{'all':32s}" + "".join(f"{total[c]:>18d}" for c in columns))


if __name__ == "__main__":
    count_outcomes(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
