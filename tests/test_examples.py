"""The examples run as their owners would run them, under the mock engine: another team's program
reusing one component with plain args (examples/reuse_front_door).

What mocks cannot prove: that the team's endpoint exists, or that their key lets CloudWatch Logs
encrypt the access log.
"""

from __future__ import annotations

import json
import os
import runpy

from ml_platform.components.frontdoor import invoke_uri, routes_digest
from offline.engine import ROOT, run_under_mocks

EXAMPLE = ROOT / "examples" / "reuse_front_door"
KEY = "arn:aws:kms:eu-west-1:111122223333:key/team"


def run_example(**config: str):
    def program() -> None:
        cwd = os.getcwd()
        os.chdir(EXAMPLE)
        try:
            runpy.run_path(str(EXAMPLE / "__main__.py"), run_name="__main__")
        finally:
            os.chdir(cwd)

    # The mock engine runs every program as project `ml-platform`: `pulumi.Config()` reads that namespace.
    values = {"aws:region": "eu-west-1", **{f"ml-platform:{key}": value for key, value in config.items()}}
    return run_under_mocks(program, stack="dev", config=values)


def test_the_front_door_example_declares_only_the_api_in_front_of_the_teams_endpoint():
    run = run_example(endpointName="Fraud-Scorer", logKeyArn=KEY)
    components = [r for r in run.resources if not r.custom]
    assert [(r.type, r.name) for r in components] == [("ml-platform:frontdoor:RegionalApi", "inference")]
    # No endpoint, key or anything else of ml-platform's stack: the team's endpoint is referred to.
    assert not [r for r in run.resources if r.type.startswith("aws:sagemaker") or r.type.startswith("aws:kms")]
    api = run.one("aws:apigateway/restApi:RestApi", "inference")
    assert api.inputs["name"] == "ml-platform-dev"
    integration = run.one("aws:apigateway/integration:Integration", "inference-invocations")
    assert integration.inputs["uri"] == invoke_uri("aws", "eu-west-1", "Fraud-Scorer")
    policy = json.loads(run.one("aws:iam/rolePolicy:RolePolicy", "inference-invoke").inputs["policy"])
    assert {s["Resource"] for s in policy["Statement"]} == {
        "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/fraud-scorer"
    }
    assert run.one("aws:cloudwatch/logGroup:LogGroup", "inference-access").inputs == {
        "kmsKeyId": KEY,
        "retentionInDays": 90,
    }
    stage = run.one("aws:apigateway/stage:Stage", "inference")
    assert stage.inputs["stageName"] == "v1"
    assert run.one("aws:apigateway/deployment:Deployment", "inference").inputs["triggers"] == {
        "routes": routes_digest("v1")
    }
    settings = run.one("aws:apigateway/methodSettings:MethodSettings", "inference").inputs["settings"]
    assert (settings["throttlingRateLimit"], settings["throttlingBurstLimit"]) == (20, 40)
    acl = run.one("aws:wafv2/webAcl:WebAcl", "inference")
    assert [rule["name"] for rule in acl.inputs["rules"]] == ["rate-per-ip", "aws-common"]
    assert acl.inputs["rules"][0]["statement"]["rateBasedStatement"]["limit"] == 300
    # (The mock engine gives a REST API its name as its id.)
    assert run.outputs["invoke_url"] == "https://ml-platform-dev.execute-api.eu-west-1.amazonaws.com/v1/invocations"


def test_the_example_names_its_own_config_in_its_project_file():
    text = (EXAMPLE / "Pulumi.yaml").read_text()
    assert "name: team-inference" in text
    for key in ("endpointName:", "logKeyArn:", "stageName:"):
        assert key in text
