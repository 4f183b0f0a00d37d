"""``make new-connector`` (``python -m tools.new_connector``): a generated connector works with no hand edit.

The connector ``demo-bron`` is generated with ``--root`` into a temporary copy of what the generator and the
contract suite need (the sandbox package's source, tests/contract, the root pyproject for the tools' config, the
connectors' registry modules); the repository itself is never written to. Then, against the generated files:

- lint and types: ``ruff check``, ``ruff format --check`` and ``mypy --strict`` pass, for demo-bron and for a
  second connector with the longest names the generator takes, looked up by a vestigingsnummer (not a BSN);
- the registry: installed non-editable into a target directory (``uv pip install --target``), the package's
  ``iko.sources`` entry point makes ``registered_sources()`` name it, with the port and simulator generated;
- the contract: the library's contract suite (tests/contract, whose cases are discovered) passes against the
  generated adapters and simulators over real HTTP, demo-bron's "a BSN travels in no URL" test included.

These take some 20-40 s (mypy and a pytest subprocess); the checks of the name and the port are instant.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from iko_shared.identifiers import IDENTIFIER_TYPES, identifier_problem

from tools import new_connector
from tools.new_connector import NewConnectorError, plan

REPO = Path(__file__).resolve().parents[3]
NAME = "demo-bron"
SERVICE = f"services/{NAME}-connector"
SIMULATOR = "sandbox/src/iko_sandbox/demo_bron"
CASE = "tests/contract/cases/demo_bron.py"
SNIPPET = f"deploy/config/profiles/snippets/{NAME}.yaml.example"
BIN = Path(sys.executable).parent
# The longest names the generator takes, and not a BSN: its templates stay within ruff's 120 columns.
LONGEST = ("abcdefgh-ijklmno", "--identifier-type", "vestigingsnummer", "--operation", "opvragen_" + "x" * 15)
LONG_SERVICE = "services/abcdefgh-ijklmno-connector"
LONG_FILES = (LONG_SERVICE, "sandbox/src/iko_sandbox/abcdefgh_ijklmno", "tests/contract/cases/abcdefgh_ijklmno.py")
MYPY = (f"{SERVICE}/src", SIMULATOR, CASE, f"{LONG_SERVICE}/src", *LONG_FILES[1:])
# Both generated cases run (the package discovers them); the longest one by a non-BSN identifier.
CONTRACT = ("tests/contract/test_connector_contract.py", "-k", f"{NAME} or {LONGEST[0]}")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache", ".ruff_cache")


@dataclass(frozen=True)
class Generated:
    root: Path
    output: str


def copy_needed(root: Path) -> None:
    """What the generator reads and the contract suite runs on, without anything generated before."""
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    shutil.copytree(REPO / "sandbox/src/iko_sandbox", root / "sandbox/src/iko_sandbox", ignore=IGNORE)
    (root / "tests").mkdir()
    (root / "tests/__init__.py").write_text("")
    shutil.copytree(REPO / "tests/contract", root / "tests/contract", ignore=IGNORE)
    for registry in REPO.glob("services/*/src/*/registry.py"):
        target = root / registry.relative_to(REPO)
        target.parent.mkdir(parents=True)
        shutil.copy(registry, target)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    root = tmp_path_factory.mktemp("repo")
    copy_needed(root)
    done = subprocess.run(
        [sys.executable, "-m", "tools.new_connector", NAME, "--root", str(root)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    longest = subprocess.run(
        [sys.executable, "-m", "tools.new_connector", *LONGEST, "--root", str(root)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert longest.returncode == 0, longest.stderr
    return Generated(root, done.stdout)


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **env}
    )


def test_generation_writes_the_connector_simulator_case_and_snippet_outside_the_repo(generated: Generated) -> None:
    root = generated.root
    for path in (SERVICE, f"{SERVICE}/src/iko_demo_bron_connector/source.py", SIMULATOR, CASE, SNIPPET):
        assert (root / path).exists(), path
        assert not (REPO / path).exists(), f"{path} was written into the repository"
    # The snippet is printed, parses, and is no profile the loader reads (it globs *.y*ml).
    assert "demo-bron:\n    operation: raadplegen" in generated.output
    assert "make venv" in generated.output
    assert yaml.safe_load((root / SNIPPET).read_text())["sources"] == {NAME: {"operation": "raadplegen"}}
    assert not list((root / SNIPPET).parent.glob("*.y*ml"))
    # A second run refuses: the source exists now.
    again = run([sys.executable, "-m", "tools.new_connector", NAME, "--root", str(root)], REPO)
    assert again.returncode == 2
    assert "exists already" in again.stderr


def test_generated_files_pass_ruff_and_mypy_strict(generated: Generated) -> None:
    """demo-bron, and a connector with the longest names by a non-BSN identifier."""
    root = generated.root
    files = [SERVICE, SIMULATOR, CASE, *LONG_FILES]
    for args in (["ruff", "check", *files], ["ruff", "format", "--check", *files]):
        done = run([str(BIN / args[0]), *args[1:]], root)
        assert done.returncode == 0, done.stdout + done.stderr
    sources = (REPO / "shared/src", root / "sandbox/src", root / SERVICE / "src", root / LONG_SERVICE / "src", root)
    mypy_path = os.pathsep.join(str(path) for path in sources)
    done = run(
        [str(BIN / "mypy"), "--strict", "--explicit-package-bases", "--cache-dir", str(root / ".mypy_cache"), *MYPY],
        root,
        MYPYPATH=mypy_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def to(target: Path) -> list[str]:
    return ["--python", sys.executable, "--target", str(target), SERVICE]


@pytest.fixture(scope="module")
def installed(generated: Generated) -> Path:
    """The generated package installed non-editable (with its entry point) into a target directory."""
    uv = shutil.which("uv") or shutil.which("uv", path=str(BIN))
    if uv is None:
        pytest.skip("uv is not installed")
    target = generated.root / "site"
    done = run(
        [uv, "pip", "install", "--quiet", "--no-sources", "--no-deps", "--no-build-isolation", *to(target)],
        generated.root,
    )
    assert done.returncode == 0, done.stderr
    return target


def pythonpath(generated: Generated, installed: Path) -> str:
    # The copy's sandbox (with the generated simulators) before the venv's; demo-bron from its install only (the
    # longest from its source directory: no entry point of its own, so the registry does not see it).
    paths = (installed, generated.root / "sandbox/src", generated.root / LONG_SERVICE / "src", generated.root)
    return os.pathsep.join(str(path) for path in paths)


def test_the_registry_finds_the_installed_connector(generated: Generated, installed: Path) -> None:
    probe = (
        "from iko_shared.sources import load_object, source_entry, source_names\n"
        "entry = source_entry('demo-bron')\n"
        "print(sorted(source_names()))\n"
        "print(entry.connector_module, entry.simulator_module, entry.simulator_port, sorted(entry.identifier_types))\n"
        "print(load_object(entry.source_class).__module__, load_object(entry.settings_class)().base_url)\n"
        "import importlib; print(importlib.import_module(entry.simulator_module + '.app').create_app().title)\n"
    )
    done = run([sys.executable, "-c", probe], generated.root, PYTHONPATH=pythonpath(generated, installed))
    assert done.returncode == 0, done.stderr
    names, entry, loaded, title = done.stdout.splitlines()
    assert NAME in names
    assert entry == "iko_demo_bron_connector iko_sandbox.demo_bron 8110 ['bsn']"
    assert loaded == "iko_demo_bron_connector.source http://127.0.0.1:8110"
    assert title == "IKO sandbox: Demo Bron"
    assert (
        str(installed)
        in run(
            [sys.executable, "-c", "import iko_demo_bron_connector as m; print(m.__file__)"],
            generated.root,
            PYTHONPATH=pythonpath(generated, installed),
        ).stdout
    )


def test_the_contract_suite_passes_against_the_generated_connector(generated: Generated, installed: Path) -> None:
    done = run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *CONTRACT],
        generated.root,
        PYTHONPATH=pythonpath(generated, installed),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = done.stdout.strip().splitlines()[-1]
    assert " passed" in summary
    # Only the non-BSN connector skips "a BSN travels in no URL"; demo-bron, asked by BSN, runs it.
    assert "1 skipped" in summary, done.stdout
    assert f"{LONGEST[0]} is never asked with a BSN" in done.stdout
    assert "failed" not in summary
    assert "error" not in summary


@pytest.mark.parametrize("bad", ["Demo", "demo_bron", "-demo", "demo-", "demo--bron", "9demo", "", "common", "a" * 17])
def test_a_name_must_be_lowercase_words_joined_by_hyphens(bad: str) -> None:
    with pytest.raises(NewConnectorError):
        plan(bad, REPO)


def test_every_identifier_type_has_valid_test_identifiers() -> None:
    assert set(new_connector.TEST_VALUES) == set(IDENTIFIER_TYPES)
    for kind, values in new_connector.TEST_VALUES.items():
        assert [identifier_problem(kind, value) for value in values] == [None, None], kind
    with pytest.raises(NewConnectorError, match="identifier type"):
        plan("nieuwe-bron", REPO, identifier_type="postcode")


@pytest.mark.parametrize("existing", ["brp", "kvk", "zgw"])
def test_an_existing_source_is_refused(existing: str) -> None:
    with pytest.raises(NewConnectorError, match="exists already"):
        plan(existing, REPO)


def test_the_port_is_the_first_free_from_8110_and_a_taken_one_is_refused() -> None:
    taken = set(new_connector.existing_sources(REPO).values())
    made = plan("nieuwe-bron", REPO)
    assert made.port >= new_connector.FIRST_PORT
    assert made.port not in taken
    assert made.values["package"] == "iko_nieuwe_bron_connector"
    assert made.values["env"] == "NIEUWE_BRON"
    with pytest.raises(NewConnectorError, match="taken"):
        plan("nieuwe-bron", REPO, port=8102)


def test_a_connector_for_a_simulator_that_exists_keeps_it_and_its_port(tmp_path: Path) -> None:
    simulator = tmp_path / "sandbox" / "src" / "iko_sandbox" / "bronx"
    simulator.mkdir(parents=True)
    (simulator / "__init__.py").write_text("DEFAULT_PORT = 8123\n")
    with pytest.raises(NewConnectorError, match="exists already"):
        plan("bronx", tmp_path)
    made = plan("bronx", tmp_path, existing_simulator=True)
    assert made.port == 8123
    written = {path.relative_to(tmp_path).as_posix() for path in made.files(tmp_path)}
    assert not any(path.startswith("sandbox/") for path in written)
    assert "services/bronx-connector/src/iko_bronx_connector/registry.py" in written
    with pytest.raises(NewConnectorError, match="no simulator"):
        plan("elders", tmp_path, existing_simulator=True)
