"""The package's folders are its stages, stacked in layers: no import runs up, no two modules import each other.

Every ``import`` counts, including the lazy ones inside functions (they still tie the modules together).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "worldsim"

#: Bottom to top. A module belongs to the longest prefix that names it; it may import its own layer and below.
LAYERS: list[list[str]] = [
    # ground libraries: no model, no simulator
    ["worldsim", "worldsim.errors", "worldsim.io", "worldsim.config", "worldsim.device", "worldsim.stop",
     "worldsim.runtime", "worldsim.actions", "worldsim.assets", "worldsim.metrics", "worldsim.video",
     "worldsim.checkpoint", "worldsim.starts", "worldsim.probes"],
    # parts: the networks and the real simulators
    ["worldsim.model", "worldsim.codec", "worldsim.sources"],
    # what drives or feeds them: data policies, datasets, the sampling recipe a world ships
    ["worldsim.policies", "worldsim.data", "worldsim.sampling.config"],
    ["worldsim.world_model"],
    # the one generation path
    ["worldsim.sampling"],
    ["worldsim.training"],
    ["worldsim.eval", "worldsim.envs"],
    ["worldsim.rl", "worldsim.play", "worldsim.rollout"],
    ["worldsim.cli", "worldsim.__main__"],
]  # fmt: skip


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found |= {n for n in names if n in modules}
    return found


def _layer(module: str) -> int:
    best, layer = -1, -1
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, layer = len(p), i
    return layer


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def test_every_module_has_a_layer(graph):
    assert [m for m in graph if _layer(m) < 0] == []


def test_no_import_runs_up_the_layers(graph):
    upward = [f"{a} -> {b}" for a, deps in graph.items() for b in deps if _layer(b) > _layer(a)]
    assert upward == []


def test_no_import_cycles(graph):
    # Tarjan's strongly connected components: any component of two or more modules is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert cycles == []


def test_the_checker_sees_an_upward_import():
    # A ground library importing the Simulator would be caught.
    assert _layer("worldsim.sampling.simulator") > _layer("worldsim.metrics")
    assert _layer("worldsim.sampling.config") < _layer("worldsim.world_model") < _layer("worldsim.sampling.cached")
