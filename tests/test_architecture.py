"""The package's imports form no cycle (issue 12): every import points down the layering."""
import ast
import pathlib

import networkx as nx

PKG = pathlib.Path(__file__).parent.parent / "trtgraph"


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> nx.DiGraph:
    g = nx.DiGraph()
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    for mod, path in modules.items():
        package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    origin = ".".join(base + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                targets = [f"{origin}.{a.name}" for a in node.names] + [origin]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t != mod and not (path.name == "__init__.py" and t.startswith(mod + ".")) \
                        and not mod.startswith(t + "."):
                    g.add_edge(mod, t)
    return g


def test_no_import_cycles():
    cycles = list(nx.simple_cycles(import_graph()))
    assert not cycles, f"import cycles (function-level imports count too): {cycles}"


def test_the_check_finds_a_cycle():
    g = import_graph()
    g.add_edge("trtgraph.network_state", "trtgraph.core")  # core imports network_state
    assert list(nx.simple_cycles(g))


def test_no_module_reaches_400_lines():
    """Small modules by concern (issue 12): split a module before it grows past 400 lines."""
    sizes = {str(p.relative_to(PKG.parent)): len(p.read_text().splitlines()) for p in PKG.rglob("*.py")}
    big = {k: v for k, v in sizes.items() if v >= 400}
    assert not big, f"modules of 400 lines or more: {big}"
