"""The README's data-check table lists exactly the checks the validator runs, in its order."""

from __future__ import annotations

import re
from pathlib import Path

from seqsetvae.validation.validate import CHECKS


def test_readme_check_table_matches_the_validator():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    table = readme[readme.index("**Data checks**"):]
    table = table[:table.index("\n\n", table.index("| check |"))]
    names = re.findall(r"^\| `(\w+)` \|", table, flags=re.M)
    assert names == list(CHECKS)
