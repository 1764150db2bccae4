"""`seqsetvae config show|diff`: resolved presets and config files, and how two differ."""

from __future__ import annotations

import json

from ..config import apply_overrides, diff_configs, load_config
from .common import flag


def cmd_config_show(args) -> int:
    cfg = apply_overrides(load_config(args.preset), args.set or [])
    if args.json:
        print(json.dumps(cfg.to_flat(), indent=2))
    else:
        for section, values in cfg.to_nested().items():
            print(f"[{section}]")
            for k, v in values.items():
                print(f"  {k} = {v!r}")
    return 0


def cmd_config_diff(args) -> int:
    lines = diff_configs(load_config(args.a), load_config(args.b), (str(args.a), str(args.b)))
    print("\n".join(lines) if lines else "identical")
    return 0


def register(sub) -> None:
    cfg = sub.add_parser("config", help="show or compare configs").add_subparsers(
        dest="config_command", required=True)
    p = cfg.add_parser("show", help="print a fully resolved config")
    p.add_argument("preset", help="preset name or config file")
    flag(p, "--set", action="append", metavar="KEY=VALUE")
    p.add_argument("--json", action="store_true", help="flat JSON with the seed guide's names")
    p.set_defaults(func=cmd_config_show)
    p = cfg.add_parser("diff", help="fields that differ between two configs")
    p.add_argument("a")
    p.add_argument("b")
    p.set_defaults(func=cmd_config_diff)
