"""The addon's pure modules import without mitmproxy (tests, entrypoint.py, healthcheck.py and
live_config.py use them without a proxy); only the modules that handle mitmproxy's flows and
lifecycle need it."""

import subprocess
import sys

import pytest

from conftest import ADDON_DIR

# A fresh interpreter in which `import mitmproxy` fails, importing one module of the addon.
WITHOUT_MITMPROXY = "import sys; sys.modules['mitmproxy'] = None; sys.path.insert(0, sys.argv[1]); __import__(sys.argv[2])"


@pytest.mark.parametrize(
    "module,pure",
    [
        ("aws_sigv4", True),
        ("aws_sts", True),
        ("credential_errors", True),
        ("decision_log", True),
        ("egress_lanes", True),
        ("egress_metrics", True),
        ("egress_options", True),
        ("egress_routes", True),
        ("git_protocol", True),
        ("git_rules", True),
        ("host_names", True),
        ("pipelock_refusals", True),
        ("pipelock_scan", True),
        ("rate_limit", True),
        ("request_checks", True),
        ("routes_yaml", True),
        ("config_checks", True),
        ("credentials_yaml", True),
        ("credential_sources", True),
        ("credential_minting", True),
        ("credential_refresher", True),
        ("github_app", True),
        ("google_service_account", True),
        ("mint_client", True),
        ("provider_answers", True),
        ("sigv4_requests", True),
        ("bulk_lane", False),
        ("connect_refusal_body", False),
        ("egress_proxy", False),
        ("minted_credentials", False),
        ("proxy_lifecycle", False),
        ("refused_tunnels", False),
        ("upstream_tls", False),
    ],
)
def test_pure_modules_import_without_mitmproxy(module: str, pure: bool) -> None:
    run = subprocess.run([sys.executable, "-c", WITHOUT_MITMPROXY, str(ADDON_DIR), module], capture_output=True, text=True)
    assert (run.returncode == 0) is pure, run.stderr
    if not pure:
        # (A submodule's import names mitmproxy's package instead.)
        assert "import of mitmproxy halted" in run.stderr or "'mitmproxy' is not a package" in run.stderr
