"""`ModelImage` and `ImageReplicaCheck` built alone, from plain args: the repository reference in
the partition given, the digest-pinned URI, the build branch and the branch that builds nothing;
and the image check's provider as older state stored it.

What mocks cannot prove: that Docker builds the context, that ECR accepts the push, or that the
replica holds the digest (tests/test_served_model.py runs the check's polling against moto).
"""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest

from ml_platform.components.image import ModelImage, ModelImageArgs, context_tag
from ml_platform.components.image_check import ImageReplicaCheck, ImageReplicaCheckArgs
from offline.engine import ROOT
from tests.harness import in_region, run_component

DIGEST = "sha256:" + "4f" * 32
PINNED = f"111122223333.dkr.ecr.cn-north-1.amazonaws.com.cn/team/model@{DIGEST}"


def build_image(**changes):
    values = {
        "repository_name": "team/model",
        "account_id": "111122223333",
        "region": "cn-north-1",
        "partition": "aws-cn",
        "dns_suffix": "amazonaws.com.cn",
        "uri": PINNED,
    }
    args = ModelImageArgs(**{**values, **changes})
    found = {}

    def program():
        image = ModelImage("image", args, opts=in_region("cn-north-1"))
        image.repository.arn.apply(lambda arn: found.update(arn=arn))
        image.repository.repository_url.apply(lambda url: found.update(url=url))
        image.image_uri.apply(lambda uri: found.update(uri=uri))

    return run_component(program), found


def test_a_given_uri_is_served_as_is_and_nothing_is_built():
    run, found = build_image()
    component = run.one("ml-platform:image:ModelImage", "image")
    assert run.children(component) == []
    assert found == {
        "arn": "arn:aws-cn:ecr:cn-north-1:111122223333:repository/team/model",
        "url": "111122223333.dkr.ecr.cn-north-1.amazonaws.com.cn/team/model",
        "uri": PINNED,
    }


def test_a_build_context_is_built_pushed_and_served_by_digest(tmp_path: Path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    run, found = build_image(uri=None, build_context=tmp_path)
    component = run.one("ml-platform:image:ModelImage", "image")
    [image] = run.children(component)
    assert (image.type, image.name) == ("docker-build:index:Image", "image")
    url = "111122223333.dkr.ecr.cn-north-1.amazonaws.com.cn/team/model"
    assert image.inputs["tags"] == [f"{url}:{context_tag(tmp_path)}"]
    assert image.inputs["context"] == {"location": str(tmp_path)}
    assert image.inputs["dockerfile"] == {"location": str(tmp_path / "Dockerfile")}
    assert (image.inputs["push"], image.inputs["platforms"]) == (True, ["linux/amd64"])
    assert image.inputs["registries"][0]["address"] == url
    assert image.inputs["registries"][0]["username"] == "AWS"
    assert found["uri"] == f"{url}@{image.outputs['digest']}"


def test_exactly_one_image_source():
    with pytest.raises(ValueError) as caught:
        ModelImageArgs(
            repository_name="r", account_id="1", region="us-east-1", partition="aws", dns_suffix="amazonaws.com"
        )
    assert str(caught.value) == (
        "ModelImageArgs: set exactly one of build_context and uri (got build_context=None, uri=None)"
    )


def test_the_replica_check_records_what_it_waits_for():
    run = run_component(
        lambda: ImageReplicaCheck(
            "check",
            ImageReplicaCheckArgs(region="us-west-2", repository="team/model", digest=DIGEST, timeout_seconds=300),
            opts=in_region("us-west-2"),
        )
    )
    [check] = [r for r in run.resources if not r.is_provider]
    assert (check.type, check.name, check.region) == ("pulumi-python:dynamic:Resource", "check", "us-west-2")
    assert {k: v for k, v in check.inputs.items() if k != "__provider"} == {
        "region": "us-west-2",
        "repository": "team/model",
        "digest": DIGEST,
        "timeout_seconds": 300,
    }


def test_a_provider_pickled_before_the_package_move_still_loads(tmp_path: Path):
    """State written before the modules moved under `ml_platform/` names the provider
    `components.image_check._ImageReplicaProvider`; Pulumi unpickles it to delete or refresh the
    old check. Pickle one under that old path (the same class, from a `components` package in a
    scratch directory), then load it from the project root as `pulumi.dynamic` would."""
    old = tmp_path / "components"
    old.mkdir()
    (old / "__init__.py").write_text("")
    (old / "image_check.py").write_text((ROOT / "ml_platform" / "components" / "image_check.py").read_text())
    pickled = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n"
            f"sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(tmp_path)!r})\n"
            "from pulumi.dynamic.dynamic import serialize_provider\n"
            "from components.image_check import _ImageReplicaProvider\n"
            "assert _ImageReplicaProvider.__module__ == 'components.image_check'\n"
            "print(serialize_provider(_ImageReplicaProvider()))\n",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert pickled.returncode == 0, pickled.stderr
    assert b"components.image_check" in base64.b64decode(pickled.stdout)
    script = (
        "import base64, sys, dill\n"
        "provider = dill.loads(base64.b64decode(sys.stdin.read()))\n"
        "old = {'region': 'r', 'repository': 'x', 'digest': 'sha256:1'}\n"
        "print(type(provider).__module__, provider.diff('id', old, {**old, 'digest': 'sha256:2'}).replaces)\n"
        "provider.delete('id', old)\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], input=pickled.stdout, capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert (loaded.returncode, loaded.stdout) == (0, "ml_platform.components.image_check ['digest']\n"), loaded.stderr
