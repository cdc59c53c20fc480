"""A route change or token rotation without a restart: the deployment puts new files in
place (live_config.py) and sends SIGHUP; the proxy swaps in the new table whole, or keeps
the last good one if the new files do not validate. Each reload prints one `config_reload`
line (the deployment waits for it). A running proxy is exercised end to end; the writer's
pure parts by tables.
"""

import hashlib
import io
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import ADDON_DIR, TOKENS, ProxyFactory, Upstream, http_request, marker, standard_routes, wait_for

sys.path.insert(0, str(ADDON_DIR))
import live_config

ROTATED = {**TOKENS, "EGRESS_PROXY_TOKEN_0": "tok0-ROTATED-77aa01bc"}


def _payload(routes: dict[str, Any], tokens: dict[str, str]) -> tuple[dict[str, bytes], str]:
    document = json.dumps(routes).encode()  # JSON is YAML
    return {"routes.yaml": document, "tokens.json": json.dumps(tokens).encode()}, hashlib.sha256(document).hexdigest()


def _reloads(proxy: Any) -> list[dict[str, Any]]:
    return [d for d in proxy.json_lines() if d.get("event") == "config_reload"]


def _signal_and_wait(proxy: Any, count: int) -> dict[str, Any]:
    proxy.process.send_signal(signal.SIGHUP)
    assert wait_for(lambda: len(_reloads(proxy)) >= count), f"no config_reload line:\n{proxy.output()}"
    return _reloads(proxy)[count - 1]


def _authorization(up: Upstream, m: str) -> list[str]:
    return [v for r in up.requests_for(m) for v in r.header_values("Authorization")]


def test_sighup_swaps_routes_and_tokens_in_place_and_keeps_the_last_good_table(
    proxies: ProxyFactory, upstreams: dict[str, Upstream], tmp_path: Path
) -> None:
    live = tmp_path / "live"
    live.mkdir()
    routes = standard_routes(upstreams)
    files, started_hash = _payload(routes, TOKENS)
    live_config.write_generation(live, files, os.getuid())
    proxy = proxies.start(live / "current" / "routes.yaml", env={"EGRESS_PROXY_TOKENS": str(live / "current" / "tokens.json")})
    # At start: the document it loaded, by its sha256 (a gate started after a change confirms it so).
    assert [d for d in proxy.json_lines() if d.get("event") == "startup"] == [
        {"event": "startup", "detail": "3 routes", "config_hash": started_hash}
    ]
    plain = upstreams["plain"]
    base = f"http://localhost:{plain.port}"

    m = marker()
    assert http_request(proxy.port, "GET", f"{base}/user/{m}").status == 200
    assert http_request(proxy.port, "GET", f"{base}/also/{m}").status == 403
    assert _authorization(plain, m) == ["Bearer " + TOKENS["EGRESS_PROXY_TOKEN_0"]]

    # A new path and a rotated token, in one change.
    routes["routes"][0]["path_allowlist"].append("/also/")
    files, config_hash = _payload(routes, ROTATED)
    live_config.write_generation(live, files, os.getuid())
    assert _signal_and_wait(proxy, 1) == {"event": "config_reload", "status": "success", "detail": "3 routes", "config_hash": config_hash}
    m = marker()
    assert http_request(proxy.port, "GET", f"{base}/also/{m}").status == 200
    assert _authorization(plain, m) == ["Bearer " + ROTATED["EGRESS_PROXY_TOKEN_0"]]

    # Routes that do not validate (a token that is not there): rejected, the last good table stays.
    routes["routes"][0]["auth"]["token_env"] = "EGRESS_PROXY_TOKEN_9"
    files, _ = _payload(routes, ROTATED)
    live_config.write_generation(live, files, os.getuid())
    rejected = _signal_and_wait(proxy, 2)
    assert rejected["status"] == "rejected" and "config_hash" not in rejected
    assert "EGRESS_PROXY_TOKEN_9 is not set" in rejected["detail"] and "keeping the previous routes" in rejected["detail"]
    m = marker()
    assert http_request(proxy.port, "GET", f"{base}/also/{m}").status == 200
    assert _authorization(plain, m) == ["Bearer " + ROTATED["EGRESS_PROXY_TOKEN_0"]]
    assert proxy.process.poll() is None
    for value in {*TOKENS.values(), *ROTATED.values()}:
        assert value not in proxy.output()


