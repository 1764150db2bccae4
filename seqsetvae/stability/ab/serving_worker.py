"""REF's runs, many per process: ``python -m seqsetvae.stability.ab.serving_worker``.

The one-shot worker (.worker) pays an interpreter, torch and a data load for every run; this one
is started once per slot and kept by the pool (..checkout_runs). It reads one request per line on
stdin (the one-shot worker's request), answers each with one JSON line per run and then the line
``END_OF_REQUEST``, keeps the splits it loaded by their data spec, and exits at the end of its
input. A request its checkout cannot run ends it as the one-shot worker ends: the reason on
stderr and exit status FAILED_INPUT. A later gate finds this file to know REF can serve
(..revision.SERVING_POINTS), so it is a contract between code versions like .worker.
"""

from __future__ import annotations

import json
import sys

from ...config import ConfigError
from ...data.errors import DataError
from ..checkout_runs import END_OF_REQUEST, FAILED_INPUT
from .worker import load_split, protocol_refusal, serve


class SplitCache:
    """Loaded splits by data spec: every run of one gate reads the same data."""

    def __init__(self):
        self._splits: dict[str, tuple] = {}

    def get(self, request: dict):
        key = json.dumps([request["root"], request["data"]], sort_keys=True)
        if key not in self._splits:
            self._splits[key] = load_split(request)
        return self._splits[key]


def main() -> int:
    # results own stdout: anything else this checkout's code prints goes to stderr
    out, sys.stdout = sys.stdout, sys.stderr
    cache = SplitCache()
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        refusal = protocol_refusal(request)
        if refusal:
            print(refusal, file=sys.stderr)
            return FAILED_INPUT
        try:
            serve(request, out, cache.get(request))
        except (ConfigError, DataError) as exc:
            print(exc, file=sys.stderr)
            return FAILED_INPUT
        out.write(END_OF_REQUEST + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
