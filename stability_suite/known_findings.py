"""Measured results that contradict a claim or a property, kept visible rather than tuned away.

Each entry turns its test into an xfail whose reason carries the numbers (CPU, quick profile,
measured on the date given). The assertion still runs: an XPASS in the summary means the finding
no longer holds and the entry should go. `--strict-findings` makes these tests fail outright.
"""

KNOWN_FINDINGS: dict[str, str] = {}
