"""Code health the architecture relies on: no module reaches into another's private names,
the command line starts without the heavy libraries, and no generic code probes adapters."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "evalsuite"
HEAVY = ("torch", "transformers", "ray", "sentence_transformers", "spacy", "datasets")


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def private_imports(source: str, here: str, *, is_package: bool = False) -> list[str]:
    """``from evalsuite.x import _y``, ``import evalsuite.x._y`` and ``x._y`` where ``x`` is
    an evalsuite module imported there, in the source of module ``here`` (its own names
    excepted)."""
    tree = ast.parse(source)
    package = here if is_package else here.rpartition(".")[0]
    found: list[str] = []
    modules_here: set[str] = set()  # local names bound to evalsuite modules
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:  # relative import
                base = package.split(".")
                source = ".".join(base[:len(base) - node.level + 1] + ([source] if source
                                                                        else []))
            if not source.startswith("evalsuite") or source == here:
                continue
            for alias in node.names:
                if private(alias.name) or any(private(p) for p in source.split(".")):
                    found.append(f"from {source} import {alias.name}")
                else:
                    modules_here.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("evalsuite"):
                    if any(private(p) for p in alias.name.split(".")):
                        found.append(f"import {alias.name}")
                    modules_here.add((alias.asname or alias.name).split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr) \
                and isinstance(node.value, ast.Name) and node.value.id in modules_here:
            found.append(f"{node.value.id}.{node.attr}")
    return found


def test_no_module_imports_a_private_name_of_another():
    offenders = {}
    for path in modules():
        hits = private_imports(path.read_text(encoding="utf-8"), module_name(path),
                               is_package=path.name == "__init__.py")
        if hits:
            offenders[module_name(path)] = hits
    assert not offenders, offenders


def test_the_private_name_check_catches_each_form():
    sample = textwrap.dedent("""
        from evalsuite.runner.run import _warm_up, run
        from evalsuite.metrics import registry
        from . import _private_module
        from ._hidden import x
        registry._instance(None)
        from evalsuite import __version__
        """)
    assert private_imports(sample, "evalsuite.sample") == [
        "from evalsuite.runner.run import _warm_up", "from evalsuite import _private_module",
        "from evalsuite._hidden import x", "registry._instance"]


def test_the_command_line_starts_without_heavy_libraries():
    """``import evalsuite.cli``, ``evalsuite --help`` and ``evalsuite tasks`` import no torch,
    transformers, Ray, spaCy, sentence-transformers or datasets: model kinds, metrics,
    probes and executors are registered lazily."""
    script = textwrap.dedent(f"""
        import sys
        import evalsuite.cli
        from evalsuite.cli import main
        assert main(["--help"]) == 0
        assert main(["tasks"]) == 0
        from evalsuite.models.registry import kinds
        from evalsuite.metrics.registry import names_for
        from evalsuite.probes.registry import probe_names
        from evalsuite.executors import EXECUTORS
        assert "hf" in kinds() and names_for("sentiment") and probe_names()
        assert EXECUTORS.names() == ["local", "ray"]
        loaded = sorted(m for m in {HEAVY!r} if m in sys.modules)
        print("heavy:", loaded)
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "heavy: []" in done.stdout, done.stdout[-500:]


def test_generic_code_never_probes_adapters():
    """Capabilities are declared on ModelAdapter: the runner, the efficiency meter, the
    probes and the executors call them instead of looking for them."""
    generic = [*(PACKAGE / "runner").glob("*.py"), *(PACKAGE / "efficiency").glob("*.py"),
               *(PACKAGE / "probes").glob("*.py"), *(PACKAGE / "executors").glob("*.py")]
    offenders = []
    for path in generic:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in ("getattr", "hasattr") and node.args:
                target = ast.unparse(node.args[0])
                if "adapter" in target or "runner" in target:
                    offenders.append(f"{path.name}: {ast.unparse(node)}")
            if isinstance(node, ast.Attribute) and node.attr == "__dict__" \
                    and "adapter" in ast.unparse(node.value):
                offenders.append(f"{path.name}: {ast.unparse(node)}")
    assert not offenders, offenders
