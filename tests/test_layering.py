"""The dependency order of DESIGN.md, checked on the source: nothing imports upward.

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
    assert "predictors.workload" not in graph()["predictors.hardware"]


def test_nothing_imports_the_cli():
    assert [mod for mod, deps in graph().items() if "nas.cli" in deps] == []


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
