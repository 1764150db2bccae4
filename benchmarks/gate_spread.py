"""Where the CI gate's floors come from: each gate ratio and its control's, measured several times
under each CPU kernel set (ATEN_CPU_CAPABILITY picks the kernels a CPU without AVX512, or
without AVX2, would run), then a floor midway, in log ratio, between the slowest real
measurement and the fastest control, so a flake and a missed regression need the same surprise.

    python benchmarks/gate_spread.py --repeats 3 --out .benchmarks/gate_spread.json

Each measurement runs in a fresh process (the kernel set is chosen when torch loads). Several
minutes on 2 cores; how to run and read it: docs/howto/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

from tqdm import tqdm

HERE = Path(__file__).resolve().parent
CAPABILITIES = ("default", "avx2", "avx512")

# one measurement: the gates' own functions, as test_gate.py calls them
MEASURE = """
import json
import torch
import test_gate as g
from step_case import make_step_case
case = make_step_case("baseline", (4, 50, 10), torch.device("cpu"))
def step():
    case.step(); case.sync()
data, sampler = g.collation_inputs()
print(json.dumps({
    "step": g.step_speedup(step, case.reference),
    "step_control": g.step_speedup(lambda: g.step_looping_over_sets(case), case.reference,
                                   rounds=1),
    "collation": g.collation_speedup(g.collate, data, sampler),
    "collation_control": g.collation_speedup(g.collate_set_by_set, data, sampler)}))
"""


def measure(capability: str) -> dict:
    env = dict(os.environ, ATEN_CPU_CAPABILITY=capability,
               PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parent),
                                           os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", MEASURE], env=env, cwd=HERE,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"measurement under ATEN_CPU_CAPABILITY={capability} failed:\n"
                         f"{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def floor_between(real: list[float], control: list[float]) -> dict:
    """The floor with equal log margins to the slowest real ratio and the fastest control."""
    low, high = min(real), max(control)
    floor = math.sqrt(low * high)
    return {"slowest": low, "fastest_control": high, "floor": floor,
            "margin": low / floor}  # the same factor on both sides


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--capabilities", nargs="+", default=list(CAPABILITIES))
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the figures")
    args = parser.parse_args(argv)
    runs = []
    for _ in tqdm(range(args.repeats), desc="repeats"):
        for cap in args.capabilities:
            runs.append({"capability": cap, **measure(cap)})
    summary = {gate: floor_between([r[gate] for r in runs], [r[f"{gate}_control"] for r in runs])
               for gate in ("step", "collation")}
    for gate, s in summary.items():
        print(f"{gate}: slowest {s['slowest']:.2f}x, fastest control {s['fastest_control']:.2f}x,"
              f" floor {s['floor']:.2f}x with {s['margin']:.2f}x margin each side")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"runs": runs, "floors": summary}, indent=2) + "\n")


if __name__ == "__main__":
    main()
