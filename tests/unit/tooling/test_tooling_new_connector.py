"""``make new-connector`` (``python -m tools.new_connector``): a generated connector works with no hand edit.

The connector ``demo-bron`` is generated with ``--root`` (``tests/scaffold_kit.py``, shared with the e2e test
that runs a generated connector in the stack) into a temporary copy of what the generator and the contract suite
need (the sandbox package's source, tests/contract, the root pyproject for the tools' config, the
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
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from iko_shared.identifiers import IDENTIFIER_TYPES, identifier_problem

from tests.scaffold_kit import BIN, IGNORE, REPO, copy_needed, generate, install, path_of, run
from tools import new_connector
from tools.new_connector import NewConnectorError, plan

NAME = "demo-bron"
SERVICE = f"services/{NAME}-connector"
SIMULATOR = "sandbox/src/iko_sandbox/demo_bron"
CASE = "tests/contract/cases/demo_bron.py"
SNIPPET = f"deploy/config/profiles/snippets/{NAME}.yaml.example"
# The longest names the generator takes, and not a BSN: its templates stay within ruff's 120 columns.
LONGEST = ("abcdefgh-ijklmno", "--identifier-type", "vestigingsnummer", "--operation", "opvragen_" + "x" * 15)
LONG_SERVICE = "services/abcdefgh-ijklmno-connector"
LONG_FILES = (LONG_SERVICE, "sandbox/src/iko_sandbox/abcdefgh_ijklmno", "tests/contract/cases/abcdefgh_ijklmno.py")
MYPY = (f"{SERVICE}/src", SIMULATOR, CASE, f"{LONG_SERVICE}/src", *LONG_FILES[1:])
# Both generated cases run (the package discovers them); the longest one by a non-BSN identifier.
CONTRACT = ("tests/contract/test_connector_contract.py", "-k", f"{NAME} or {LONGEST[0]}")


@dataclass(frozen=True)
class Generated:
    root: Path
    output: str


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    root = tmp_path_factory.mktemp("repo")
    copy_needed(root)
    output = generate(root, NAME)
    generate(root, *LONGEST)
    return Generated(root, output)


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


@pytest.fixture(scope="module")
def installed(generated: Generated) -> Path:
    """The generated package installed non-editable (with its entry point) into a target directory."""
    return install(generated.root, SERVICE, generated.root / "site")


def pythonpath(generated: Generated, installed: Path) -> str:
    # The copy's sandbox (with the generated simulators) before the venv's; demo-bron from its install only (the
    # longest from its source directory: no entry point of its own, so the registry does not see it).
    return path_of(installed, generated.root / "sandbox/src", generated.root / LONG_SERVICE / "src", generated.root)


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


def test_the_stack_points_a_hyphenated_connector_at_its_simulator(generated: Generated, installed: Path) -> None:
    """What the stack gives every process (``Stack.service_env``) is what the generated settings read."""
    probe = (
        "import os, sys\n"
        f"sys.path.insert(0, {str(REPO / 'scripts')!r})\n"
        "from iko_stack import Stack\n"
        "from iko_shared.sources import load_object, source_entry\n"
        "stack = Stack('probe', gateway_port=18080, sandbox_ports={'demo-bron': 18110})\n"
        "os.environ.update(stack.service_env())\n"
        "print(load_object(source_entry('demo-bron').settings_class)().base_url)\n"
    )
    done = run([sys.executable, "-c", probe], generated.root, PYTHONPATH=pythonpath(generated, installed))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "http://127.0.0.1:18110"


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


def test_the_case_for_an_existing_simulator_assumes_no_auth_scheme(tmp_path: Path) -> None:
    """Generated beside the sandbox's Klantinteracties simulator (Token auth, ``create_klantinteracties_app(token=)``):
    the case starts it as the sandbox does and gives the source only its base URL, so it imports, builds both and
    type-checks without a hand edit; the generated simulator's X-Api-Key is nowhere in it."""
    shutil.copytree(REPO / "sandbox/src/iko_sandbox", tmp_path / "sandbox/src/iko_sandbox", ignore=IGNORE)
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests/__init__.py").write_text("")
    shutil.copytree(REPO / "tests/contract", tmp_path / "tests/contract", ignore=IGNORE)
    (tmp_path / "tests/contract/cases/klantinteracties.py").unlink()  # the real connector's case, not this one's
    generate(tmp_path, "klantinteracties", "--existing-simulator", "--operation", "contactmomenten")
    case = "tests/contract/cases/klantinteracties.py"
    text = (tmp_path / case).read_text(encoding="utf-8")
    assert "from iko_sandbox.klantinteracties.app import create_app" in text
    for assumed in ("api_key", "API_KEY", "X-Api-Key", "SecretStr"):
        assert assumed not in text, assumed
    service = tmp_path / "services/klantinteracties-connector/src"
    probe = (
        "from tests.contract.cases.klantinteracties import CASE\n"
        "source, settings = CASE.make_source('http://127.0.0.1:1')\n"
        "print(type(CASE.make_simulator()).__name__, settings.base_url, settings.api_key, CASE.errors)\n"
    )
    done = run([sys.executable, "-c", probe], tmp_path, PYTHONPATH=path_of(service, tmp_path / "sandbox/src", tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "FastAPI http://127.0.0.1:1 None []"
    for args in (["ruff", "check", case], ["ruff", "format", "--check", case]):
        checked = run([str(BIN / args[0]), *args[1:]], tmp_path)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    typed = run(
        [str(BIN / "mypy"), "--strict", "--explicit-package-bases", "--cache-dir", str(tmp_path / ".mypy"), case],
        tmp_path,
        MYPYPATH=path_of(REPO / "shared/src", tmp_path / "sandbox/src", service, tmp_path),
    )
    assert typed.returncode == 0, typed.stdout + typed.stderr
