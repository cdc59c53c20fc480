"""Send SIGHUP to a gate when Kubernetes swaps its mounted configuration.

Runs as a sidecar in the gate's pod (`shareProcessNamespace: true`, the gate's uid, no
capability). kubelet updates a ConfigMap/Secret volume with its atomic writer: the files
go into a new `..<timestamp>` directory, then a `..data_tmp` link is renamed over `..data`.
This polls where `<dir>/..data` points (the standard library has no inotify; one readlink
a tick is cheap) and, when that changes, signals every process of the gate: both gates
reload on SIGHUP and print their own `config_reload` line (kept config on error).

    python reload_on_change.py --dir /etc/egress-proxy/live/current --process mitmdump
    python reload_on_change.py --dir /etc/pipelock/live --process pipelock --interval 1.0

A process is the gate's when, in this pid namespace (pid 1 included, should it match:
`docker run --pid container:<gate>`), it is not this one, has this uid (real and
effective), is not a zombie, and its name is `--process`: the basename of argv[0]
(/proc/<pid>/cmdline; pipelock's is `/pipelock`) or its comm (/proc/<pid>/comm, what the
kernel named it at exec, at most 15 bytes). mitmdump is a console script, so the kernel
runs it as `/opt/venv/bin/python /opt/venv/bin/mitmdump ...`: argv[0] is python, but comm
is `mitmdump` (entrypoint.py, comm `python`, never matches; it exec's mitmdump). It is only
signalled once it catches SIGHUP (SigCgt in /proc/<pid>/status): before mitmproxy's
`running` hook installs the addon's handler a SIGHUP would kill it. A change whose gate is
not there or not ready yet stays pending and is retried every tick. The first generation
seen is the one the gate started with: it is not signalled.

Prints one JSON line per event on stdout; never reads the configuration files (only the
name of the directory `..data` points at). Exits 0 on SIGTERM or SIGINT, 2 on bad
arguments, including a --dir that is not a directory once the --grace period is over.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

DATA_LINK = "..data"
# The kernel keeps TASK_COMM_LEN - 1 bytes of a process's name in comm.
COMM_MAX = 15
DEFAULT_INTERVAL = 1.0
DEFAULT_GRACE = 30.0


# --------------------------------------------------------------------------- the generation


def read_generation(directory: Path) -> str | None:
    """The name of the directory `<directory>/..data` points at (kubelet's `..<timestamp>`),
    or None while there is no such link. Reads no file."""
    try:
        target = os.readlink(directory / DATA_LINK)
    except OSError:  # missing, or not a link
        return None
    return os.path.basename(target.rstrip("/")) or None


@dataclass(frozen=True)
class WatchState:
    seen: str | None = None  # the generation observed last
    pending: str | None = None  # a generation the gate has not been signalled for yet


def observe(state: WatchState, generation: str | None) -> WatchState:
    """The state after reading `generation`. Pure. The first generation seen is the gate's
    starting one (nothing to signal); a read that found no link changes nothing; any other
    new generation becomes (or replaces) the pending one."""
    if generation is None or generation == state.seen:
        return state
    if state.seen is None:
        return WatchState(seen=generation, pending=state.pending)
    return WatchState(seen=generation, pending=generation)


# --------------------------------------------------------------------------- the processes


@dataclass(frozen=True)
class Candidate:
    pid: int
    ready: bool  # catches SIGHUP: signalling it reloads it instead of killing it


def name_matches(comm: str, argv0: str, name: str) -> bool:
    """Whether a process called `comm` (from /proc/<pid>/comm) started as `argv0` is `name`. Pure."""
    return os.path.basename(argv0) == name or comm == name[:COMM_MAX]


def parse_status(text: str) -> dict[str, str]:
    """/proc/<pid>/status as its fields. Pure."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key] = value.strip()
    return fields


def owned_by(status: dict[str, str], uid: int) -> bool:
    """Real and effective uid are `uid` (Uid: real effective saved filesystem). Pure."""
    ids = status.get("Uid", "").split()
    return len(ids) >= 2 and ids[0] == ids[1] == str(uid)


def catches_sighup(status: dict[str, str]) -> bool:
    """SigCgt (hex mask, bit n-1 for signal n) has SIGHUP. Pure."""
    try:
        return bool(int(status.get("SigCgt", ""), 16) >> (signal.SIGHUP - 1) & 1)
    except ValueError:
        return False


def is_zombie(status: dict[str, str]) -> bool:
    return status.get("State", "")[:1] in ("Z", "X")


def scan(proc_root: Path, name: str, uid: int, self_pid: int) -> list[Candidate]:
    """The processes under `proc_root` (a /proc) that are the gate called `name`, by pid.
    A process that exits while it is read is left out."""
    found: list[Candidate] = []
    try:
        entries = [e.name for e in os.scandir(proc_root) if e.name.isdigit()]
    except OSError:
        return found
    for pid in sorted(int(e) for e in entries):
        if pid == self_pid:
            continue
        base = proc_root / str(pid)
        try:
            status = parse_status((base / "status").read_text(errors="replace"))
            comm = (base / "comm").read_text(errors="replace").removesuffix("\n")
            argv0 = (base / "cmdline").read_bytes().split(b"\0", 1)[0].decode(errors="replace")
        except OSError:
            continue
        if is_zombie(status) or not owned_by(status, uid) or not name_matches(comm, argv0, name):
            continue
        found.append(Candidate(pid, catches_sighup(status)))
    return found


# --------------------------------------------------------------------------- the loop


def log(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


class Watcher:
    def __init__(self, directory: Path, name: str, proc_root: Path = Path("/proc")) -> None:
        self.directory = directory
        self.name = name
        self.proc_root = proc_root
        self.uid = os.getuid()
        self.pid = os.getpid()
        self.state = WatchState()
        self.last_pending: tuple[str, str, list[int]] | None = None

    def start(self) -> None:
        self.state = observe(self.state, read_generation(self.directory))
        log("config_watch", dir=str(self.directory), process=self.name, generation=self.state.seen)

    def tick(self) -> None:
        self.state = observe(self.state, read_generation(self.directory))
        generation = self.state.pending
        if generation is None:
            return
        candidates = scan(self.proc_root, self.name, self.uid, self.pid)
        signalled: list[int] = []
        failed: list[int] = []
        for pid in (c.pid for c in candidates if c.ready):
            try:
                os.kill(pid, signal.SIGHUP)
            except ProcessLookupError:
                continue  # exited since the scan: as if not found
            except OSError:
                failed.append(pid)
                continue
            signalled.append(pid)
        if signalled:
            self.state = WatchState(seen=self.state.seen, pending=None)
            self.last_pending = None
            log("config_change", generation=generation, signalled=signalled)
            return
        unready = [c.pid for c in candidates if not c.ready]
        if failed:
            reason, pids = "signal_failed", failed
        elif unready:
            reason, pids = "no_sighup_handler", unready
        else:
            reason, pids = "not_found", []
        # Once per generation and reason, not every tick.
        if self.last_pending != (generation, reason, pids):
            self.last_pending = (generation, reason, pids)
            log("config_change_pending", generation=generation, process=self.name, reason=reason, pids=pids)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="SIGHUP a gate when kubelet swaps its configuration volume.")
    parser.add_argument("--dir", required=True, type=Path, help="the mounted volume (holds ..data)")
    parser.add_argument("--process", required=True, help="the gate's name: argv[0]'s basename or comm")
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL, help="seconds between checks")
    parser.add_argument("--grace", type=float, default=DEFAULT_GRACE, help="seconds --dir may take to appear")
    args = parser.parse_args(argv)
    if not args.process or "/" in args.process or "\0" in args.process:
        parser.error(f"--process must be a process name without '/', got {args.process!r}")
    if not 0 < args.interval <= 3600:
        parser.error(f"--interval must be more than 0 and at most 3600 seconds, got {args.interval}")
    if not 0 <= args.grace <= 3600:
        parser.error(f"--grace must be 0-3600 seconds, got {args.grace}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    stop = threading.Event()

    def on_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)

    deadline = time.monotonic() + args.grace
    while not args.dir.is_dir():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            print(f"reload_on_change: --dir {args.dir} is not a directory (waited {args.grace:g}s)", file=sys.stderr)
            return 2
        if stop.wait(min(args.interval, remaining)):
            return 0

    watcher = Watcher(args.dir, args.process)
    watcher.start()
    while not stop.wait(args.interval):
        watcher.tick()
    return 0


if __name__ == "__main__":
    sys.exit(main())
