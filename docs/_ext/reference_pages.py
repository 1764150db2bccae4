"""Reference pages generated from the code at build time.

Each function returns one Markdown page read off the package itself: the command line from its
argparse parsers, the suites' pytest options from their ``pytest_addoption`` hooks, config fields
and presets from the dataclasses, the data checks from ``CHECK_DOCS``, exit statuses from
``seqsetvae.errors``, thresholds from ``seqsetvae.stability.verdicts``, the run directory's files
from ``RunLayout``. Nothing here is typed twice: a flag, field or check added to the code shows
up in the next build. ``write_pages`` writes them into ``docs/reference/`` (ignored by git).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import inspect
import io
import os
import re
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTE = ("*Generated from the code when the site is built ({source}); edit the code, not this "
        "page.*\n")


# -- helpers ---------------------------------------------------------------------------------------
def cell(text) -> str:
    """Text safe inside a Markdown table cell."""
    text = "" if text is None else str(text)
    return " ".join(text.split()).replace("|", "\\|")


def code(text) -> str:
    return f"`{text}`" if text not in (None, "") else ""


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def trailing_comments(source: str) -> dict[str, str]:
    """``NAME ...  # comment`` lines of a source text: the comment after each assigned or
    annotated name (``x: int = 1  # what x is`` -> {"x": "what x is"})."""
    comments: dict[str, str] = {}
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    line_first: dict[int, str] = {}
    for tok in tokens:
        if tok.type == tokenize.NAME and tok.start[0] not in line_first:
            line_first[tok.start[0]] = tok.string
        if tok.type == tokenize.COMMENT and tok.start[0] in line_first:
            line = tok.line.lstrip()
            if re.match(r"[A-Za-z_]\w*\s*[:=]", line):
                comments[line_first[tok.start[0]]] = tok.string.lstrip("#").strip()
    return comments


# -- the command line ------------------------------------------------------------------------------
def _subcommands(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, sub, helps.get(name)


def _option_rows(parser: argparse.ArgumentParser) -> list[list]:
    formatter = parser._get_formatter()
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.help == argparse.SUPPRESS:
            continue
        names = ", ".join(f"`{n}`" for n in action.option_strings) or f"`{action.dest}`"
        if action.choices and not isinstance(action.choices, dict):
            names += " {" + ",".join(str(c) for c in action.choices) + "}"
        default = action.default
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)) or \
                default in (None, argparse.SUPPRESS):
            default = ""
        elif isinstance(default, (list, tuple)):
            default = " ".join(str(d) for d in default)
        help_text = formatter._expand_help(action) if action.help else ""
        # the default has its own column (ArgumentDefaultsHelpFormatter appends it to the help)
        help_text = re.sub(r"\s*\(default: [^()]*\)$", "", help_text)
        if action.required and action.option_strings:
            help_text = "required. " + help_text
        rows.append([names, code(default), help_text])
    return rows


def _command_section(name: str, parser, help_text, depth: int) -> list[str]:
    out = [f"{'#' * depth} `{name}`", ""]
    if help_text:
        out += [help_text[:1].upper() + help_text[1:] + ".", ""]
    if parser.description:
        out += [parser.description.strip(), ""]
    out += ["```text", parser.format_usage().strip(), "```", ""]
    rows = _option_rows(parser)
    if rows:
        out += [table(["option", "default", "meaning"], rows)]
    for sub_name, sub, sub_help in _subcommands(parser):
        out += _command_section(f"{name} {sub_name}", sub, sub_help, depth + 1)
    return out


def cli_page() -> str:
    from seqsetvae.cli.main import build_parser

    os.environ["COLUMNS"] = "80"  # usage lines wrap the same on every machine
    parser = build_parser()
    out = ["# Command line: `seqsetvae`", "",
           NOTE.format(source="`seqsetvae.cli`, the parsers behind `seqsetvae --help`"),
           "Flags accept dashes and underscores alike (`--data-dir` is `--data_dir`). "
           "Exit statuses are listed in [Exit statuses](exit-codes.md).", ""]
    for name, sub, help_text in _subcommands(parser):
        out += _command_section(f"seqsetvae {name}", sub, help_text, 2)
    return "\n".join(out)


# -- the suites' pytest options --------------------------------------------------------------------
class _Recorder:
    """Stands in for pytest's parser: records what ``pytest_addoption`` registers."""

    def __init__(self):
        self.options: list[tuple[str, list[str], dict]] = []
        self._group = ""

    def getgroup(self, name, description=""):
        self._group = name
        return self

    def addoption(self, *names, **kwargs):
        self.options.append((self._group, list(names), kwargs))

    def addini(self, *args, **kwargs):  # ini settings are not options
        pass


