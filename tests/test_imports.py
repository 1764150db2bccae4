"""The package's import graph has no circle, counting imports inside functions: a deferred import
that reaches back up only hides a circle until someone moves it to the top of the file.

The graph is read from the source (ast), so nothing is imported to draw it. An edge runs from a
module to each module of the package it imports; ``from . import name`` points at the submodule
when ``name`` is one, else at the package's ``__init__``. A submodule's implicit import of its
parent package is not an edge: Python initialises parents first by design, not by our choice;
nor is an import under ``if TYPE_CHECKING:``, which never runs (it names a type for annotations).
"""

from __future__ import annotations

import ast
import graphlib
import shutil
from pathlib import Path

import pytest

import seqsetvae

PACKAGE_DIR = Path(seqsetvae.__file__).parent


def module_names(package_dir: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package."""
    root = package_dir.parent
    names = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _absolute(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The dotted name a (possibly relative) import statement names."""
    if level == 0:
        return target or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its file."""
    modules = module_names(package_dir)
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in _run_time_nodes(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(name, is_package, node.level, node.module)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:  # `import a.b.c` names a.b.c
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def _run_time_nodes(tree: ast.AST):
    """Every node of ``tree`` except the bodies of ``if TYPE_CHECKING:`` blocks."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        return exc.args[1]
    return None


def test_the_package_has_no_import_circle():
    cycle = find_cycle(import_graph(PACKAGE_DIR))
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_shared_cli_module_is_a_leaf():
    graph = import_graph(PACKAGE_DIR)
    commands = {m for m in graph if m.startswith("seqsetvae.cli.")}
    assert not graph["seqsetvae.cli.common"] & commands


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph(PACKAGE_DIR)
    # cmd_data_synthetic imports the built-in datasets only when it runs
    assert "seqsetvae.data.builtin" in graph["seqsetvae.cli.data"]


def test_annotation_only_imports_are_not_edges(tmp_path):
    copy = tmp_path / "seqsetvae"
    shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / "config.py", "a") as fh:
        fh.write("\n\nif TYPE_CHECKING:\n    from .cli import main  # noqa\n")
    assert "seqsetvae.cli" not in import_graph(copy)["seqsetvae.config"]


@pytest.mark.parametrize("planted", [
    # the circle this test was written against: a command's shared helpers importing it back
    ("cli/common.py", "\n\ndef _planted():\n    from .train import cmd_train  # noqa\n"),
    # a library module reaching up into the command line from inside a function
    ("config.py", "\n\ndef _planted():\n    from .cli import main  # noqa\n"),
    # an absolute import closes a circle just as well
    ("data/packed.py", "\n\ndef _planted():\n    import seqsetvae.data.dataset  # noqa\n"),
])
def test_a_planted_circle_is_found(tmp_path, planted):
    copy = tmp_path / "seqsetvae"
    shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    file, code = planted
    with open(copy / file, "a") as fh:
        fh.write(code)
    cycle = find_cycle(import_graph(copy))
    assert cycle is not None, f"no circle found after planting one in {file}"


# -- layers --------------------------------------------------------------------------------------
# General run machinery: how runs are trained, shipped, stored and compared. It must not know the
# A/B code of the gate (which builds on it), and rendering a report must never start training.
RUN_MACHINERY = ("pool", "runstore", "cluster", "runjob", "records", "runs", "engine",
                 "statistics", "progress", "checkout_runs", "identity")
RENDERER = "seqsetvae.stability.report"  # the package and each of its modules
STARTS_TRAINING = ("seqsetvae.stability.pool", "seqsetvae.stability.cluster",
                   "seqsetvae.stability.checkout_runs", "seqsetvae.stability.ab.sides",
                   "seqsetvae.stability.ab.worker")


def reaches(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module ``start`` imports, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    found = [f"{m} imports {t}" for m in (f"seqsetvae.stability.{n}" for n in RUN_MACHINERY)
             for t in sorted(reaches(graph, m)) if t.startswith("seqsetvae.stability.ab")]
    renderers = [m for m in graph if m == RENDERER or m.startswith(RENDERER + ".")]
    found += [f"{r} reaches {t}" for r in renderers for t in sorted(reaches(graph, r))
              if t in STARTS_TRAINING]
    return found


def test_run_machinery_never_imports_the_ab_code_and_reports_never_train():
    assert layer_violations(import_graph(PACKAGE_DIR)) == []


@pytest.mark.parametrize(("file", "code"), [
    ("stability/runjob.py", "\n\ndef _planted():\n    from .ab import sides  # noqa\n"),
    ("stability/report/configs.py",
     "\n\ndef _planted():\n    from ..pool import RunPool  # noqa\n"),
])
def test_a_planted_layer_violation_is_found(tmp_path, file, code):
    copy = tmp_path / "seqsetvae"
    shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / file, "a") as fh:
        fh.write(code)
    assert layer_violations(import_graph(copy))


# Only the comparison engine computes a test, a quantile or a p-value of a paired comparison.
# The data checks' label-drift test (a contingency table) and AUROC's ranks answer other
# questions.
STATISTICAL_TESTS = ("ttest", "wilcoxon", ".t.", ".norm.", "binomtest", "mannwhitneyu",
                     "permutation_test", "bootstrap", "sign_test")
ENGINE = PACKAGE_DIR / "stability" / "engine.py"
OTHER_SCIPY = {PACKAGE_DIR / "validation" / "labels.py", PACKAGE_DIR / "train" / "metrics.py"}


def test_only_the_engine_computes_tests():
    outside = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        text = path.read_text()
        if path == ENGINE or path in OTHER_SCIPY:
            continue
        if "scipy" in text or any(f"stats{t}" in text.replace(" ", "") for t in
                                  STATISTICAL_TESTS if t.startswith(".")):
            outside.append(str(path.relative_to(PACKAGE_DIR)))
    assert outside == [], f"statistics outside engine.py: {outside}"
