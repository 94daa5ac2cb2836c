"""What `failover_client/`, `offline/` and `ops/` may import and hold, and the failover client's
stable API.

`failover_client` is handed to callers of the endpoints: it must import nothing of this
repository but itself, and its public names change only on purpose. `offline` (the mock
engine, the offline plan, the failover drill on moto) never touches a deployed stack, so it
must not import `ops`; `ops` holds only the commands that do.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import failover_client

ROOT = Path(__file__).resolve().parent.parent
# The repository's own top-level packages and modules.
OWN = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}


def imported_modules(package: str) -> dict[str, set[str]]:
    """Per file of `package`, the top-level names of every module it imports (lazy imports included)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).glob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[f"{package}/{path.name}"] = names
    return found


def test_the_failover_client_exports_exactly_its_stable_api():
    assert failover_client.__all__ == [
        "AllRegionsFailedError",
        "BreakerPolicy",
        "BreakerState",
        "CircuitBreaker",
        "FailoverClient",
        "FrontDoorClient",
        "InvokeResult",
        "OutputsError",
        "RegionEndpoint",
        "RequestRejectedError",
        "RetryPolicy",
        "Timeouts",
        "describe_error",
        "front_door_client_factory",
        "front_door_targets",
        "is_retryable",
        "runtime_client",
        "sigv4a_signer",
    ]
    assert [name for name in failover_client.__all__ if not hasattr(failover_client, name)] == []


def test_the_failover_client_imports_nothing_of_this_repository_but_itself():
    assert {"failover_client", "ml_platform", "offline", "ops", "policy", "bootstrap", "model_code"} <= OWN
    foreign = {
        file: sorted(names & (OWN - {"failover_client"})) for file, names in imported_modules("failover_client").items()
    }
    assert foreign == {
        "failover_client/__init__.py": [],
        "failover_client/client.py": [],
        "failover_client/stack_outputs.py": [],
    }
    # And at run time, in a fresh interpreter: importing it loads no other package of the repository.
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, json, failover_client; print(json.dumps(sorted(sys.modules)))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    own_loaded = {name.split(".")[0] for name in json.loads(loaded.stdout)} & OWN
    assert own_loaded == {"failover_client"}


def test_offline_never_imports_the_deployed_stack_commands():
    assert {file: sorted(names & {"ops"}) for file, names in imported_modules("offline").items()} == {
        "offline/__init__.py": [],
        "offline/deployability.py": [],
        "offline/engine.py": [],
        "offline/failover_drill.py": [],
        "offline/plan.py": [],
        "offline/policy_check.py": [],
    }


def test_ops_holds_only_the_commands_that_touch_a_deployed_stack():
    # Each reads a deployed stack's outputs or calls its AWS account; `outputs` is what they
    # share. A command that runs offline (on moto, on the mock engine) belongs in offline/.
    modules = sorted(
        str(path.relative_to(ROOT / "ops")) for path in (ROOT / "ops").rglob("*.py") if "__pycache__" not in path.parts
    )
    assert modules == [
        "__init__.py",
        "models/__init__.py",
        "models/__main__.py",
        "models/catalog.py",
        "models/cli.py",
        "models/common.py",
        "models/register.py",
        "models/train.py",
        "outputs.py",
        "preflight.py",
        "restore_drill.py",
        "verify.py",
    ]