def _load_conftest(path: Path):
    folder = str(path.parent)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        spec = importlib.util.spec_from_file_location(f"_docs_conftest_{path.parent.name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        if added:
            sys.path.remove(folder)


SUITES = [("conftest.py", "every suite (root `conftest.py`)"),
          ("stability_suite/conftest.py", "`stability_suite/`"),
          ("data_checks/conftest.py", "`data_checks/`"),
          ("benchmarks/conftest.py", "`benchmarks/`")]


def suite_options_page() -> str:
    out = ["# Suite options (`pytest ...`)", "",
           NOTE.format(source="the suites' `pytest_addoption` hooks"),
           "The root `conftest.py` registers the options every suite shares, so "
           "`pytest data_checks stability_suite --data-dir DIR` runs both suites in one call.", ""]
    for rel, where in SUITES:
        path = ROOT / rel
        if not path.is_file():
            continue
        hook = getattr(_load_conftest(path), "pytest_addoption", None)
        if hook is None:
            continue
        recorder = _Recorder()
        hook(recorder)
        if not recorder.options:
            continue
        rows = []
        for _group, names, kw in recorder.options:
            flag = ", ".join(f"`{n}`" for n in names)
            if kw.get("choices"):
                flag += " {" + ",".join(str(c) for c in kw["choices"]) + "}"
            default = kw.get("default")
            if kw.get("action") in ("store_true", "store_false") or default is None:
                default = ""
            rows.append([flag, code(default), kw.get("help", "")])
        out += [f"## {where}", "", f"From `{rel}`.", "", table(["option", "default", "meaning"],
                                                            rows)]
    return "\n".join(out)


# -- configs ---------------------------------------------------------------------------------------
def config_page() -> str:
    from seqsetvae import config as cfg

    comments = trailing_comments(inspect.getsource(cfg))
    presets = {name: cfg.preset(name).to_flat() for name in cfg.PRESETS}
    base = cfg.Config().to_flat()
    out = ["# Config fields and presets", "",
           NOTE.format(source="the dataclasses and `PRESETS` of `seqsetvae/config.py`"),
           "A config has three sections. A file (TOML or JSON) holds flat keys or "
           "`[model]`, `[loss]`, `[optim]` tables, optionally `preset = \"NAME\"` to start "
           "from a preset; `--set key=value` changes one field on the command line, "
           "type- and range-checked. `seqsetvae config show NAME` prints a preset and "
           "`seqsetvae config diff A B` the fields two configs differ in.", "",
           "## Presets", "",
           "The three configurations of the training guide; a cell is the preset's value, "
           "**bold** where it differs from `baseline`.", ""]
    rows = []
    for key in base:
        cells = [code(key)]
        for name in presets:
            value = presets[name][key]
            text = f"`{value!r}`"
            cells.append(f"**{text}**" if value != presets["baseline"][key] else text)
        rows.append(cells)
    out += [table(["field", *presets], rows)]
    checks = {**{k: f">= {v}" for k, v in cfg.AT_LEAST.items()},
              **{k: "> 0" for k in cfg.POSITIVE},
              **{k: f"in {v}" for k, v in cfg.FRACTIONS.items()},
              **{k: "one of " + ", ".join(v) for k, v in cfg.CHOICES.items()}}
    for section_name, section in cfg.Config().sections().items():
        out += [f"## `[{section_name}]`: `{type(section).__name__}`", ""]
        rows = []
        for f in dataclasses.fields(section):
            rows.append([code(f.name), type(getattr(section, f.name)).__name__,
                         code(repr(getattr(section, f.name))), checks.get(f.name, ""),
                         comments.get(f.name, "")])
        out += [table(["field", "type", "default", "accepted", "meaning"], rows)]
    return "\n".join(out)


# -- data checks -----------------------------------------------------------------------------------
def data_checks_page() -> str:
    from seqsetvae.validation.validate import CHECK_DOCS, CHECKS

    rows = [[code(name), *CHECK_DOCS[name]] for name in CHECKS]
    return "\n".join([
        "# Data checks", "", NOTE.format(source="`CHECKS` and `CHECK_DOCS` of "
                                         "`seqsetvae/validation/validate.py`"),
        "`seqsetvae check-data` and `pytest data_checks/ --data-dir DIR` run these checks in "
        "this order and report every finding with its file, row, patient or variable. Errors "
        "fail the dataset; warnings are listed. The training loader judges data by the same "
        "rules and stops at the first error. How to use them: "
        "[Check a new dataset](../howto/check-a-dataset.md).", "",
        table(["check", "what it catches", "error or warning"], rows)])


# -- exit statuses ---------------------------------------------------------------------------------
def _harness_errors():
    import pkgutil

    import seqsetvae
    from seqsetvae import errors

    for info in pkgutil.walk_packages(seqsetvae.__path__, "seqsetvae."):
        if info.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(info.name)
        except Exception:  # an optional extra that is not installed
            continue
    found, todo = [], [errors.HarnessError]
    while todo:
        cls = todo.pop(0)
        found.append(cls)
        todo += sorted(cls.__subclasses__(), key=lambda c: (c.__module__, c.__name__))
    return found


def exit_codes_page() -> str:
    from seqsetvae import errors

    comments = trailing_comments(inspect.getsource(errors))
    statuses = [(name, value) for name, value in vars(errors).items()
                if name.isupper() and isinstance(value, int)]
    out = ["# Exit statuses", "",
           NOTE.format(source="`seqsetvae/errors.py` and the error classes that derive from "
                       "`HarnessError`"),
           "Every `seqsetvae` command turns an expected failure into one line on stderr, "
           "`seqsetvae COMMAND: error: ...`, naming the flag, file, row or field, and exits "
           "with the status its error class carries; an interrupt (Ctrl-C) exits 130.", "",
           "## Statuses", "", table(["name", "status", "meaning"],
                                   [[code(n), v, comments.get(n, "")] for n, v in statuses]),
           "## Error classes", "",
           "Each class's `exit_code`; a subclass inherits its parent's unless it sets its own.",
           ""]
    rows = []
    for cls in _harness_errors():
        doc = (inspect.getdoc(cls) or "").split("\n\n")[0]
        rows.append([code(f"{cls.__module__}.{cls.__qualname__}"), cls.exit_code, doc])
    out += [table(["class", "status", "when"], rows)]
    try:
        from seqsetvae.cli.common import EXIT_CODES
    except ImportError:
        EXIT_CODES = {}
    if EXIT_CODES:
        out += ["## Other errors the command line maps", "",
                "Errors that do not carry their own status get one from `EXIT_CODES` "
                "(`seqsetvae/cli/common.py`); the most specific class decides.", "",
                table(["class", "status"], [[code(f"{c.__module__}.{c.__qualname__}"), v]
                                            for c, v in EXIT_CODES.items()])]
    return "\n".join(out)


# -- thresholds and gate statistics ----------------------------------------------------------------
def thresholds_page() -> str:
    from seqsetvae.stability import verdicts

    comments = trailing_comments(inspect.getsource(verdicts))
    rows = [[code(name), code(value), comments.get(name, "")]
            for name, value in vars(verdicts).items()
            if name.isupper() and isinstance(value, (int, float)) and not isinstance(value, bool)]
    out = ["# Thresholds of the stability properties", "",
           NOTE.format(source="`seqsetvae/stability/verdicts.py`, the one place the suite, "
                       "`seqsetvae compare` and `seqsetvae diagnose` read them from"),
           "What each property means and why its bound sits where it does: "
           "[Stability properties](../explanation/properties.md).", "",
           "Per-run properties, in the order reports list them: "
           + ", ".join(f"`{p}`" for p in verdicts.RUN_PROPERTIES) + ".", "",
           table(["constant", "value", "meaning"], rows)]
    return "\n".join(out)


def profiles_page() -> str:
    from seqsetvae.stability.runs import PROFILES, Profile

    comments = trailing_comments(inspect.getsource(Profile))
    names = [f.name for f in dataclasses.fields(Profile) if f.name != "name"]
    rows = []
    for field in names:
        values = []
        for profile in PROFILES.values():
            value = getattr(profile, field)
            if isinstance(value, tuple) and field == "seeds":
                value = f"{len(value)} ({value[0]}-{value[-1]})" if value else "none"
            elif isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items()) or "none"
            values.append(code(value))
        rows.append([code(field), *values, comments.get(field, "")])
    return "\n".join([
        "# Profiles", "", NOTE.format(source="`PROFILES` in `seqsetvae/stability/runs.py`"),
        "`--profile NAME` (suite and `seqsetvae compare`) picks one; `--steps N` and "
        "`--seeds N` shorten it. What the profiles are for: "
        "[Profiles](../explanation/profiles.md).", "",
        table(["field", *PROFILES, "meaning"], rows)])


