"""python -m tools.new_connector <name> [--root DIR] [--identifier-type bsn] [--operation raadplegen] [--port N]

Generates a working connector for a new source from the templates in ``tools/templates/connector/``:

- ``services/<name>-connector/`` (distribution ``iko-<name>-connector``, package ``iko_<name>_connector``): the
  pyproject with the ``iko.sources`` entry point, ``registry.py`` (its ``SourceEntry``), ``source.py`` (settings
  ``IKO_<NAME>_BASE_URL`` / ``IKO_<NAME>_API_KEY`` and the adapter) and ``__main__.py``;
- ``sandbox/src/iko_sandbox/<name>/``: a simulator with one canned record, behind the sandbox control layer;
- ``tests/contract/cases/<name>.py``: its contract case, found by ``tests/contract/cases`` without a list edit
  (with ``--existing-simulator``: against the simulator's ``create_app()``, assuming no auth scheme);
- ``deploy/config/profiles/snippets/<name>.yaml.example``: how to add the source to a profile (printed too).

The root pyproject's workspace takes ``services/*`` and ``scripts/bootstrap_venv.sh`` installs every one of them
editable, so ``make venv`` is all that is left for the entry point to register. Nothing existing is overwritten.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from string import Template

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = Path(__file__).resolve().parent / "templates" / "connector"
NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
OPERATION = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")
FIRST_PORT = 8110
# The templates keep their lines within ruff's 120 columns for names up to these lengths.
MAX_NAME = 16
MAX_OPERATION = 24
# Python keywords and names a source package must not shadow in iko_sandbox.
RESERVED = frozenset({"control", "logs", "pagination", "paths", "server", "testing", "common"})
# Per identifier type (the known ones, ``iko_shared.identifiers.IDENTIFIER_TYPES``; a test keeps them in step): the
# test identifier the simulator knows, and a valid one it does not.
TEST_VALUES = {
    "bsn": ("999993653", "999990007"),
    "kvk": ("69599084", "12345678"),
    "rsin": ("999993653", "999990007"),
    "vestigingsnummer": ("000038509504", "999999999999"),
    "nummeraanduiding": ("0363200000218908", "9999999999999999"),
    "adresseerbaarobject": ("0363010000758545", "9999019999999999"),
}

# template (under TEMPLATES) -> path under the root; {dir}, {package}, {module}, {name} filled in.
FILES = {
    "service/pyproject.toml.tmpl": "services/{dir}/pyproject.toml",
    "service/__init__.py.tmpl": "services/{dir}/src/{package}/__init__.py",
    "service/registry.py.tmpl": "services/{dir}/src/{package}/registry.py",
    "service/source.py.tmpl": "services/{dir}/src/{package}/source.py",
    "service/__main__.py.tmpl": "services/{dir}/src/{package}/__main__.py",
    "service/py.typed.tmpl": "services/{dir}/src/{package}/py.typed",
    "sandbox/__init__.py.tmpl": "sandbox/src/iko_sandbox/{module}/__init__.py",
    "sandbox/app.py.tmpl": "sandbox/src/iko_sandbox/{module}/app.py",
    "contract_case.py.tmpl": "tests/contract/cases/{module}.py",
    "profile_snippet.yaml.tmpl": "deploy/config/profiles/snippets/{name}.yaml.example",
}
# With --existing-simulator: the simulator's auth scheme is its own, so the case uses its create_app() and the
# settings' defaults instead of the generated simulator's API key.
EXISTING_SIMULATOR_CASE = "contract_case_existing.py.tmpl"


class NewConnectorError(ValueError):
    pass


@dataclass(frozen=True)
class Plan:
    name: str
    identifier_type: str
    operation: str
    port: int
    # False when the sandbox has the source's simulator already (written before its connector): it is kept.
    with_simulator: bool = True

    @property
    def module(self) -> str:
        return self.name.replace("-", "_")

    @property
    def values(self) -> dict[str, str]:
        test_value, unknown_value = TEST_VALUES[self.identifier_type]
        return {
            "name": self.name,
            "module": self.module,
            "package": f"iko_{self.module}_connector",
            "dist": f"iko-{self.name}-connector",
            "dir": f"{self.name}-connector",
            "cls": "".join(part.capitalize() for part in self.name.split("-")),
            "env": self.module.upper(),
            "title": self.name.replace("-", " ").title(),
            "identifier_type": self.identifier_type,
            "operation": self.operation,
            "port": str(self.port),
            "test_value": test_value,
            "unknown_value": unknown_value,
        }

    def files(self, root: Path) -> dict[Path, str]:
        """Each file to write, under ``root``, with its rendered text."""
        values = self.values
        rendered: dict[Path, str] = {}
        for template, target in FILES.items():
            if not self.with_simulator and template.startswith("sandbox/"):
                continue
            source = (
                EXISTING_SIMULATOR_CASE if not self.with_simulator and template == "contract_case.py.tmpl" else template
            )
            text = Template((TEMPLATES / source).read_text(encoding="utf-8")).substitute(values)
            rendered[root / target.format(**values)] = text
        return rendered


def existing_simulators(root: Path) -> dict[str, int]:
    """The sandbox's simulators (name -> ``DEFAULT_PORT``), read as text."""
    found: dict[str, int] = {}
    for init in sorted(root.glob("sandbox/src/iko_sandbox/*/__init__.py")):
        port = re.search(r"^DEFAULT_PORT\s*=\s*(\d+)", init.read_text(encoding="utf-8"), re.MULTILINE)
        if port:  # a simulator (control and the other helpers have no port)
            found[init.parent.name.replace("_", "-")] = int(port.group(1))
    return found


