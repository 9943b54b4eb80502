"""Data flows one way: data -> models -> attacks/strategies -> zoo -> training -> evaluation -> reports -> cli.

Every import of a benchmark module (including the deferred ones inside functions) must go to the
same or a lower layer, and the module-level imports must not form a cycle.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "benchmark"
LAYERS = [
    ("benchmark._version", "benchmark.errors", "benchmark.registry", "benchmark.spec", "benchmark.paths", "benchmark.cores", "benchmark.io", "benchmark.compat", "benchmark.stats", "benchmark.progress", "benchmark.plugins",
     "benchmark.distributed", "benchmark.results"),
    ("benchmark.data",),
    ("benchmark.models",),
    ("benchmark.attacks",),
    ("benchmark.strategies",),
    ("benchmark.sources",),
    ("benchmark.zoo", "benchmark.studies.spec", "benchmark.studies.expand", "benchmark.studies.catalog",
     "benchmark.studies.folder", "benchmark.studies.families"),
    ("benchmark.training",),
    ("benchmark.evaluation",),
    ("benchmark.gate", "benchmark.reports", "benchmark.perf", "benchmark.transfer", "benchmark.tuning",
     "benchmark.trajectory"),
    ("benchmark.studies",),
    ("benchmark.api",),
    ("benchmark.cli", "benchmark.__main__"),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    if module == "benchmark":
        return len(LAYERS)  # the package's lazy API
    for i, group in enumerate(LAYERS):
        if any(module == g or module.startswith(g + ".") for g in group):
            return i
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def imports(path: Path, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("benchmark"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names
                      if (ROOT.parent / node.module.replace(".", "/") / f"{a.name}.py").is_file()}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("benchmark")}
    return found


def test_no_upward_imports():
    problems = []
    for path in sorted(ROOT.rglob("*.py")):
        me = module_name(path)
        for other in imports(path):
            if layer(other) > layer(me):
                problems.append(f"{me} (layer {layer(me)}) imports {other} (layer {layer(other)})")
    assert not problems, "\n".join(problems)


def test_no_import_cycles_at_module_level():
    graph = {module_name(p): {m for m in imports(p, top_level_only=True)} for p in ROOT.rglob("*.py")}
    seen, stack = set(), []

    def visit(node):
        if node in stack:
            raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(node):] + [node]))
        if node in seen or node not in graph:
            return
        stack.append(node)
        for nxt in graph[node]:
            if nxt != node and not node.startswith(nxt + "."):  # a package's own __init__ is not a cycle
                visit(nxt)
        stack.pop()
        seen.add(node)

    for node in sorted(graph):
        visit(node)
