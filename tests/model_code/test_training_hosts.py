"""`train` refuses a multi-instance job: neither trainer has a multi-host mode.

SageMaker lists the job's instances in /opt/ml/input/config/resourceconfig.json
(https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-running-container.html,
"Distributed Training Configuration"); the files here have that documented shape.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model_code.failure import UserError
from model_code.paths import OptMl
from model_code.trainers.hosts import check_single_host
from tests.model_code.helpers import Job


def resource_config(root: Path, hosts: list[str]) -> Path:
    path = root / "input" / "config" / "resourceconfig.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"current_host": hosts[0], "hosts": hosts, "network_interface_name": "eth0"}))
    return path


def test_two_hosts_are_refused_before_any_data_is_read(job: Job):
    path = resource_config(job.root, ["algo-1", "algo-2"])
    job.write_hyperparameters({"trainer": "gbt"})
    result = job.run("train")  # no train channel at all: the host check comes first
    assert result.returncode == 1
    assert job.failure_file.read_text() == (
        f"trainer 'gbt' trains on one instance, but this job has 2 (algo-1, algo-2; from {path}); the others "
        "would only add cost: set training.instance_count (InstanceCount) to 1\n"
    )


def test_the_softmax_trainer_is_refused_too(tmp_path: Path):
    path = resource_config(tmp_path, ["algo-1", "algo-2", "algo-3"])
    with pytest.raises(UserError) as caught:
        check_single_host(OptMl(tmp_path), "softmax")
    assert str(caught.value) == (
        f"trainer 'softmax' trains on one instance, but this job has 3 (algo-1, algo-2, algo-3; from {path}); "
        "the others would only add cost: set training.instance_count (InstanceCount) to 1"
    )


def test_one_host_or_no_file_trains(tmp_path: Path):
    check_single_host(OptMl(tmp_path), "gbt")  # local run: no resourceconfig.json
    resource_config(tmp_path, ["algo-1"])
    check_single_host(OptMl(tmp_path), "gbt")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{hosts", "is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
        ('{"hosts": "algo-1"}', 'must hold a \'hosts\' list of host names (got {"hosts": "algo-1"})'),
    ],
)
def test_a_malformed_resource_config_is_named(tmp_path: Path, text: str, expected: str):
    path = tmp_path / "input" / "config" / "resourceconfig.json"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(UserError) as caught:
        check_single_host(OptMl(tmp_path), "gbt")
    assert str(caught.value) == f"{path} {expected}"
