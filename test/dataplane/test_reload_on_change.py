"""The Kubernetes reload sidecar (reload_on_change.py): when kubelet's atomic writer swaps a
mounted configuration volume, the gate in the same pid namespace gets one SIGHUP; a change
whose gate is not there, or has no SIGHUP handler yet, waits and is retried. The pure parts
(which processes are the gate, did the generation change) by tables over a fake /proc and a
fake volume; the loop with real processes, a real /proc and --interval 0.05.
"""

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import ADDON_DIR, wait_for

sys.path.insert(0, str(ADDON_DIR))
import reload_on_change as roc
from reload_on_change import Candidate, WatchState

SCRIPT = ADDON_DIR / "reload_on_change.py"
INTERVAL = 0.05
UID = os.getuid()
# SigCgt masks: SIGINT|SIGTERM (mitmdump before its addon's `running` hook), and with SIGHUP.
NO_HUP = "0000000100004a02"
HUP = "0000000100004a03"
# What the volume holds: never to be seen in the sidecar's output.
SECRET = b"token: SECRET-2c9f41d7"


# --------------------------------------------------------------------------- fakes


def kubelet_write(volume: Path, files: dict[str, bytes]) -> str:
    """kubelet's atomic writer: the files in a new `..<timestamp>.<random>` directory, a
    `..data_tmp` link to it renamed over `..data`, a `name -> ..data/name` link per file,
    the previous directory removed. Returns the new directory's name."""
    volume.mkdir(exist_ok=True)
    try:
        old: str | None = os.readlink(volume / "..data")
    except FileNotFoundError:
        old = None
    new = Path(tempfile.mkdtemp(prefix=time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime()), dir=volume))
    for name, data in files.items():
        (new / name).write_bytes(data)
    os.symlink(new.name, volume / "..data_tmp")
    os.replace(volume / "..data_tmp", volume / "..data")
    for name in files:
        if not (volume / name).is_symlink():
            os.symlink(f"..data/{name}", volume / name)
    if old is not None:
        shutil.rmtree(volume / old)
    return new.name


def fake_process(proc: Path, pid: int, comm: str, argv: list[str], uid: int = UID, sigcgt: str = HUP, state: str = "S (sleeping)") -> None:
    base = proc / str(pid)
    base.mkdir(parents=True)
    (base / "comm").write_text(comm + "\n")
    (base / "cmdline").write_bytes(b"".join(a.encode() + b"\0" for a in argv))
    (base / "status").write_text(
        f"Name:\t{comm}\nUmask:\t0022\nState:\t{state}\nTgid:\t{pid}\nPid:\t{pid}\n"
        f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t{uid}\t{uid}\t{uid}\t{uid}\n"
        f"SigBlk:\t0000000000000000\nSigIgn:\t0000000001001000\nSigCgt:\t{sigcgt}\n"
    )


# --------------------------------------------------------------------------- which processes


@pytest.mark.parametrize(
    ("comm", "argv0", "name", "expected"),
    [
        # pipelock: ENTRYPOINT ["/pipelock"], a static Go binary.
        ("pipelock", "/pipelock", "pipelock", True),
        # mitmdump: a console script, so argv[0] is its interpreter; comm is the script's name.
        ("mitmdump", "/opt/venv/bin/python", "mitmdump", True),
        ("mitmdump", "/opt/venv/bin/python3", "mitmdump", True),
        # entrypoint.py before it exec's mitmdump, and the sidecar itself: python.
        ("python", "/opt/venv/bin/python", "mitmdump", False),
        ("python3", "/opt/venv/bin/python", "mitmdump", False),
        # the pod's pause process (pid 1 with shareProcessNamespace).
        ("pause", "/pause", "mitmdump", False),
        ("pause", "/pause", "pipelock", False),
        # argv[0] rewritten (exec -a), comm not.
        ("python3", "pipelock", "pipelock", True),
        # names are whole, and compared exactly.
        ("mitmdump2", "/usr/bin/mitmdump2", "mitmdump", False),
        ("mitm", "/usr/bin/mitm", "mitmdump", False),
        ("Pipelock", "/Pipelock", "pipelock", False),
        ("pipelock", "", "pipelock", True),
        ("", "/pipelock/x", "pipelock", False),
        # comm keeps 15 bytes of the name.
        ("a-very-long-gat", "/usr/bin/python", "a-very-long-gate-name", True),
        ("a-very-long-gat", "/usr/bin/python", "a-very-long-gat", True),
        ("a-very-long-ga", "/usr/bin/python", "a-very-long-gate-name", False),
    ],
)
def test_name_matches(comm: str, argv0: str, name: str, expected: bool) -> None:
    assert roc.name_matches(comm, argv0, name) is expected