def _statistics():
    """The paired-comparison statistics: the engine's when it exists, else the gate's."""
    for module, attr in (("seqsetvae.stability.statistics", "STATISTICS"),
                         ("seqsetvae.stability.ab.gate", "STATISTICS")):
        try:
            stats = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            continue
        return module, stats
    return None, ()


def statistics_page() -> str:
    module, stats = _statistics()
    out = ["# Compared statistics", "",
           NOTE.format(source=f"`STATISTICS` of `{module}`" if module else "no statistics "
                       "table found")]
    out += ["How they are tested: [Paired comparisons and the decision rule]"
            "(../explanation/statistics.md).", ""]
    rows = []
    for s in stats:
        direction = getattr(s, "worse", None) or getattr(s, "direction", "")
        gates = getattr(s, "gates", True)
        rows.append([code(s.key), getattr(s, "label", ""), direction, s.scale,
                     code(s.min_effect), "yes" if gates else "no"])
    out += [table(["key", "statistic", "worse when", "scale", "minimal effect", "gates"], rows)]
    return "\n".join(out)


# -- output files ----------------------------------------------------------------------------------
# what a run file holds, for the RunLayout members whose source line carries no comment
RUN_FILES = {
    "config": "the resolved config the run trained with",
    "summary": "the run's outcome: steps, stop reason, best and final validation",
    "nonfinite_report": "written when non-finite steps stopped the run: which steps, which terms",
    "tensorboard": "TensorBoard event files (with the `tensorboard` extra)",
    "lock": "the OS lock a trainer holds for the whole run (pid, host, start time)",
    "checkpoints": "the checkpoint folder",
    "last": "the latest training state, for `--resume`",
    "best": "the state at the best validation loss",
}


