"""The documentation says what the code does.

* Results pages are generated from their JSON, never typed: a committed page that differs from
  what `python docs/generate_results.py` makes of its JSON fails here.
* Reference pages are generated from the code: every subcommand, config field and data check
  appears on them.
* Every command in the README and the tutorial runs as written from a fresh clone: the short
  ones are run (in a scratch folder beside the checkout's suites), the long ones (a stability
  session, a training run, a gate) are checked against the parsers and sessions they name.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def results():
    return _module(DOCS / "generate_results.py", "docs_generate_results")


# -- results pages ---------------------------------------------------------------------------------
def test_committed_results_pages_are_what_their_json_generates(results):
    stale = results.stale()
    assert not stale, (
        "results pages differ from what their JSON generates (never edit them by hand; run "
        "`python docs/generate_results.py`): " + ", ".join(p.name for p in stale))


def test_every_results_page_names_its_machine_and_date(results):
    pages = {p: t for p, t in results.rendered().items() if p.name != "index.md"}
    assert pages, "no results page was generated"
    for path, text in pages.items():
        # one line per JSON the page is made from (the claims page has one per ledger)
        sources = [line for line in text.splitlines() if line.startswith("**Source:**")]
        assert sources, f"{path.name}: no source line"
        for line in sources:
            assert re.search(r"measured on .+ on \d{4}-\d{2}-\d{2}", line), line
            assert "unknown" not in line, f"{path.name}: {line}"


def test_the_gate_calibration_copy_is_the_packages(results):
    """The gate quotes the package's JSON; the docs page must show the same figures."""
    package = ROOT / "seqsetvae" / "stability" / "ab" / "gate_calibration.json"
    copy = results.DATA / "gate_calibration.json"
    if not package.exists():
        pytest.skip("the package holds no gate calibration")
    assert copy.read_bytes() == package.read_bytes(), (
        "docs/results/data/gate_calibration.json is not the package's: run "
        "`python docs/generate_results.py --collect`")


def test_a_hand_edited_page_is_caught(results, tmp_path, monkeypatch):
    """The check compares text, so any edit of a figure is found (on a scratch copy)."""
    pages = results.rendered()
    path, text = next((p, t) for p, t in pages.items() if p.name != "index.md")
    scratch = tmp_path / "results"
    scratch.mkdir()
    for p, t in pages.items():
        (scratch / p.name).write_text(t)
    edited = re.sub(r"\d", lambda m: str((int(m.group()) + 1) % 10), text, count=1)
    (scratch / path.name).write_text(edited)
    monkeypatch.setattr(results, "RESULTS", scratch)
    monkeypatch.setattr(results, "rendered",
                        lambda: {scratch / p.name: t for p, t in pages.items()})
    assert results.stale() == [scratch / path.name]


# -- reference pages -------------------------------------------------------------------------------
def test_reference_pages_cover_the_code(tmp_path):
    import argparse

    from seqsetvae.cli.main import build_parser
    from seqsetvae.config import Config
    from seqsetvae.validation.validate import CHECKS

    reference = _module(DOCS / "_ext" / "reference_pages.py", "docs_reference_pages")
    for path in reference.write_pages(tmp_path):
        assert path.read_text().startswith("# "), path.name
    cli = (tmp_path / "cli.md").read_text()
    subparsers = next(a for a in build_parser()._actions
                      if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        assert f"`seqsetvae {name}`" in cli, name
        for action in sub._actions:
            for option in action.option_strings:
                if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                    continue
                assert f"`{option}`" in cli, f"seqsetvae {name} {option}"
    config = (tmp_path / "config.md").read_text()
    for field in Config().to_flat():
        assert f"`{field}`" in config, field
    checks = (tmp_path / "data-checks.md").read_text()
    assert re.findall(r"^\| `(\w+)` \|", checks, flags=re.M) == list(CHECKS)


# -- the README's and the tutorial's commands ------------------------------------------------------
DOCUMENTS = [ROOT / "README.md", DOCS / "tutorial" / "first-stability-run.md"]
RUN = [("seqsetvae", "data"), ("seqsetvae", "check-data"), ("seqsetvae", "config"),
       ("pytest", "data_checks/")]  # short: run as written
PARSE = [("seqsetvae",)]  # long: the parser must accept them
SUITES = ["data_checks", "stability_suite", "benchmarks", "conftest.py", "pyproject.toml"]


def commands(path: Path) -> list[str]:
    """The commands of a document's ```bash blocks, continuation lines joined, comments cut."""
    found = []
    for block in re.findall(r"^```bash\n(.*?)^```", path.read_text(), flags=re.M | re.S):
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            line = line.split("  #")[0].split(" # ")[0].strip()
            if line and not line.startswith("#"):
                found.append(line)
    return found


def test_the_documents_have_commands():
    for path in DOCUMENTS:
        assert commands(path), path


def _nox_sessions() -> set[str]:
    """Every session nox lists (selected by default or not), by id and by name."""
    out = subprocess.run(["nox", "--list"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    ids = re.findall(r"^[*-] (\S+)", out, flags=re.M)
    return set(ids) | {i.split("(")[0] for i in ids}


def _check_pip(argv: list[str]) -> None:
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
                 ["optional-dependencies"])
    for arg in argv:
        match = re.fullmatch(r"-e|\.\[([\w,]+)\]|[\w.=<>-]+|install|pip", arg)
        assert match, f"unexpected pip argument {arg!r}"
        if match.group(1):
            assert set(match.group(1).split(",")) <= extras, arg


def test_readme_and_tutorial_commands_run_as_written(tmp_path):
    from seqsetvae.cli.main import build_parser

    for name in SUITES:  # a scratch folder that looks like the checkout's root
        os.symlink(ROOT / name, tmp_path / name)
    sessions = _nox_sessions()
    parser = build_parser()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    ran = 0
    for document in DOCUMENTS:
        for command in commands(document):
            for part in command.split("&&"):
                argv = shlex.split(part)
                where = f"{document.name}: {part.strip()}"
                if argv[0] == "pip":
                    _check_pip(argv)
                elif argv[0] == "nox":
                    named = argv[argv.index("-s") + 1] if "-s" in argv else None
                    assert named is None or named in sessions, f"{where}: no such session"
                elif any(tuple(argv[:len(r)]) == r for r in RUN):
                    done = subprocess.run(part, shell=True, cwd=tmp_path, env=env,
                                          capture_output=True, text=True, timeout=600)
                    assert done.returncode == 0, f"{where}\n{done.stdout[-2000:]}" \
                                                 f"\n{done.stderr[-2000:]}"
                    ran += 1
                elif any(tuple(argv[:len(p)]) == p for p in PARSE):
                    try:
                        parser.parse_args(argv[1:])
                    except SystemExit as exc:
                        pytest.fail(f"{where}: the parser refuses it (exit {exc.code})")
                else:
                    pytest.fail(f"{where}: a command this test does not know how to check")
    assert ran >= 4


def test_readme_is_short_and_its_links_resolve():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if "://" not in target:
            assert (ROOT / target).exists(), f"README links to a missing file: {target}"