@pytest.mark.parametrize(
    ("sigcgt", "expected"),
    [(HUP, True), (NO_HUP, False), ("0000000000000001", True), ("0000000000000002", False), ("fffffffe", False), ("", False), ("zz", False)],
)  # fmt: skip
def test_catches_sighup(sigcgt: str, expected: bool) -> None:
    assert roc.catches_sighup({"SigCgt": sigcgt}) is expected


@pytest.mark.parametrize(
    ("uid_line", "expected"),
    [
        (f"{UID}\t{UID}\t{UID}\t{UID}", True),
        (f"{UID + 1}\t{UID}\t{UID}\t{UID}", False),
        (f"{UID}\t{UID + 1}\t{UID + 1}\t{UID + 1}", False),
        ("", False),
    ],
)
def test_owned_by(uid_line: str, expected: bool) -> None:
    assert roc.owned_by(roc.parse_status(f"Name:\tx\nUid:\t{uid_line}\n"), UID) is expected


def test_scan_finds_the_gates_processes_of_this_uid_with_their_readiness(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    fake_process(proc, 1, "pause", ["/pause"], uid=65535, sigcgt="0000000000014002")  # INT, TERM, CHLD
    fake_process(proc, 7, "python", ["/opt/venv/bin/python", "/opt/egress-proxy/entrypoint.py"], sigcgt=NO_HUP)
    fake_process(proc, 8, "mitmdump", ["/opt/venv/bin/python", "/opt/venv/bin/mitmdump", "-s", "x"])
    fake_process(proc, 9, "mitmdump", ["/opt/venv/bin/python", "/opt/venv/bin/mitmdump"], sigcgt=NO_HUP)
    fake_process(proc, 10, "mitmdump", ["/opt/venv/bin/python", "/opt/venv/bin/mitmdump"], uid=UID + 1)
    fake_process(proc, 11, "mitmdump", [], state="Z (zombie)", sigcgt="0")
    fake_process(proc, 12, "python", ["/opt/venv/bin/python", "reload_on_change.py", "--process", "mitmdump"])
    fake_process(proc, 13, "mitmdump", ["/opt/venv/bin/python", "/opt/venv/bin/mitmdump"])  # this process
    fake_process(proc, 100, "mitmdump", ["/opt/venv/bin/python", "/opt/venv/bin/mitmdump"])
    (proc / "14").mkdir()  # exited while it was read: no files
    (proc / "self").symlink_to("12")
    (proc / "sys").mkdir()
    (proc / "uptime").write_text("1.0 1.0\n")

    assert roc.scan(proc, "mitmdump", UID, self_pid=13) == [Candidate(8, True), Candidate(9, False), Candidate(100, True)]
    assert roc.scan(proc, "pipelock", UID, self_pid=13) == []
    assert roc.scan(proc, "pause", 65535, self_pid=13) == [Candidate(1, False)]
    assert roc.scan(tmp_path / "no-proc", "mitmdump", UID, self_pid=13) == []


# --------------------------------------------------------------------------- the generation


@pytest.mark.parametrize(
    ("state", "generation", "expected"),
    [
        (WatchState(), None, WatchState()),
        # the first generation seen is the one the gate started with
        (WatchState(), "..a", WatchState("..a", None)),
        (WatchState("..a"), "..a", WatchState("..a")),
        (WatchState("..a"), None, WatchState("..a")),
        (WatchState("..a"), "..b", WatchState("..b", "..b")),
        # a change while one is pending replaces it; reading the same again keeps it
        (WatchState("..b", "..b"), "..c", WatchState("..c", "..c")),
        (WatchState("..b", "..b"), "..b", WatchState("..b", "..b")),
        (WatchState("..b", "..b"), None, WatchState("..b", "..b")),
        # back to an earlier generation is a change too
        (WatchState("..b"), "..a", WatchState("..a", "..a")),
    ],
)
def test_observe(state: WatchState, generation: str | None, expected: WatchState) -> None:
    assert roc.observe(state, generation) == expected


def test_read_generation_follows_kubelets_atomic_writer(tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()
    assert roc.read_generation(volume) is None
    first = kubelet_write(volume, {"routes.yaml": SECRET})
    assert first.startswith("..") and roc.read_generation(volume) == first
    second = kubelet_write(volume, {"routes.yaml": SECRET + b"2"})
    assert second != first and roc.read_generation(volume) == second
    assert sorted(p.name for p in volume.iterdir()) == sorted([second, "..data", "routes.yaml"])
    (volume / "..data").unlink()
    (volume / "..data").mkdir()  # not a link
    assert roc.read_generation(volume) is None
    (volume / "..data").rmdir()
    (volume / "..data").symlink_to(volume / second)  # absolute
    assert roc.read_generation(volume) == second
    assert roc.read_generation(tmp_path / "missing") is None


# --------------------------------------------------------------------------- real processes

# A gate stand-in: once the arm file exists it installs a SIGHUP handler, creates the count
# file (ready), and appends a line to it per SIGHUP.
GATE = """\
import signal, sys, time
from pathlib import Path
count, arm = Path(sys.argv[1]), Path(sys.argv[2])
while not arm.exists():
    time.sleep(0.01)
def on_hup(signum, frame):
    with count.open("a") as f:
        f.write("hup\\n")
signal.signal(signal.SIGHUP, on_hup)
count.touch()
while True:
    time.sleep(60)
"""


@dataclass
class Gate:
    process: "subprocess.Popen[bytes]"
    count: Path
    arm: Path

    def hups(self) -> int:
        return len(self.count.read_text().splitlines()) if self.count.exists() else 0


@dataclass
class Sidecar:
    process: "subprocess.Popen[bytes]"
    out: Path
    err: Path

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self.out.read_text().splitlines() if line.strip()]
        return [d for d in lines if event is None or d["event"] == event]

    def stop(self) -> float:
        """SIGTERM; asserts a clean exit and returns how long it took."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=5) == 0, self.err.read_text()
        return time.monotonic() - started


@dataclass
class Launcher:
    tmp: Path
    started: list["subprocess.Popen[bytes]"] = field(default_factory=list)

    def gate(self, name: str, how: str, armed: bool = True) -> Gate:
        """A gate stand-in named `name`: `comm` runs it as mitmdump runs (a script with a
        shebang: argv[0] is the interpreter, comm the script's name), `argv0` as pipelock
        runs (argv[0] is the name; comm is the interpreter's)."""
        count, arm = self.tmp / f"{name}.count", self.tmp / f"{name}.arm"
        if armed:
            arm.touch()
        if how == "comm":
            script = self.tmp / name
            script.write_text(f"#!{sys.executable}\n{GATE}")
            script.chmod(0o755)
            process = subprocess.Popen([str(script), str(count), str(arm)])
        else:
            process = subprocess.Popen([f"/{name}", "-c", GATE, str(count), str(arm)], executable=sys.executable)
        self.started.append(process)
        if armed:
            assert wait_for(count.exists), f"gate {name} never became ready"
        return Gate(process, count, arm)

    def sidecar(self, *args: str) -> Sidecar:
        out, err = self.tmp / f"sidecar-{len(self.started)}.out", self.tmp / f"sidecar-{len(self.started)}.err"
        with out.open("wb") as o, err.open("wb") as e:
            process = subprocess.Popen([sys.executable, str(SCRIPT), *args], stdout=o, stderr=e)
        self.started.append(process)
        return Sidecar(process, out, err)

    def watching(self, volume: Path, name: str) -> Sidecar:
        sidecar = self.sidecar("--dir", str(volume), "--process", name, "--interval", str(INTERVAL))
        assert wait_for(lambda: sidecar.events("config_watch") != []), sidecar.err.read_text()
        return sidecar


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launcher]:
    launcher = Launcher(tmp_path)
    yield launcher
    for process in launcher.started:
        if process.poll() is None:
            process.kill()
            process.wait()


def unique_name() -> str:
    return "hup" + secrets.token_hex(5)  # 13 characters: within comm's 15


def ticks(n: int) -> None:
    time.sleep(n * INTERVAL)


@pytest.mark.parametrize("how", ["comm", "argv0"])
def test_one_sighup_per_swap_and_none_without(launch: Launcher, tmp_path: Path, how: str) -> None:
    volume = tmp_path / "volume"
    first = kubelet_write(volume, {"routes.yaml": SECRET, "tokens.json": SECRET})
    name = unique_name()
    gate = launch.gate(name, how)
    # Same uid, its name only further down argv, no SIGHUP handler: signalling it would kill it.
    decoy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", name])
    launch.started.append(decoy)
    sidecar = launch.watching(volume, name)
    assert sidecar.events() == [{"event": "config_watch", "dir": str(volume), "process": name, "generation": first}]

    ticks(10)
    assert gate.hups() == 0

    for n in (1, 2, 3):
        generation = kubelet_write(volume, {"routes.yaml": SECRET + str(n).encode(), "tokens.json": SECRET})
        assert wait_for(lambda: gate.hups() >= n), sidecar.out.read_text()  # noqa: B023 - called within this iteration
        ticks(6)
        assert gate.hups() == n
        assert sidecar.events("config_change")[n - 1 :] == [
            {"event": "config_change", "generation": generation, "signalled": [gate.process.pid]}
        ]

    assert sidecar.events("config_change_pending") == []
    assert len(sidecar.events()) == 4
    assert b"SECRET" not in sidecar.out.read_bytes() + sidecar.err.read_bytes()
    assert sidecar.stop() < 1.0
    assert gate.process.poll() is None and decoy.poll() is None


def test_a_change_waits_for_a_gate_that_appears_late_or_has_no_handler_yet(launch: Launcher, tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    kubelet_write(volume, {"routes.yaml": SECRET})
    name = unique_name()
    sidecar = launch.watching(volume, name)

    generation = kubelet_write(volume, {"routes.yaml": SECRET + b"2"})
    not_found = {"event": "config_change_pending", "generation": generation, "process": name, "reason": "not_found", "pids": []}
    assert wait_for(lambda: sidecar.events("config_change_pending") == [not_found]), sidecar.out.read_text()

    # It starts (as mitmdump does: comm only) but catches no SIGHUP yet, so a SIGHUP would kill it.
    gate = launch.gate(name, "comm", armed=False)
    no_handler = {**not_found, "reason": "no_sighup_handler", "pids": [gate.process.pid]}
    assert wait_for(lambda: sidecar.events("config_change_pending") == [not_found, no_handler]), sidecar.out.read_text()
    ticks(6)
    assert gate.process.poll() is None and gate.hups() == 0

    gate.arm.touch()
    assert wait_for(lambda: gate.hups() >= 1), sidecar.out.read_text()
    ticks(6)
    assert gate.hups() == 1
    assert sidecar.events("config_change") == [{"event": "config_change", "generation": generation, "signalled": [gate.process.pid]}]
    # Logged once per reason, not once per tick.
    assert len(sidecar.events("config_change_pending")) == 2
    assert gate.process.poll() is None
    sidecar.stop()


def test_a_gate_that_exits_between_scan_and_signal_keeps_the_change_pending(
    launch: Launcher, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    volume = tmp_path / "volume"
    kubelet_write(volume, {"routes.yaml": SECRET})
    proc = tmp_path / "proc"
    # A pid no process has (over the kernel's largest pid_max): os.kill raises ProcessLookupError.
    fake_process(proc, 4_194_400, "mitmdump", ["/opt/venv/bin/python", "/opt/venv/bin/mitmdump"])
    watcher = roc.Watcher(volume, "mitmdump", proc_root=proc)
    watcher.start()
    watcher.tick()
    generation = kubelet_write(volume, {"routes.yaml": SECRET + b"2"})
    watcher.tick()
    watcher.tick()
    assert watcher.state == WatchState(generation, generation)

    # The gate is back, under another pid.
    gate = launch.gate(unique_name(), "comm")
    shutil.rmtree(proc / "4194400")
    fake_process(proc, gate.process.pid, "mitmdump", ["/opt/venv/bin/python", "/opt/venv/bin/mitmdump"])
    watcher.tick()
    assert wait_for(lambda: gate.hups() == 1)
    watcher.tick()
    assert watcher.state == WatchState(generation, None)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["event"] for line in lines] == ["config_watch", "config_change_pending", "config_change"]
    assert lines[1] == {
        "event": "config_change_pending",
        "generation": generation,
        "process": "mitmdump",
        "reason": "not_found",
        "pids": [],
    }
    assert lines[2] == {"event": "config_change", "generation": generation, "signalled": [gate.process.pid]}
    assert gate.hups() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dir", "{missing}", "--process", "mitmdump", "--grace", "0.2", "--interval", "0.05"], "is not a directory (waited 0.2s)"),
        (["--dir", "{file}", "--process", "mitmdump", "--grace", "0"], "is not a directory (waited 0s)"),
        (["--dir", "{tmp}", "--process", "bin/mitmdump"], "--process must be a process name without '/'"),
        (["--dir", "{tmp}", "--process", ""], "--process must be a process name without '/'"),
        (["--dir", "{tmp}", "--process", "mitmdump", "--interval", "0"], "--interval must be more than 0"),
        (["--dir", "{tmp}", "--process", "mitmdump", "--grace", "-1"], "--grace must be 0-3600 seconds"),
        (["--dir", "{tmp}"], "the following arguments are required: --process"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(launch: Launcher, tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "file").write_text("")
    paths = {"missing": str(tmp_path / "missing"), "file": str(tmp_path / "file"), "tmp": str(tmp_path)}
    sidecar = launch.sidecar(*(a.format(**paths) for a in args))
    assert sidecar.process.wait(timeout=5) == 2
    assert message in sidecar.err.read_text()
    assert sidecar.out.read_text() == ""


def test_a_volume_mounted_late_is_waited_for_and_sigterm_is_prompt_while_waiting(launch: Launcher, tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    sidecar = launch.sidecar("--dir", str(volume), "--process", "mitmdump", "--interval", str(INTERVAL), "--grace", "10")
    ticks(4)
    # Mounted whole, as kubelet does: never seen without its ..data.
    first = kubelet_write(tmp_path / "staging", {"routes.yaml": SECRET})
    (tmp_path / "staging").rename(volume)
    assert wait_for(lambda: sidecar.events() != [])
    assert sidecar.events() == [{"event": "config_watch", "dir": str(volume), "process": "mitmdump", "generation": first}]
    assert sidecar.stop() < 1.0

    waiting = launch.sidecar("--dir", str(tmp_path / "never"), "--process", "mitmdump", "--interval", "30", "--grace", "60")
    ticks(6)
    assert waiting.process.poll() is None
    assert waiting.stop() < 1.0
    assert waiting.events() == []
