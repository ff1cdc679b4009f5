"""The package's shape: no import cycles, the engine knows no task, inference stays apart from training, and
modules stay small enough to read in one sitting."""

from __future__ import annotations

import ast
from pathlib import Path

import tslib

ROOT = Path(tslib.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(lazy: bool = False) -> dict[str, set[str]]:
    """Module -> tslib modules it imports at import time (imports inside functions are deliberate and lazy;
    ``lazy=True`` counts them too)."""
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree) if lazy else tree.body:  # top level only, unless lazy
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" for a in node.names] + [base]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (cycle := visit(m)):
                return cycle
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (cycle := visit(n)):
            return cycle
    return None


def test_no_import_cycles_even_through_imports_inside_functions():
    for lazy in (False, True):
        graph = import_graph(lazy)
        assert "tslib.engine.loop" in graph and "tslib.tasks.classify.train" in graph
        assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # the check can fail


def test_dependencies_run_one_way_even_lazily():
    """Arrows that once ran both ways (issue 19), counted with the imports inside functions too."""
    graph = import_graph(lazy=True)

    def imports(module: str, prefix: str) -> set[str]:
        return {e for e in graph[module] if e.startswith(prefix)}

    assert not imports("tslib.config", "tslib.engine"), "config.py is below engine/config.py"
    assert not imports("tslib.data.transforms", "tslib.data.fastaug"), "fastaug builds on transforms"
    assert not {m: imports(m, "tslib.data") for m in graph if m.startswith("tslib.models") and imports(m, "tslib.data")}
    assert not imports("tslib.errors", "tslib."), "errors.py is the bottom layer"
    for task in ("classify", "generate", "segment"):
        assert "tslib.report" not in graph[f"tslib.tasks.{task}.report"], "the page builds on the tasks' sections"
    for name, edges in graph.items():
        if name.startswith("tslib.viz"):  # figures draw the results they are given: no models loaded or run
            assert not {e for e in edges if e.startswith("tslib.tasks")}, (name, edges)


def test_engine_knows_no_task_and_inference_no_training_loop():
    """Counting the imports inside functions too: the engine and the models sit below the tasks."""
    graph = import_graph(lazy=True)
    for name, edges in graph.items():
        if name.startswith("tslib.engine"):
            assert not any(e.startswith(("tslib.tasks", "tslib.models", "tslib.data")) for e in edges), (name, edges)
    assert "tslib.engine.loop" not in graph["tslib.engine.inference"]
    assert not any(e.startswith("tslib.engine.loop") for e in graph["tslib.tasks.classify.prediction"])


def test_each_task_is_a_folder_with_a_spec():
    from tslib.tasks import available_tasks, get_task

    for name in available_tasks():
        assert (ROOT / "tasks" / name / "__init__.py").is_file() and get_task(name).name == name


def test_shared_tools_keep_no_per_task_code():
    """The report and the CLI reach a task only through its TaskSpec: no task name appears in their code, and
    every task package provides the functions its spec names (so a new task is a new folder)."""
    import importlib
    import inspect

    from tslib.tasks import available_tasks

    for module in ("report.py", "cli/__init__.py", "cli/results.py", "export.py", "cli/export.py"):
        code = (ROOT / module).read_text()
        for name in available_tasks():
            assert f'"{name}"' not in code, (module, name)
    for name in available_tasks():
        for module, fn in (("train", None), ("evaluate", "evaluate_run"), ("cli", "format_metrics"),
                           ("cli", "add_commands"), ("report", "sections"), ("report", "plot_curves"),
                           ("report", "data_tag")):
            mod = importlib.import_module(f"tslib.tasks.{name}.{module}")
            assert fn is None or inspect.isfunction(getattr(mod, fn)), (name, module, fn)


def test_modules_stay_readable():
    long = {str(p.relative_to(ROOT)): n for p in ROOT.rglob("*.py") if (n := len(p.read_text().splitlines())) > 320}
    assert not long, f"split these modules by idea: {long}"
