"""The mock-engine harness itself: it must fail loudly, never pass by accident."""

from __future__ import annotations

import asyncio
import time

import pulumi
import pulumi_aws as aws
import pytest

from offline.engine import SynthesisError, read_stack_config, run_under_mocks, synthesize_stack
from tests.harness import in_region


def test_an_output_that_never_resolves_fails_the_run_instead_of_hanging():
    def program():
        never = asyncio.get_event_loop().create_future()
        pulumi.Output.from_input(never).apply(lambda value: value)

    started = time.monotonic()
    with pytest.raises(SynthesisError) as caught:
        run_under_mocks(program, timeout_seconds=0.5)
    assert str(caught.value).startswith("program did not finish within 0.5 s: ")
    assert time.monotonic() - started < 10


def test_an_assertion_inside_an_apply_nobody_awaits_still_fails_the_run():
    def program():
        key = aws.kms.Key("k", opts=in_region("eu-west-1"))

        def check(arn: str) -> None:
            assert arn.startswith("arn:aws:kms:us-east-1:"), f"key landed elsewhere: {arn}"

        key.arn.apply(check)  # deliberately not returned or awaited

    with pytest.raises(AssertionError, match="key landed elsewhere: arn:aws:kms:eu-west-1:"):
        run_under_mocks(program)


def test_runtime_state_is_reset_between_runs():
    first = run_under_mocks(lambda: aws.kms.Key("only-in-first", opts=in_region("eu-west-1")))
    second = run_under_mocks(lambda: aws.kms.Key("only-in-second", opts=in_region("eu-west-1")))
    assert [r.name for r in first.resources if not r.is_provider] == ["only-in-first"]
    assert [r.name for r in second.resources if not r.is_provider] == ["only-in-second"]
    assert pulumi.runtime.get_root_resource() is None


def test_a_resource_without_an_explicit_provider_has_no_region():
    run = run_under_mocks(lambda: aws.kms.Key("orphan"))
    assert run.one("aws:kms/key:Key", "orphan").region is None


def test_an_unmocked_invoke_names_itself():
    with pytest.raises(NotImplementedError, match="aws:index/getAvailabilityZones:getAvailabilityZones"):
        run_under_mocks(
            lambda: aws.get_availability_zones_output(
                opts=pulumi.InvokeOutputOptions(provider=aws.Provider("p", region="eu-west-1"))
            ).names.apply(lambda n: n)
        )


def test_missing_stack_file_lists_the_stacks_there(tmp_path):
    (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
    with pytest.raises(SynthesisError, match=r"no stack file Pulumi.qa.yaml \(stacks here: dev\)"):
        synthesize_stack("qa", root=tmp_path)


def test_stack_file_structured_and_secure_values(tmp_path):
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(
        "config:\n"
        "  ml-platform:regions:\n    primary: us-east-1\n"
        "  ml-platform:hook:\n    secure: v1:abc\n"
        "  aws:region: us-east-1\n"
    )
    config, secret_keys = read_stack_config(path)
    assert config == {
        "ml-platform:regions": '{"primary": "us-east-1"}',
        "ml-platform:hook": "mock-secret-for-ml-platform:hook",
        "aws:region": "us-east-1",
    }
    assert secret_keys == ["ml-platform:hook"]
