"""Put a gate's live configuration in place: the files a running gate re-reads on SIGHUP.

Run by the deployment in a throwaway container with the gate's configuration volume at
--dir. Reads the document from stdin (preceded, with --tokens, by one line: the tokens as
a JSON object), optionally checks it, writes every file into a new generation directory
owned by the gate's uid (files 0400), then points `current` at it in one rename, so a gate
that reads `current/...` sees the old files or the new ones, never a mix. Keeps the
previous generation (a gate may be reading it) and removes older ones. Prints the sha256
of the document: the hash the gate's `config_reload` line confirms. With --rollback it
points `current` back at the generation before it (a gate refused the new one) and removes
the refused one, so a restarted gate cannot load it either.

    python live_config.py --dir /live --owner 65533 --document routes.yaml \
        --tokens tokens.json --check routes < payload
    python live_config.py --dir /live --rollback
"""

import argparse
import hashlib
import json
import os
import secrets
import shutil
import sys
import time
from pathlib import Path

CURRENT = "current"
GENERATION_PREFIX = "gen-"


class PayloadError(Exception):
    """A payload that must not be put in place, phrased for the operator (no token values)."""


def split_payload(payload: bytes, with_tokens: bool) -> tuple[bytes | None, bytes]:
    """The tokens line (JSON) and the document. Pure."""
    if not with_tokens:
        return None, payload
    tokens, newline, document = payload.partition(b"\n")
    if not newline:
        raise PayloadError("the payload has no tokens line")
    try:
        parsed = json.loads(tokens)
    except (UnicodeError, json.JSONDecodeError):
        raise PayloadError("the tokens line is not JSON") from None
    if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
        raise PayloadError("the tokens line must be a JSON object of names to strings")
    return tokens, document


def check_routes(document: bytes, tokens: bytes | None) -> str:
    """Validates routes.yaml with its tokens as the egress proxy will; a summary."""
    from routes_yaml import RoutesError, parse_routes_yaml

    try:
        table = parse_routes_yaml(document.decode("utf-8"), json.loads(tokens or b"{}"))
    except UnicodeError:
        raise PayloadError("routes.yaml is not UTF-8") from None
    except RoutesError as e:
        raise PayloadError(f"routes.yaml: {e}") from None
    return f"{len(table.routes)} routes"


def write_generation(root: Path, files: dict[str, bytes], owner: int) -> Path:
    """Writes `files` into a new generation under `root`, owned by `owner` and readable by it
    only, then makes it `current` in one rename. Returns the generation directory."""
    generation = root / f"{GENERATION_PREFIX}{time.time_ns():020d}-{secrets.token_hex(4)}"
    generation.mkdir(mode=0o700)
    for name, data in files.items():
        path = generation / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chown(path, owner, owner)
    os.chown(generation, owner, owner)
    generation.chmod(0o500)
    _point_current_at(root, generation.name)
    return generation


def _point_current_at(root: Path, generation: str) -> None:
    link = root / f".{CURRENT}.{secrets.token_hex(4)}"
    os.symlink(generation, link)
    os.replace(link, root / CURRENT)


def rollback(root: Path) -> str:
    """Points `current` at the generation before it and removes the one it pointed at;
    returns the generation now current."""
    refused = os.readlink(root / CURRENT)
    older = [name for name in _generations(root) if name < refused]
    if not older:
        raise PayloadError(f"no generation before {refused} to go back to")
    _point_current_at(root, older[-1])
    _remove(root, refused)
    return older[-1]


def prune(root: Path, keep: int = 2) -> list[str]:
    """Removes all but the newest `keep` generations (names sort by time); returns their names."""
    generations = _generations(root)
    removed = generations[:-keep] if keep else generations
    for name in removed:
        _remove(root, name)
    return removed


def _generations(root: Path) -> list[str]:
    """The generations under `root`, oldest first (their names sort by time)."""
    return sorted(p.name for p in root.iterdir() if p.name.startswith(GENERATION_PREFIX) and p.is_dir())


def _remove(root: Path, generation: str) -> None:
    (root / generation).chmod(0o700)  # a generation is read-only, even for its owner
    shutil.rmtree(root / generation)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", required=True, type=Path, help="the gate's configuration volume")
    parser.add_argument("--rollback", action="store_true", help="go back to the generation before `current`")
    parser.add_argument("--owner", type=int, help="uid (and gid) of the gate that reads the files")
    parser.add_argument("--document", help="file name of the document (stdin after the tokens line)")
    parser.add_argument("--tokens", default="", help="file name of the tokens (the first line of stdin)")
    parser.add_argument("--check", choices=["routes"], help="validate the document before it is put in place")
    args = parser.parse_args(argv)
    if args.rollback:
        try:
            print(f"live-config: back to {rollback(args.dir)}", file=sys.stderr)
        except PayloadError as e:
            print(f"live-config: cannot roll back: {e}", file=sys.stderr)
            return 2
        return 0
    if args.owner is None or args.document is None:
        parser.error("--owner and --document are required to write a generation")
    try:
        tokens, document = split_payload(sys.stdin.buffer.read(), bool(args.tokens))
        summary = check_routes(document, tokens) if args.check == "routes" else f"{len(document)} bytes"
    except PayloadError as e:
        print(f"live-config: not put in place: {e}", file=sys.stderr)
        return 2
    files = {args.document: document, **({args.tokens: tokens} if tokens is not None else {})}
    generation = write_generation(args.dir, files, args.owner)
    prune(args.dir)
    print(f"live-config: {generation.name} is current ({args.document}: {summary})", file=sys.stderr)
    print(hashlib.sha256(document).hexdigest())
    return 0


if __name__ == "__main__":
    sys.exit(main())
