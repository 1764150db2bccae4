"""The one renderer of the harness's results: summary.json (schema ``SCHEMA``), report.md and
PNG plots, for each kind of comparison. Rendering never trains: the callers hand in finished
runs or the engine's rows.

configs   `seqsetvae compare`: configs over paired seeds
gate      `seqsetvae gate REF`: the working tree against REF, for a pull request
ledger    `seqsetvae claims`: the seed guide's claims one by one
tables    the Markdown every report shares (the engine's verdict table, property verdicts)
figures   the PNG plots
"""

from .configs import SCHEMA, write_report
from .gate import side_properties, write_ab_report
from .ledger import render_ledger, selection_words, write_ledger

__all__ = ["SCHEMA", "render_ledger", "selection_words", "side_properties", "write_ab_report",
           "write_ledger", "write_report"]
