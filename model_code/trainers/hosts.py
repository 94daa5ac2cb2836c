"""One host per training job: neither trainer has a multi-host mode.

SageMaker describes the job's instances in /opt/ml/input/config/resourceconfig.json,
`{"current_host": "algo-1", "hosts": ["algo-1", "algo-2"], "network_interface_name": ...}`
(https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-running-container.html,
"Distributed Training Configuration"). With InstanceCount > 1 every instance runs this same
container on a full copy of the data (FullyReplicated) and trains the same model: the extra
instances only add cost, and they would race to write the same checkpoints. So more than one
host is refused before any data is read. The stack config refuses it earlier
(ml_platform/config/, `training.instance_count`); this covers jobs started some other way.
"""

from __future__ import annotations

import json

from model_code.failure import UserError
from model_code.paths import OptMl

RESOURCE_CONFIG = ("input", "config", "resourceconfig.json")
# Trainers that can spread one run over several hosts; none yet.
MULTI_HOST_TRAINERS: frozenset[str] = frozenset()


def check_single_host(paths: OptMl, trainer: str) -> None:
    """Raise UserError if SageMaker started this trainer on more than one host."""
    path = paths.root.joinpath(*RESOURCE_CONFIG)
    if trainer in MULTI_HOST_TRAINERS or not path.exists():
        return
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not valid JSON ({exc})") from exc
    hosts = config.get("hosts") if isinstance(config, dict) else None
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise UserError(f"{path} must hold a 'hosts' list of host names (got {json.dumps(config)[:200]})")
    if len(hosts) > 1:
        raise UserError(
            f"trainer '{trainer}' trains on one instance, but this job has {len(hosts)} "
            f"({', '.join(hosts)}; from {path}); the others would only add cost: set "
            f"training.instance_count (InstanceCount) to 1"
        )
