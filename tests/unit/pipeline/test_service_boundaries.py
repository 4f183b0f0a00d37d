"""Services depend on ``shared``, never on each other: a new source is a new service, and no other service learns
of it. Read from the source files (every import, also inside functions), so that a lazy import counts too."""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[3] / "services"


def packages() -> dict[str, Path]:
    """Each service's top-level package, by name."""
    return {
        package.name: package
        for service in SERVICES.iterdir()
        if (service / "src").is_dir()
        for package in (service / "src").iterdir()
        if (package / "__init__.py").exists()
    }


def imported_top_levels(package: Path) -> set[str]:
    found: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_every_service_is_found():
    assert {"iko_gateway", "iko_assembler", "iko_audit", "iko_brp_connector"} <= set(packages())


def test_no_service_package_imports_another():
    services = packages()
    crossings = {name: sorted(imported_top_levels(path) & (set(services) - {name})) for name, path in services.items()}
    assert {name: others for name, others in crossings.items() if others} == {}