def test_a_proxy_started_with_a_tokens_file_reads_no_token_from_the_environment(
    proxies: ProxyFactory, upstreams: dict[str, Upstream], tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"EGRESS_PROXY_TOKEN_1": "only-one"}))
    proxy = proxies.start(standard_routes(upstreams), env={**TOKENS, "EGRESS_PROXY_TOKENS": str(tokens)}, ready=False)
    assert proxy.process.wait(timeout=20) != 0
    assert "routes[0].auth.token_env: EGRESS_PROXY_TOKEN_0 is not set" in proxy.output()


# --------------------------------------------------------------------------- the writer


def test_write_generation_makes_current_in_one_rename_and_prune_keeps_two(tmp_path: Path) -> None:
    first = live_config.write_generation(tmp_path, {"a.yaml": b"one"}, os.getuid())
    second = live_config.write_generation(tmp_path, {"a.yaml": b"two", "t.json": b"{}"}, os.getuid())
    third = live_config.write_generation(tmp_path, {"a.yaml": b"three"}, os.getuid())
    assert os.readlink(tmp_path / "current") == third.name
    assert (tmp_path / "current" / "a.yaml").read_bytes() == b"three"
    assert oct((third / "a.yaml").stat().st_mode & 0o777) == "0o400"
    assert oct(third.stat().st_mode & 0o777) == "0o500"
    assert live_config.prune(tmp_path) == [first.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["current", second.name, third.name])


@pytest.mark.parametrize(
    ("payload", "with_tokens", "expected"),
    [
        (b"version: 1\n", False, (None, b"version: 1\n")),
        (b'{"EGRESS_PROXY_TOKEN_0": "v"}\nversion: 1\n', True, (b'{"EGRESS_PROXY_TOKEN_0": "v"}', b"version: 1\n")),
        (b"{}\n", True, (b"{}", b"")),
    ],
)
def test_split_payload(payload: bytes, with_tokens: bool, expected: tuple[bytes | None, bytes]) -> None:
    assert live_config.split_payload(payload, with_tokens) == expected


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"EGRESS_PROXY_TOKEN_0": "v"}', "no tokens line"),
        (b"secret-value\nversion: 1\n", "not JSON"),
        (b'["secret-value"]\nversion: 1\n', "JSON object"),
        (b'{"EGRESS_PROXY_TOKEN_0": 7}\nversion: 1\n', "JSON object"),
    ],
)
def test_split_payload_refuses_without_quoting_it(payload: bytes, message: str) -> None:
    with pytest.raises(live_config.PayloadError) as raised:
        live_config.split_payload(payload, True)
    assert message in str(raised.value) and "secret-value" not in str(raised.value)


def test_the_writer_checks_routes_before_anything_is_put_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = b'{"EGRESS_PROXY_TOKEN_0": "tok-secret-1"}\nversion: 1\nroutes:\n  - host: a.example\n    metods: [GET]\n'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(bad)))
    argv = [
        "--dir",
        str(tmp_path),
        "--owner",
        str(os.getuid()),
        "--document",
        "routes.yaml",
        "--tokens",
        "tokens.json",
        "--check",
        "routes",
    ]
    assert live_config.main(argv) == 2
    assert list(tmp_path.iterdir()) == []

    good = b'{"EGRESS_PROXY_TOKEN_0": "tok-secret-1"}\nversion: 1\nroutes:\n  - host: a.example\n    auth: {header: A, token_env: EGRESS_PROXY_TOKEN_0}\n'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(good)))
    assert live_config.main(argv) == 0
    assert json.loads((tmp_path / "current" / "tokens.json").read_text()) == {"EGRESS_PROXY_TOKEN_0": "tok-secret-1"}
    assert (tmp_path / "current" / "routes.yaml").read_bytes() == good.partition(b"\n")[2]


def test_rollback_points_current_at_the_generation_before_and_removes_the_refused_one(tmp_path: Path) -> None:
    first = live_config.write_generation(tmp_path, {"a.yaml": b"one"}, os.getuid())
    refused = live_config.write_generation(tmp_path, {"a.yaml": b"two"}, os.getuid())
    assert live_config.rollback(tmp_path) == first.name
    assert (tmp_path / "current" / "a.yaml").read_bytes() == b"one"
    assert not refused.exists()
    with pytest.raises(live_config.PayloadError, match="no generation before"):
        live_config.rollback(tmp_path)
    assert (tmp_path / "current" / "a.yaml").read_bytes() == b"one"
