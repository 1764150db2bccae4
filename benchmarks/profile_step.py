"""Profile one training step with torch.profiler: the costliest operators grouped by input
shape, and a Chrome trace to open in chrome://tracing or https://ui.perfetto.dev.

    python benchmarks/profile_step.py --preset baseline --shape 4x50x10 --out prof/
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from step_case import PRECISIONS, make_step_case


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="baseline")
    parser.add_argument("--shape", default="4x50x10", help="patients x sets x events")
    parser.add_argument("--steps", type=int, default=3, help="profiled steps (after 2 warm-up)")
    parser.add_argument("--rows", type=int, default=25, help="operators in the printed table")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, default=None, help="folder for trace.json and "
                                                               "ops.txt")
    args = parser.parse_args(argv)
    try:
        shape = tuple(int(x) for x in args.shape.lower().split("x"))
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError
    except ValueError:
        parser.error(f"--shape {args.shape!r}: expected three positive sizes like 4x50x10")
    if args.threads:
        torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    case = make_step_case(args.preset, shape, device, precision=args.precision)
    for _ in range(2):
        case.step()
    case.sync()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda"
                                           else [])
    with profile(activities=activities, record_shapes=True) as prof:
        for _ in range(args.steps):
            case.step()
        case.sync()
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    table = prof.key_averages(group_by_input_shape=True).table(
        sort_by=sort, row_limit=args.rows, max_name_column_width=32, max_shapes_column_width=64)
    print(f"{args.preset} {args.shape} {args.precision} on {device} "
          f"({torch.get_num_threads()} threads), "
          f"{args.steps} steps\n{table}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "ops.txt").write_text(table + "\n")
        prof.export_chrome_trace(str(args.out / "trace.json"))
        print(f"wrote {args.out / 'ops.txt'} and {args.out / 'trace.json'}")


if __name__ == "__main__":
    main()
