"""The package's module structure: no import cycles, no private names of another layer or package.

Layers are the subpackages of ``ipf_eval`` (``data``, ``did``, ``evidence``, ``disclosure``, ...); the
top-level modules (``errors``, ``results``, ``_defaults``, ``_arrays``, ...) are the base every layer may use.
A private name (one leading underscore) is private to its subpackage: another subpackage that needs it
gets a public function instead.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import ipf_eval

PACKAGE = Path(ipf_eval.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
PACKAGES = {name for name, p in MODULES.items() if p.name == "__init__.py"}


def _imports(name: str) -> Iterator[tuple[str, str | None, int]]:
    """Yield ``(module, imported name or None, line)`` for every import in module ``name`` (any depth)."""
    path = MODULES[name]
    package = name if name in PACKAGES else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                yield base, alias.name, node.lineno


def _edges() -> dict[str, set[str]]:
    """Module -> the package modules it imports (``from pkg import mod`` counts as importing ``pkg.mod``)."""
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        deps = set()
        for module, imported, _ in _imports(name):
            target = f"{module}.{imported}" if imported and f"{module}.{imported}" in MODULES else module
            if target in MODULES and target != name:
                deps.add(target)
        graph[name] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_is_read() -> None:
    graph = _edges()
    assert "ipf_eval.discontinuity._score" in graph["ipf_eval.discontinuity.rdd"]
    assert "ipf_eval.discontinuity._score" in graph["ipf_eval.discontinuity.density"]


def test_no_import_cycles() -> None:
    """Not even through imports deferred into functions (density and rdd used to import each other)."""
    assert _cycles(_edges()) == []


def test_cycle_detection_works() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _private(dotted: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in dotted.split("."))


def _layer(module: str) -> str:
    """``ipf_eval.did.att_gt`` -> ``did``; a top-level module (the base) -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and module in PACKAGES) else ""


def test_no_private_names_of_another_layer() -> None:
    offences = []
    for name in MODULES:
        for module, imported, line in _imports(name):
            if not module.startswith("ipf_eval"):
                continue
            target = f"{module}.{imported}" if imported and f"{module}.{imported}" in MODULES else module
            if _layer(target) in ("", _layer(name)):
                continue  # the base, or the importer's own layer
            rel = module.removeprefix("ipf_eval")
            if _private(rel) or (imported is not None and _private(imported)):
                offences.append(f"{name}:{line} imports {imported or ''} from {module}")
    assert offences == [], "use (or add) a public function of that layer:\n" + "\n".join(offences)


def test_no_private_attributes_of_other_objects() -> None:
    """``obj._name`` and ``getattr(obj, "_name")`` only on ``self``/``cls``: not on another package's objects
    (``ProcessPoolExecutor._processes``, papermill's registry) nor on another result (``res._inf_func``)."""
    offences = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            attr = None
            if isinstance(node, ast.Attribute):
                if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                    continue
                attr = node.attr
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) >= 2
                  and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
                attr = node.args[1].value
            if attr is not None and _private(attr):
                offences.append(f"{name}:{node.lineno} {ast.unparse(node)}")
    assert offences == []


def test_the_rules_recognise_offences() -> None:
    assert _private("_checks")
    assert _private("disclosure.tables._cell_stats")
    assert not _private("__init__")
    assert _layer("ipf_eval.did.att_gt") == "did"
    assert _layer("ipf_eval.did") == "did"
    assert _layer("ipf_eval._defaults") == ""
    assert _layer("ipf_eval.errors") == ""
