"""scripts/iko_stack.py without the real services: options, state, signals, and a stack of fakes."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"
sys.path.insert(0, str(SCRIPTS))

import iko_stack  # noqa: E402
from iko_shared.sources import registered_sources  # noqa: E402
from iko_stack import (  # noqa: E402
    ConfigError,
    ProcessRecord,
    Stack,
    StackError,
    config_from_args,
    read_state,
    write_state,
)

# Every registered source gets a simulator and a connector in a stack.
SOURCES = [entry.name for entry in registered_sources()]
DEFAULT_PORTS = {entry.name: entry.simulator_port for entry in registered_sources()}
N = len(SOURCES)

FAKE_SERVICE = Path(__file__).resolve().parent / "fake_service.py"


# -- helpers ---------------------------------------------------------------------------------------------
@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; whatever still runs at the end is killed."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)


def start_sleep(procs: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    p = subprocess.Popen(["sleep", "300"], start_new_session=True)
    procs.append(p)
    return p


def record_for(p: subprocess.Popen[bytes], name: str, index: int = 0, tick_offset: int = 0) -> ProcessRecord:
    stat = iko_stack.proc_stat(p.pid)
    assert stat is not None
    return ProcessRecord(name, index, p.pid, stat[1] + tick_offset, ("sleep", "300"), "")


def running(p: subprocess.Popen[bytes]) -> bool:
    return p.poll() is None


@pytest.fixture
def fake_python(tmp_path: Path) -> str:
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_SERVICE}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def fake_stack(tmp_path: Path, fake_python: str, out: io.StringIO | None = None, **kw: object) -> Stack:
    gw, *ports = iko_stack.free_ports(1 + N)
    options: dict[str, object] = {
        "gateway_port": gw,
        "sandbox_ports": dict(zip(SOURCES, ports, strict=True)),
        "run_dir": tmp_path / "run",
        "python": fake_python,
        "ready_timeout": 20.0,
        "stop_grace": 5.0,
        "out": out,
    }
    options.update(kw)
    return Stack("tooling-test", **options)  # type: ignore[arg-type]


# -- options and environment ---------------------------------------------------------------------------
def test_defaults_when_nothing_is_set() -> None:
    command, cfg = config_from_args(["up"], {})
    assert command == "up"
    assert (cfg.namespace, cfg.assemblers, cfg.connector_replicas, cfg.audit_replicas) == ("iko", 1, 1, 1)
    assert (cfg.gateway_port, dict(cfg.sandbox_ports), cfg.sandbox) == (8080, {}, True)
    # Each source's default comes from the source registry.
    assert cfg.sandbox_port_map == DEFAULT_PORTS
    assert {"brp": 8101, "kvk": 8102, "zgw": 8103}.items() <= cfg.sandbox_port_map.items()
    assert cfg.resolved_log_dir == iko_stack.ROOT / ".run" / "iko" / "logs"
    assert cfg.state_file == iko_stack.ROOT / ".run" / "iko" / "pids" / "state.json"


def test_environment_is_read_when_no_option_is_given() -> None:
    env = {
        "ASSEMBLERS": "3",
        "CONNECTOR_REPLICAS": "2",
        "AUDIT_REPLICAS": "2",
        "IKO_NAMESPACE": "demo2",
        "IKO_GATEWAY_PORT": "9090",
        "SANDBOX_PORTS": "brp=9101, zgw=9103",
    }
    _, cfg = config_from_args(["status"], env)
    assert (cfg.namespace, cfg.assemblers, cfg.connector_replicas, cfg.audit_replicas) == ("demo2", 3, 2, 2)
    assert (cfg.gateway_port, cfg.sandbox_port_map) == (9090, {**DEFAULT_PORTS, "brp": 9101, "zgw": 9103})


def test_sandbox_ports_without_names_are_one_per_source_in_name_order() -> None:
    ports = [9101 + i for i in range(N)]
    _, cfg = config_from_args(["up", "--sandbox-ports", ",".join(map(str, ports))], {})
    assert dict(cfg.sandbox_ports) == dict(zip(sorted(SOURCES), ports, strict=True))


def test_an_unknown_source_in_the_sandbox_ports_names_the_registered_ones() -> None:
    with pytest.raises(ConfigError, match=rf"unknown source.* nope; registered: {', '.join(sorted(SOURCES))}"):
        config_from_args(["up", "--sandbox-ports", "brp=9101,nope=9104"], {})


def test_options_win_over_environment() -> None:
    env = {"ASSEMBLERS": "3", "CONNECTOR_REPLICAS": "2", "AUDIT_REPLICAS": "3", "IKO_NAMESPACE": "fromenv"}
    argv = ["up", "--assemblers", "4", "--connector-replicas", "1", "--audit-replicas", "2", "--namespace", "fromarg"]
    _, cfg = config_from_args(argv, env)
    assert (cfg.namespace, cfg.assemblers, cfg.connector_replicas, cfg.audit_replicas) == ("fromarg", 4, 1, 2)


def test_empty_environment_values_count_as_unset() -> None:
    # make passes `ASSEMBLERS=` along when the caller did not set it.
    _, cfg = config_from_args(["up"], {"ASSEMBLERS": "", "CONNECTOR_REPLICAS": " ", "IKO_NAMESPACE": ""})
    assert (cfg.namespace, cfg.assemblers, cfg.connector_replicas) == ("iko", 1, 1)


def test_extra_env_is_repeatable_and_keeps_equals_signs() -> None:
    argv = ["up", "--extra-env", "IKO_LOG_LEVEL=DEBUG", "--extra-env", "A=b=c", "--extra-env", "A=d"]
    _, cfg = config_from_args(argv, {})
    assert dict(cfg.extra_env) == {"IKO_LOG_LEVEL": "DEBUG", "A": "d"}


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["up", "--assemblers", "0"], {}),
        (["up"], {"ASSEMBLERS": "two"}),
        (["up", "--connector-replicas", "-1"], {}),
        (["up", "--audit-replicas", "0"], {}),
        (["up"], {"AUDIT_REPLICAS": "many"}),
        (["up", "--sandbox-ports", "8101,8102"], {}),
        (["up", "--sandbox-ports", "8101,8102,70000"], {}),
        (["up", "--sandbox-ports", "8101,8101,8103"], {}),
        (["up", "--sandbox-ports", "brp=9101,kvk=9101"], {}),
        (["up", "--sandbox-ports", "brp=9101,brp=9102"], {}),
        (["up", "--sandbox-ports", "brp=9101,=9102"], {}),
        (["up", "--sandbox-ports", "brp=8102"], {}),
        (["up", "--sandbox-ports", "brp=x"], {}),
        (["up", "--gateway-port", "8101"], {}),
        (["up", "--extra-env", "NOEQUALS"], {}),
        (["up", "--extra-env", "1BAD=x"], {}),
        (["up", "--namespace", "a/b"], {}),
        (["up", "--timeout", "soon"], {}),
    ],
)
def test_bad_values_are_refused(argv: list[str], env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        config_from_args(argv, env)


def test_main_reports_a_bad_value_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert iko_stack.main(["up", "--assemblers", "zero"], {}) == 2
    assert "assemblers must be a whole number" in capsys.readouterr().err


def test_gateway_port_may_equal_a_sandbox_port_default_without_sandbox() -> None:
    _, cfg = config_from_args(["up", "--no-sandbox", "--gateway-port", "8101"], {})
    assert not cfg.sandbox
    assert cfg.gateway_port == 8101


# -- what runs -----------------------------------------------------------------------------------------
def test_specs_start_simulators_then_assemblers_audit_connectors_gateway(tmp_path: Path) -> None:
    stack = Stack(
        "ns1",
        assemblers=2,
        connector_replicas=2,
        audit_replicas=2,
        gateway_port=18080,
        sandbox_ports={"brp": 18101, "kvk": 18102, "zgw": 18103},
    )
    keys = [s.key for s in stack.specs()]
    assert keys == [
        *(f"sandbox-{name}-0" for name in SOURCES),
        "assembler-0",
        "assembler-1",
        "audit-0",
        "audit-1",
        *(f"{name}-connector-{i}" for name in SOURCES for i in (0, 1)),
        "gateway-0",
    ]
    by_key = {s.key: s for s in stack.specs()}
    assert by_key["sandbox-kvk-0"].module == "iko_sandbox"
    assert by_key["sandbox-kvk-0"].args == ("kvk", "--host", "127.0.0.1", "--port", "18102")
    assert by_key["zgw-connector-1"].module == "iko_zgw_connector"
    assert by_key["gateway-0"].module == "iko_gateway"
    assert (by_key["audit-1"].module, by_key["audit-1"].args) == ("iko_audit", ())
    # The audit service needs only the namespace: its database settings default from it.
    assert by_key["audit-0"].env["IKO_NAMESPACE"] == "ns1"
    env = by_key["assembler-1"].env
    assert env["IKO_NAMESPACE"] == "ns1"
    assert env["IKO_GATEWAY_PORT"] == "18080"
    assert env["IKO_BRP_BASE_URL"] == "http://127.0.0.1:18101"
    assert env["IKO_KVK_BASE_URL"] == "http://127.0.0.1:18102"
    assert env["IKO_ZGW_BASE_URL"] == "http://127.0.0.1:18103"
    assert stack.gateway_url == "http://127.0.0.1:18080"


def test_gateway_replicas_each_get_their_own_port_and_url() -> None:
    stack = Stack("ns3", gateways=3, gateway_port=18080, sandbox_ports={"brp": 18101, "kvk": 18102, "zgw": 18103})
    gateways = [s for s in stack.specs() if s.name == "gateway"]
    assert [(s.key, s.port, s.env["IKO_GATEWAY_PORT"]) for s in gateways] == [
        ("gateway-0", 18080, "18080"),
        ("gateway-1", 18081, "18081"),
        ("gateway-2", 18082, "18082"),
    ]
    assert stack.gateway_urls == ["http://127.0.0.1:18080", "http://127.0.0.1:18081", "http://127.0.0.1:18082"]
    assert stack.gateway_url == "http://127.0.0.1:18080"
    _, cfg = config_from_args(["up", "--gateways", "2"], {})
    assert (cfg.gateways, cfg.gateway_ports) == (2, [8080, 8081])
    assert config_from_args(["up"], {"GATEWAYS": "2"})[1].gateways == 2
    assert config_from_args(["up"], {})[1].gateways == 1
    with pytest.raises(ConfigError):
        config_from_args(["up", "--gateways", "0"], {})
    with pytest.raises(ConfigError):  # gateway 1 would take the brp simulator's port
        config_from_args(["up", "--gateways", "2", "--gateway-port", "8100"], {})


def two_adjacent_free_ports(avoid: set[int]) -> int:
    """A port that is free with the next one free too: gateway replica i listens on gateway_port + i."""
    for _ in range(100):
        [base] = iko_stack.free_ports(1)
        if base in avoid or base + 1 in avoid:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", base + 1))
            except OSError:
                continue
        return base
    raise AssertionError("no two adjacent free ports found")


def test_two_gateways_start_and_both_answer_ready(tmp_path: Path, fake_python: str) -> None:
    ports = iko_stack.free_ports(N)
    gw = two_adjacent_free_ports(set(ports))
    stack = fake_stack(
        tmp_path, fake_python, gateways=2, gateway_port=gw, sandbox_ports=dict(zip(SOURCES, ports, strict=True))
    )
    stack.start()
    try:
        assert [r.key for r in stack.records() if r.name == "gateway"] == ["gateway-0", "gateway-1"]
        assert [iko_stack.http_status(f"{url}/readyz") for url in stack.gateway_urls] == [200, 200]
        assert json.loads(stack.state_file.read_text())["config"]["gateway_urls"] == stack.gateway_urls
    finally:
        stack.stop()


def test_no_sandbox_leaves_base_urls_to_the_caller_and_extra_env_wins() -> None:
    stack = Stack("ns2", sandbox=False, extra_env={"IKO_BRP_BASE_URL": "http://127.0.0.1:9999", "X": "1"})
    specs = stack.specs()
    assert [s.name for s in specs if s.name.startswith("sandbox")] == []
    env = specs[0].env
    assert env["IKO_BRP_BASE_URL"] == "http://127.0.0.1:9999"
    assert "IKO_KVK_BASE_URL" not in env
    assert env["X"] == "1"


def test_log_paths_are_one_file_per_process_under_the_namespace(tmp_path: Path) -> None:
    stack = Stack("ns3", assemblers=2, root=tmp_path)
    paths = stack.log_paths()
    assert paths["assembler-1"] == tmp_path / ".run" / "ns3" / "logs" / "assembler-1.log"
    assert paths["gateway-0"] == tmp_path / ".run" / "ns3" / "logs" / "gateway-0.log"
    assert paths["audit-0"] == tmp_path / ".run" / "ns3" / "logs" / "audit-0.log"
    assert len(set(paths.values())) == len(paths) == N + 2 + 1 + N + 1
    assert Stack("ns3", log_dir=tmp_path / "L").log_path("assembler", 0) == tmp_path / "L" / "assembler-0.log"


# -- state file ------------------------------------------------------------------------------------------
def test_state_file_round_trip_and_atomic_write(tmp_path: Path) -> None:
    path = tmp_path / "pids" / "state.json"
    records = [
        ProcessRecord("assembler", 1, 4242, 99, ("py", "-m", "iko_assembler"), "/x/assembler-1.log"),
        ProcessRecord("gateway", 0, 4243, None, (), ""),
    ]
    write_state(path, {"namespace": "n"}, records)
    config, back = read_state(path)
    assert config == {"namespace": "n"}
    assert back == records
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]  # no temporary file left behind


def test_missing_state_file_reads_as_empty(tmp_path: Path) -> None:
    assert read_state(tmp_path / "nope.json") == ({}, [])


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"processes": [{"name": "x"}]}'])
def test_corrupt_state_file_is_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(content)
    with pytest.raises(StackError, match="unreadable"):
        read_state(path)


# -- stopping only what was recorded -------------------------------------------------------------------
def test_stop_signals_only_recorded_pids(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    ours, foreign = start_sleep(procs), start_sleep(procs)
    stack = Stack("stoptest", run_dir=tmp_path, stop_grace=5)
    write_state(stack.state_file, {}, [record_for(ours, "assembler")])
    stopped = stack.stop()
    assert [r.pid for r in stopped] == [ours.pid]
    assert ours.wait(timeout=5) == -signal.SIGTERM
    assert running(foreign)
    assert not stack.state_file.exists()


def test_stop_tolerates_dead_pids_and_is_safe_twice(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    dead, live = start_sleep(procs), start_sleep(procs)
    dead_record = record_for(dead, "assembler", 0)
    dead.kill()
    dead.wait()
    stack = Stack("stoptest", run_dir=tmp_path, stop_grace=5)
    write_state(stack.state_file, {}, [dead_record, record_for(live, "assembler", 1)])
    assert [r.key for r in stack.stop()] == ["assembler-1"]
    assert live.wait(timeout=5) == -signal.SIGTERM
    assert Stack("stoptest", run_dir=tmp_path).stop() == []
    assert iko_stack.main(["down", "--namespace", "stoptest", "--run-dir", str(tmp_path)], {}, io.StringIO()) == 0


def test_a_pid_now_used_by_another_process_is_not_signalled(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    other = start_sleep(procs)
    # Same pid, but a different start time: the recorded process is gone and the pid was reused.
    write_state(tmp_path / "pids" / "state.json", {}, [record_for(other, "gateway", tick_offset=-1)])
    assert Stack("reuse", run_dir=tmp_path).stop() == []
    time.sleep(0.2)
    assert running(other)


def test_sigkill_after_the_grace_when_sigterm_is_ignored(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ok', flush=True); time.sleep(60)"
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True)
    procs.append(p)
    assert p.stdout is not None
    assert p.stdout.readline() == b"ok\n"
    write_state(tmp_path / "pids" / "state.json", {}, [record_for(p, "assembler")])
    t0 = time.monotonic()
    Stack("stubborn", run_dir=tmp_path).stop(grace=0.5)
    assert p.wait(timeout=5) == -signal.SIGKILL
    assert time.monotonic() - t0 < 5


# -- a whole stack of fakes ----------------------------------------------------------------------------
def test_start_kill_one_replica_restart_and_stop(tmp_path: Path, fake_python: str) -> None:
    out = io.StringIO()
    stack = fake_stack(tmp_path, fake_python, out, assemblers=2)
    stack.start()
    try:
        statuses = stack.status()
        assert len(statuses) == N + 2 + 1 + N + 1
        assert all(st.alive for st in statuses)
        assert stack.is_ready()
        _, records = read_state(stack.state_file)
        assert [r.key for r in records] == list(stack.log_paths())
        log = stack.log_paths()["assembler-1"].read_text()
        assert "fake iko_assembler" in log
        assert "namespace=tooling-test" in log
        assert f"--port {stack.config.sandbox_ports['kvk']}" in stack.log_paths()["sandbox-kvk-0"].read_text()

        pid = stack.kill("assembler", 1)
        assert not stack.is_running("assembler", 1)
        assert stack.is_running("assembler", 0)
        assert not iko_stack.pid_alive(pid)
        with pytest.raises(StackError, match="not running"):
            stack.kill("assembler", 1)

        # Another Stack of the same namespace (as an e2e test or `stack.py` would make) reads the state file.
        other = Stack("tooling-test", run_dir=tmp_path / "run")
        other_pid = other.kill("gateway", 0)
        assert other_pid == stack.pid("gateway", 0)
        assert not other.is_running("gateway", 0)
        assert not stack.is_ready()
        stack.restart("gateway", 0)

        record = stack.restart("assembler", 1)
        assert record.pid != pid
        assert stack.is_running("assembler", 1)
    finally:
        stopped = stack.stop()
    assert len(stopped) == N + 2 + 1 + N + 1
    assert not any(iko_stack.pid_alive(r.pid, r.start_ticks) for r in stopped)
    assert not stack.state_file.exists()


def test_cli_status_and_down_work_from_the_state_file(tmp_path: Path, fake_python: str) -> None:
    stack = fake_stack(tmp_path, fake_python)
    stack.start()
    pids = [st.pid for st in stack.status()]
    argv_tail = ["--namespace", "tooling-test", "--run-dir", str(tmp_path / "run")]
    try:
        out = io.StringIO()
        assert iko_stack.main(["status", *argv_tail], {}, out) == 0
        assert "readyz -> 200" in out.getvalue()
        assert iko_stack.main(["up", *argv_tail], {}, io.StringIO()) == 0  # already running: nothing to do
        assert [st.pid for st in stack.status()] == pids
    finally:
        out = io.StringIO()
        assert iko_stack.main(["down", *argv_tail], {}, out) == 0
    assert f"stopped {N + 1 + 1 + N + 1} process(es)" in out.getvalue()
    assert not any(iko_stack.pid_alive(pid) for pid in pids)
    out = io.StringIO()
    assert iko_stack.main(["down", *argv_tail], {}, out) == 0
    assert "nothing to stop" in out.getvalue()
    assert iko_stack.main(["status", *argv_tail], {}, io.StringIO()) == 3


def test_a_process_that_dies_during_start_fails_fast_with_log_tails(tmp_path: Path, fake_python: str) -> None:
    out = io.StringIO()
    stack = fake_stack(tmp_path, fake_python, out, extra_env={"FAKE_EXIT": "iko_kvk_connector"})
    t0 = time.monotonic()
    with pytest.raises(StackError, match="kvk-connector-0 exited with code 3"):
        stack.start()
    assert time.monotonic() - t0 < 15
    text = out.getvalue()
    assert "exiting on purpose" in text
    assert "last" in text
    assert "gateway-0.log" in text
    assert stack.status() == []
    assert not tcp_answers(stack.config.gateway_port)


def test_a_gateway_that_never_gets_ready_times_out_and_is_stopped(tmp_path: Path, fake_python: str) -> None:
    out = io.StringIO()
    stack = fake_stack(tmp_path, fake_python, out, ready_timeout=2.0, extra_env={"FAKE_NEVER_READY": "1"})
    with pytest.raises(StackError, match=r"timed out after 2 s waiting for .*/readyz"):
        stack.start()
    assert stack.status() == []
    assert not tcp_answers(stack.config.gateway_port)
    assert not tcp_answers(stack.config.sandbox_ports["brp"])


def test_a_busy_port_is_refused_before_anything_starts(tmp_path: Path, fake_python: str) -> None:
    stack = fake_stack(tmp_path, fake_python, io.StringIO())
    busy = stack.config.sandbox_ports["zgw"]
    with (
        socket.create_server(("127.0.0.1", busy)),
        pytest.raises(StackError, match=f"{busy} already answer"),
    ):
        stack.start()
    assert not stack.state_file.exists()
    assert not (tmp_path / "run" / "logs").exists()


def test_start_refuses_a_namespace_that_already_runs(tmp_path: Path, fake_python: str) -> None:
    first = fake_stack(tmp_path, fake_python)
    first.start()
    try:
        second = fake_stack(tmp_path, fake_python)  # same run dir, other ports
        with pytest.raises(StackError, match="already has running processes"):
            second.start()
        assert all(st.alive for st in first.status())
    finally:
        first.stop()


def tcp_answers(port: int) -> bool:
    return iko_stack.tcp_open("127.0.0.1", port, timeout=0.3)


def test_state_file_is_json_with_the_gateway_url(tmp_path: Path, fake_python: str) -> None:
    stack = fake_stack(tmp_path, fake_python, connector_replicas=2)
    stack.start()
    try:
        data = json.loads(stack.state_file.read_text())
        assert data["config"]["gateway_url"] == stack.gateway_url
        assert len(data["processes"]) == N + 1 + 1 + 2 * N + 1
        assert data["config"]["audit_replicas"] == 1
        assert all(os.path.isabs(p["log"]) for p in data["processes"])
    finally:
        stack.stop()


# -- the audit database is provisioned before anything starts ----------------------------------------------
def test_provisioning_runs_first_with_the_service_env(tmp_path: Path, fake_python: str) -> None:
    out = io.StringIO()
    admin = "postgresql://postgres@127.0.0.1:1/postgres"
    stack = fake_stack(tmp_path, fake_python, out, extra_env={"IKO_AUDIT_ADMIN_URL": admin})
    stack.start()
    try:
        text = stack.config.provision_log.read_text()
        assert f"fake provision: database for tooling-test at {admin}, exit 0" in text
        assert "provisioned the audit database" in out.getvalue()
        # Before any process: the provisioning line comes before the first "started".
        assert out.getvalue().index("provisioned") < out.getvalue().index("started sandbox-brp-0")
        assert stack.is_running("audit", 0)
        assert "fake iko_audit  namespace=tooling-test" in stack.log_paths()["audit-0"].read_text()
    finally:
        stack.stop()


def test_a_failed_provisioning_names_the_step_and_starts_nothing(tmp_path: Path, fake_python: str) -> None:
    out = io.StringIO()
    stack = fake_stack(tmp_path, fake_python, out, extra_env={"FAKE_PROVISION_EXIT": "4"})
    with pytest.raises(StackError) as caught:
        stack.start()
    message = str(caught.value)
    assert "audit database provisioning (`-m iko_audit provision`, namespace tooling-test)" in message
    assert "failed with exit code 4" in message
    assert "fake provision: database for tooling-test" in message  # the output's tail, without opening the log
    assert stack.status() == []
    assert not (tmp_path / "run" / "logs" / "sandbox-brp-0.log").exists()
    assert not tcp_answers(stack.config.sandbox_ports["brp"])


def test_a_provisioning_that_hangs_is_cut_at_the_ready_timeout(tmp_path: Path, fake_python: str) -> None:
    stack = fake_stack(
        tmp_path, fake_python, io.StringIO(), ready_timeout=1.5, extra_env={"FAKE_PROVISION_SLEEP": "30"}
    )
    t0 = time.monotonic()
    with pytest.raises(StackError, match=r"provisioning .* did not finish within"):
        stack.start()
    assert time.monotonic() - t0 < 10
    assert stack.status() == []


def test_cli_up_says_when_provisioning_failed(tmp_path: Path, fake_python: str) -> None:
    gw, *ports = iko_stack.free_ports(1 + N)
    argv = [
        "up",
        "--namespace",
        "tooling-cli",
        "--run-dir",
        str(tmp_path / "run"),
        "--python",
        fake_python,
        "--gateway-port",
        str(gw),
        "--sandbox-ports",
        ",".join(f"{name}={port}" for name, port in zip(SOURCES, ports, strict=True)),
        "--extra-env",
        "FAKE_PROVISION_EXIT=1",
    ]
    out = io.StringIO()
    assert iko_stack.main(argv, {}, out) == 1
    assert "up failed: audit database provisioning" in out.getvalue()
