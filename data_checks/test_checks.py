"""One test per data check: a failure names the check, its errors and their locations; warnings
are listed in the terminal summary (and in the test's captured output)."""

from __future__ import annotations

import pytest

from seqsetvae.validation.validate import CHECKS


@pytest.mark.parametrize("check", list(CHECKS))
def test_check(report, check):
    found = report.of(check)
    for f in found:
        print(f"{f.severity.upper()} {f.location}: {f.message}")
    errors = [f for f in found if f.severity == "error"]
    assert not errors, f"{check}: {len(errors)} error(s)\n" + "\n".join(
        f"  {f.location}: {f.message}" for f in errors)
