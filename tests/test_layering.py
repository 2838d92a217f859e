"""The dependency order of the packages (README.md, "Layout"), checked on the source: nothing imports upward.

    python tests/test_layering.py    # prints the project's import graph, module by module
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("userfiles", "supernet", "predictors", "nas")
# A package may import itself and the ones listed here, nothing else of the project.
ALLOWED = {"userfiles": set(), "supernet": {"userfiles"}, "predictors": {"userfiles", "supernet"},
           "nas": {"userfiles", "supernet", "predictors"}}
# The shared vocabulary: what predictors may take from supernet (no torch behind any of it).
VOCABULARY = {"supernet.space", "supernet.family", "supernet.features"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path: Path) -> set[str]:
    """Modules of the project that `path` imports, at any depth (lazy imports inside functions count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.update(n for n in names if n.split(".")[0] in PACKAGES)
    return found


def graph() -> dict[str, set[str]]:
    files = [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))]
    return {module_name(p): project_imports(p) for p in files}


def test_no_package_imports_upward():
    wrong = [(mod, dep) for mod, deps in graph().items() for dep in deps
             if dep.split(".")[0] != mod.split(".")[0] and dep.split(".")[0] not in ALLOWED[mod.split(".")[0]]]
    assert wrong == []


def test_predictors_take_only_the_vocabulary_from_supernet():
    wrong = [(mod, dep) for mod, deps in graph().items() if mod.startswith("predictors.")
             for dep in deps if dep.startswith("supernet") and dep not in VOCABULARY]
    assert wrong == []


def test_the_architecture_does_not_import_the_problem():
    """Timeloop's split: what the accelerator is (hardware.py) knows nothing of what it computes (workload.py)."""
    assert "predictors.accelerator.workload" not in graph()["predictors.accelerator.hardware"]


def test_the_cost_model_never_imports_the_learned_side():
    """Two rooms: the accelerator model is pure Python and pydantic; what is learned from it sits above it."""
    wrong = [(mod, dep) for mod, deps in graph().items() if mod.startswith("predictors.accelerator")
             for dep in deps if dep.startswith("predictors.learned")]
    assert wrong == []


def test_no_module_imports_a_cycle():
    """No circle among modules (a package's __init__ re-exporting its own modules is not an edge back)."""
    imports = graph()
    edges = {mod: {dep for dep in deps if dep in imports and dep != mod and not dep.startswith(mod + ".")}
             for mod, deps in imports.items()}
    state: dict[str, int] = {}

    def visit(mod: str, path: list[str]) -> list[str]:
        state[mod] = 1
        for dep in sorted(edges.get(mod, ())):
            if state.get(dep) == 1:
                return path + [mod, dep]
            if dep not in state and (cycle := visit(dep, path + [mod])):
                return cycle
        state[mod] = 2
        return []

    cycles = [cycle for mod in sorted(edges) if mod not in state and (cycle := visit(mod, []))]
    assert cycles == []


def test_no_room_holds_more_than_a_third_of_the_code():
    lines: dict[str, int] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            room = ".".join(path.relative_to(ROOT).parts[:2 if path.parent != ROOT / package else 1])
            lines[room.removesuffix(".py")] = lines.get(room.removesuffix(".py"), 0) + len(path.read_text().splitlines())
    total = sum(lines.values())
    assert max(lines.values()) <= total / 3, lines


def test_nothing_outside_the_cli_imports_it():
    assert [mod for mod, deps in graph().items() if not mod.startswith("nas.cli")
            and any(dep == "nas.cli" or dep.startswith("nas.cli.") for dep in deps)] == []


def test_the_exported_modelling_files_need_only_torch_and_transformers():
    """`hf` exports carry hf_modeling.py (as modeling_hwnas.py) and the two files it imports relatively."""
    shipped = {"hf_modeling": None, "layers": None, "elastic": None}
    for name in shipped:
        tree = ast.parse((ROOT / "supernet" / f"{name}.py").read_text())
        roots = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
        roots |= {node.module.split(".")[0] for node in ast.walk(tree)
                  if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module}
        relative = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}
        assert roots <= {"__future__", "torch", "transformers", "types", "typing"}, name
        assert relative <= set(shipped), name


def test_the_supernet_does_not_import_its_exporter():
    supernet = {mod: deps for mod, deps in graph().items() if mod.startswith("supernet.")}
    assert all("supernet.export" not in deps and "supernet.hf_modeling" not in deps
               for mod, deps in supernet.items() if mod in ("supernet.model", "supernet.layers", "supernet.train"))


if __name__ == "__main__":
    for mod, deps in graph().items():
        print(f"{mod:28s} -> {', '.join(sorted(deps)) or '-'}")