def existing_sources(root: Path) -> dict[str, int]:
    """The sources the tree under ``root`` already has (name -> port), from the connectors' registry modules and
    the sandbox's simulators (their ``DEFAULT_PORT``), read as text: nothing needs to be installed."""
    found: dict[str, int] = {}
    for registry in sorted(root.glob("services/*/src/*/registry.py")):
        text = registry.read_text(encoding="utf-8")
        name = re.search(r'\bname="([^"]+)"', text)
        port = re.search(r"\bsimulator_port=(\d+)", text)
        if name:
            found[name.group(1)] = int(port.group(1)) if port else 0
    for init in sorted(root.glob("sandbox/src/iko_sandbox/*/__init__.py")):
        port = re.search(r"^DEFAULT_PORT\s*=\s*(\d+)", init.read_text(encoding="utf-8"), re.MULTILINE)
        if port:  # a simulator (control and the other helpers have no port)
            found.setdefault(init.parent.name.replace("_", "-"), int(port.group(1)))
    return found


def _has_connector(root: Path, name: str) -> bool:
    return any(
        f'name="{name}"' in path.read_text(encoding="utf-8") for path in root.glob("services/*/src/*/registry.py")
    )


def free_port(taken: set[int]) -> int:
    port = FIRST_PORT
    while port in taken:
        port += 1
    return port


def plan(
    name: str,
    root: Path,
    identifier_type: str = "bsn",
    operation: str = "raadplegen",
    port: int = 0,
    *,
    existing_simulator: bool = False,
) -> Plan:
    """``existing_simulator``: the sandbox has this source's simulator already; the connector uses its port."""
    if not NAME.fullmatch(name) or len(name) > MAX_NAME:
        raise NewConnectorError(
            f"{name!r}: a source name is lowercase letters and digits, words joined by '-', at most {MAX_NAME} long"
        )
    if identifier_type not in TEST_VALUES:
        raise NewConnectorError(f"{identifier_type!r}: an identifier type is one of {', '.join(TEST_VALUES)}")
    if not OPERATION.fullmatch(operation) or len(operation) > MAX_OPERATION:
        raise NewConnectorError(f"{operation!r}: an operation is letters, digits and '_', at most {MAX_OPERATION} long")
    module = name.replace("-", "_")
    if module in RESERVED or not module.isidentifier():
        raise NewConnectorError(f"{name!r} is reserved")
    existing = existing_sources(root)
    if existing_simulator:
        simulators = existing_simulators(root)
        if name not in simulators:
            raise NewConnectorError(f"there is no simulator {name!r} in the sandbox (known: {', '.join(simulators)})")
        port = port or simulators[name]
        # The simulator's own entry is this source's, not another's.
        existing = {n: p for n, p in existing.items() if n != name or n not in simulators or _has_connector(root, n)}
    if name in existing or module in {n.replace("-", "_") for n in existing}:
        raise NewConnectorError(f"source {name!r} exists already (known: {', '.join(sorted(existing))})")
    taken = set(existing.values())
    if port and port in taken:
        raise NewConnectorError(f"port {port} is taken by another source")
    made = Plan(name, identifier_type, operation, port or free_port(taken), with_simulator=not existing_simulator)
    clashes = [str(path) for path in made.files(root) if path.exists()]
    if clashes:
        raise NewConnectorError(f"would overwrite {', '.join(clashes)}")
    return made


def generate(made: Plan, root: Path) -> list[Path]:
    written = []
    for path, text in made.files(root).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.new_connector", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the source's name: lowercase letters and digits, words joined by '-'")
    parser.add_argument("--root", type=Path, default=REPO, help="the repository to generate into (default: this one)")
    parser.add_argument(
        "--identifier-type",
        default="bsn",
        choices=sorted(TEST_VALUES),
        help="what the source looks up by (default: bsn)",
    )
    parser.add_argument("--operation", default="raadplegen", help="its one operation (default: raadplegen)")
    parser.add_argument(
        "--port", type=int, default=0, help=f"the simulator's port (default: the first free from {FIRST_PORT})"
    )
    parser.add_argument(
        "--existing-simulator",
        action="store_true",
        help="the sandbox has this source's simulator already: keep it, and use its DEFAULT_PORT",
    )
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    try:
        made = plan(
            args.name,
            root,
            args.identifier_type,
            args.operation,
            args.port,
            existing_simulator=args.existing_simulator,
        )
    except NewConnectorError as exc:
        print(f"new-connector: {exc}", file=sys.stderr)
        return 2
    written = generate(made, root)
    for path in written:
        print(f"new-connector: wrote {path.relative_to(root)}")
    snippet = next(path for path in written if path.name.endswith(".yaml.example"))
    values = made.values
    print(f"\nTo add {made.name} to a profile ({snippet.relative_to(root)}):\n")
    print(snippet.read_text(encoding="utf-8"))
    print(
        "Next:\n"
        "  make venv          installs the new package editable, so its iko.sources entry point registers\n"
        "  make deploy-manifests asyncapi   the connector's Deployment and the AsyncAPI document, from the registry\n"
        "  make lint typecheck\n"
        f"  .venv/bin/pytest tests/contract -k {made.name}   the contract suite against its simulator\n"
        f"  python -m iko_sandbox {made.name}   its simulator on port {made.port}; the connector: "
        f"python -m {values['package']}\n"
        f"Then replace the canned record and the adapter's request with the real {values['title']} API's."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