def outputs_page() -> str:
    from seqsetvae.train.layout import RunLayout

    source = inspect.getsource(RunLayout)
    layout = RunLayout(Path("RUN"))
    rows = []
    for name, member in inspect.getmembers(RunLayout):
        if isinstance(member, property):
            path = getattr(layout, name)
            doc = inspect.getdoc(member.fget) or ""
            match = re.search(rf"def {name}\(self\)[^:]*:\s*#\s*(.+)", source)
            comment = match.group(1) if match else RUN_FILES.get(name, "")
            rows.append([code(path.as_posix()), code(name), doc or comment])
    rows.sort(key=lambda r: r[0])
    return "\n".join([
        "# Output files", "", NOTE.format(source="`RunLayout` in `seqsetvae/train/layout.py`, "
                                          "the one place a run's file names are spelled"),
        "## A run directory (`seqsetvae train --out RUN`)", "",
        table(["path", "`RunLayout` attribute", "what it holds"], rows),
        "`metrics.jsonl` holds one record per optimizer step (a skipped non-finite step "
        "included, with `finite: false`); it repeats byte for byte for the same seed on "
        "CPU. Checkpoints are written atomically, carry a CRC32 and are never non-finite.", "",
        "## Suites and sessions", "",
        table(["written by", "path", "format"], [
            ["`nox -s stability`", "`.stability/DEVICE-PRECISION.json`",
             "the figures of one matrix cell (`--stability-report`)"],
            ["`nox -s stability`", "`.stability/kill_matrix-DEVICE.md` and `.md.json`",
             "the kill matrix (`--kill-matrix`); the JSON feeds "
             "[its results page](../results/kill-matrix.md)"],
            ["`nox -s stability_full`", "`.stability/full/`",
             "`report.json`, the kill matrix, `runs/` (one JSON file per finished run)"],
            ["`nox -s stability_diff`", "`.stability/diff/report.md`",
             "the before-merge report, written to be pasted into a pull request"],
            ["`nox -s gate_calibration`", "`.stability/gate/`, "
             "`seqsetvae/stability/ab/gate_calibration.json`",
             "the gate's measured error rates, which every gate report quotes"],
            ["`nox -s bench`", "`.benchmarks/bench.json`", "pytest-benchmark JSON"],
            ["`seqsetvae compare --out DIR`", "`DIR/report.md`, `DIR/summary.json`, PNGs",
             "the comparison report, its figures and plots"],
            ["`seqsetvae check-data --report F`", "`F`", "every finding as JSON"],
        ])])


PAGES = {
    "cli.md": cli_page,
    "suite-options.md": suite_options_page,
    "config.md": config_page,
    "data-checks.md": data_checks_page,
    "exit-codes.md": exit_codes_page,
    "thresholds.md": thresholds_page,
    "profiles.md": profiles_page,
    "compared-statistics.md": statistics_page,
    "outputs.md": outputs_page,
}


def write_pages(folder: Path) -> list[Path]:
    """Write every generated reference page into ``folder``; a page whose text is unchanged is
    left alone so an incremental build does not read it again."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in PAGES.items():
        path = folder / name
        text = make().rstrip() + "\n"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    return written
