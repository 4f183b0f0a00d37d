"""A connector from ``make new-connector`` runs in the registry-driven stack without a hand edit.

A connector (``demo-bron``) is generated into a temporary copy outside the repository and installed non-editable
into a target directory (``tests/scaffold_kit.py``, as the tooling test does), so only its ``iko.sources`` entry
point tells the stack it exists. The stack is started as ``make up`` starts it: ``scripts/stack.py up`` in a
process of its own whose ``PYTHONPATH`` holds the install and the copy's sandbox (with the generated simulator).
The launcher reads the registry there, to pick the simulators and connectors to start, and every process it starts
inherits the variable. The gateway gets a profile built around the snippet the generator wrote. Then a lookup of
the simulator's canned record is complete with that record from the new source, an unknown identifier is its
``not_found``, and ``/readyz`` counts the new connector's queue. One stack start: some 15 s with the generation
and the install.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import httpx
import pytest
import yaml
from iko_shared.contracts import LookupCompleted
from iko_shared.sources import source_names
from iko_shared.topology import Topology
from iko_stack import Stack

from tests.e2e.conftest import DEV_HEADERS, DEV_STACK_LIMITS, free_ports, profiles_folder, stop_stack
from tests.infra import drop_namespace, new_namespace
from tests.scaffold_kit import REPO, copy_needed, generate, install, path_of, run
from tools.new_connector import TEST_VALUES

pytestmark = pytest.mark.e2e

# Hyphenated: the stack must hand it IKO_DEMO_BRON_BASE_URL, the prefix its generated settings read.
NAME = "demo-bron"
SERVICE = f"services/{NAME}-connector"
SNIPPET = f"deploy/config/profiles/snippets/{NAME}.yaml.example"
PROFILE = f"scaffold-{NAME}"
FOUND, UNKNOWN = TEST_VALUES["bsn"]
# The generated simulator's canned record (tools/templates/connector/sandbox/app.py.tmpl).
RECORD = {"identifier": {"type": "bsn", "value": FOUND}, "naam": "Testrecord Demo Bron", "status": "actief"}


def profile_around(snippet: Path) -> dict[str, object]:
    """A whole profile whose sources and transform are the generated snippet's, as an operator would add it."""
    example = yaml.safe_load(snippet.read_text(encoding="utf-8"))
    return {
        "title": f"{NAME} (scaffold in the stack)",
        "identifiers": ["bsn"],
        "timeout": {"default_ms": 3000, "max_ms": 5000},
        "roles": ["iko-persoon"],
        "purposes": ["test"],
        "sources": example["sources"],
        "transform": example["transform"],
    }


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The temporary copy with the connector generated into it, and the target directory it is installed in."""
    root = tmp_path_factory.mktemp("scaffold")
    copy_needed(root)
    generate(root, NAME)
    return root, install(root, SERVICE, root / "site")


async def test_a_generated_connector_answers_through_the_stack(
    scaffolded: tuple[Path, Path], rabbitmq_url: str, redis_url: str
) -> None:
    root, site = scaffolded
    assert NAME not in source_names(), f"{NAME} must come from the temporary install, not the repository"
    profiles = profiles_folder()
    (profiles / f"{PROFILE}.yaml").write_text(yaml.safe_dump(profile_around(root / SNIPPET), sort_keys=False))
    sources = sorted({*source_names(), NAME})
    gateway_port, *ports = free_ports(1 + len(sources))
    sandbox_ports = dict(zip(sources, ports, strict=True))
    namespace = new_namespace("scaffold")
    extra_env = {
        "IKO_RABBITMQ_URL": rabbitmq_url,
        "IKO_REDIS_URL": redis_url,
        "IKO_PROFILES_DIR": str(profiles),
        # The copy's sandbox package has no data folder beside it: the repository's.
        "IKO_SANDBOX_DATA_DIR": str(REPO / "sandbox" / "data"),
        **DEV_STACK_LIMITS,
    }
    # Only to stop it: stop() goes by the state file the launcher writes and never reads the registry.
    stack = Stack(
        namespace,
        run_dir=Path(tempfile.mkdtemp(prefix=f"{namespace}-")),
        gateway_port=gateway_port,
        sandbox_ports=sandbox_ports,
        extra_env=extra_env,
    )
    up = [
        sys.executable,
        "scripts/stack.py",
        "up",
        "--namespace",
        namespace,
        "--python",
        sys.executable,
        "--gateway-port",
        str(gateway_port),
        "--sandbox-ports",
        ",".join(f"{name}={port}" for name, port in sandbox_ports.items()),
        "--run-dir",
        str(stack.config.resolved_run_dir),
        *(f"--extra-env={key}={value}" for key, value in extra_env.items()),
    ]
    # The install first (its entry point), then the copy's sandbox (the generated simulator) before the venv's.
    pythonpath = path_of(site, root / "sandbox" / "src")
    try:
        started = run(up, REPO, timeout=120, PYTHONPATH=pythonpath)
        assert started.returncode == 0, started.stdout + started.stderr
        processes = {record.key for record in stack.records()}
        assert {f"sandbox-{NAME}-0", f"{NAME}-connector-0"} <= processes, processes

        async with httpx.AsyncClient(
            base_url=stack.gateway_url, timeout=10, headers={**DEV_HEADERS, "x-verwerking": "test"}
        ) as gateway:
            ready = await gateway.get("/readyz")
            assert ready.status_code == 200, ready.text
            queue = Topology(namespace=namespace).connector_queue(NAME).name
            assert ready.json()["checks"][f"queue {queue}"] == "ok"

            found = await gateway.post(
                f"/api/v1/profiles/{PROFILE}/lookups", json={"identifier": {"type": "bsn", "value": FOUND}}
            )
            assert found.status_code == 200, found.text
            view = LookupCompleted.model_validate_json(found.content)
            assert (view.status, view.completed_by) == ("complete", "all_sources")
            assert list(view.sources) == [NAME]
            answer = view.sources[NAME]
            assert (answer.source, answer.status, answer.error) == (NAME, "ok", None), answer
            assert answer.data == RECORD
            assert answer.retrieved_at is not None
            assert answer.duration_ms is not None
            # The snippet's transform names the view by the module name: a jq key holds no hyphen.
            assert view.view == {NAME.replace("-", "_"): RECORD}

            unknown = await gateway.post(
                f"/api/v1/profiles/{PROFILE}/lookups", json={"identifier": {"type": "bsn", "value": UNKNOWN}}
            )
            assert unknown.status_code == 200, unknown.text
            assert LookupCompleted.model_validate_json(unknown.content).sources[NAME].status == "not_found"
    finally:
        await stop_stack(stack, rabbitmq_url, redis_url)
        # stop_stack drops the work queues of the sources this process's registry knows: not the generated one's.
        await drop_namespace(rabbitmq_url, redis_url, namespace, sources=[NAME])
