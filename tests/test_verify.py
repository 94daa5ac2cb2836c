"""`ops.verify` against moto in two regions, and its prediction-shape check against the server's encoder.

What moto cannot prove: real endpoint status transitions, real rollbacks (a rollback is staged
here as an endpoint created on another configuration), and the real container's answers
(moto returns queued canned bodies). moto has no API to fail an endpoint, so the `Failed`
case sets the status on moto's backend object directly.
"""

from __future__ import annotations

import io
import json

import boto3
import numpy as np
import pytest
import requests
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.models import sagemaker_backends
from pulumi import automation as auto
from pulumi.automation.errors import create_command_error

from model_code.serve.decode import JSON
from model_code.serve.encode import Encoder
from ops.outputs import endpoints
from ops.verify import SAMPLE_PAYLOAD, main, prediction_problem

MOTO_RESULTS_API = "http://motoapi.amazonaws.com/moto-api/static/sagemaker/endpoint-results"
GOOD_BODY = json.dumps(
    {
        "classes": ["0", "1"],
        "predictions": [
            {"label": "0", "probabilities": [0.75, 0.25]},
            {"label": "1", "probabilities": [0.125, 0.875]},
        ],
    }
)
OUTPUTS = {
    "regions": {"primary": "us-east-1", "secondary": "us-west-2"},
    "endpoints": {
        "secondary": {
            "region": "us-west-2",
            "endpoint_name": "ml-platform-prod",
            "endpoint_config_name": "config-west-v2",
            "variant_name": "primary",
            "min_capacity": 1.0,
            "max_capacity": 4.0,
        },
        "primary": {
            "region": "us-east-1",
            "endpoint_name": "ml-platform-prod",
            "endpoint_config_name": "config-east-v2",
            "variant_name": "primary",
            "min_capacity": 2.0,
            "max_capacity": 8.0,
        },
    },
}


@pytest.fixture
def aws(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield


def deploy(region: str, config_name: str, *, count: int = 2, serverless: bool = False) -> None:
    sagemaker = boto3.client("sagemaker", region_name=region)
    model = f"model-{config_name}"
    sagemaker.create_model(
        ModelName=model,
        ExecutionRoleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/serving",
        PrimaryContainer={"Image": f"{DEFAULT_ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com/model@sha256:{'0' * 64}"},
    )
    variant = {"VariantName": "primary", "ModelName": model}
    if serverless:
        variant["ServerlessConfig"] = {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    else:
        variant.update(InitialInstanceCount=count, InstanceType="ml.m5.large")
    sagemaker.create_endpoint_config(EndpointConfigName=config_name, ProductionVariants=[variant])
    sagemaker.create_endpoint(EndpointName="ml-platform-prod", EndpointConfigName=config_name)


def queue_result(region: str, body: str, content_type: str = "application/json") -> None:
    """moto's results queue for sagemaker-runtime: the next invocation in `region` returns this."""
    result = {"Body": body, "ContentType": content_type, "InvokedProductionVariant": "primary"}
    response = requests.post(MOTO_RESULTS_API, json={"region": region, "results": [result]}, timeout=5)
    assert response.status_code == 201


def healthy_stack(primary_body: str = GOOD_BODY) -> None:
    deploy("us-east-1", "config-east-v2", count=2)
    deploy("us-west-2", "config-west-v2", count=1)
    queue_result("us-east-1", primary_body)
    queue_result("us-west-2", GOOD_BODY)


def run(tmp_path, outputs=OUTPUTS, *extra: str) -> tuple[int, str, str]:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    out, err = io.StringIO(), io.StringIO()
    code = main(["--stack", "prod", "--outputs", str(path), *extra], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def rows(text: str) -> list[list[str]]:
    """The table's data rows, split on the two-space column gaps (DETAIL may hold single spaces)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ROLE"))
    end = lines.index("", start)
    return [[cell.strip() for cell in line.split("  ") if cell.strip()] for line in lines[start + 1 : end]]


def test_healthy_endpoints_in_two_regions_pass(aws, tmp_path):
    healthy_stack()

    code, out, err = run(tmp_path)

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "ops verify · stack prod · 2 endpoint(s)"
    assert lines[2].split() == ["ROLE", "REGION", "ENDPOINT", "CHECK", "RESULT", "DETAIL"]
    assert rows(out) == [
        ["primary", "us-east-1", "ml-platform-prod", "status", "PASS", "InService"],
        ["primary", "us-east-1", "ml-platform-prod", "endpoint config", "PASS", "config-east-v2 (as declared)"],
        ["primary", "us-east-1", "ml-platform-prod", "capacity primary", "PASS", "2 instances, within [2, 8]"],
        [
            "primary",
            "us-east-1",
            "ml-platform-prod",
            "smoke invocation",
            "PASS",
            "2 rows -> labels 0, 1 (variant primary)",
        ],
        ["secondary", "us-west-2", "ml-platform-prod", "status", "PASS", "InService"],
        ["secondary", "us-west-2", "ml-platform-prod", "endpoint config", "PASS", "config-west-v2 (as declared)"],
        ["secondary", "us-west-2", "ml-platform-prod", "capacity primary", "PASS", "1 instances, within [1, 4]"],
        [
            "secondary",
            "us-west-2",
            "ml-platform-prod",
            "smoke invocation",
            "PASS",
            "2 rows -> labels 0, 1 (variant primary)",
        ],
    ]
    assert lines[-1] == "verify: OK: 8 checks, 8 passed, 0 failed, 0 skipped"


def test_an_endpoint_left_on_another_config_fails_as_a_silent_rollback(aws, tmp_path):
    # SageMaker rolled the update back: the endpoint still runs v1 while the stack declared v2.
    deploy("us-east-1", "config-east-v1", count=2)
    deploy("us-west-2", "config-west-v2", count=1)
    queue_result("us-east-1", GOOD_BODY)
    queue_result("us-west-2", GOOD_BODY)

    code, out, _ = run(tmp_path)

    assert code == 1
    assert rows(out)[1] == [
        "primary",
        "us-east-1",
        "ml-platform-prod",
        "endpoint config",
        "FAIL",
        "serving config-east-v1, but the stack declared config-east-v2: the last update rolled back or did not apply",
    ]
    assert [row[4] for row in rows(out)] == ["PASS", "FAIL", "PASS", "PASS", "PASS", "PASS", "PASS", "PASS"]
    assert out.splitlines()[-1] == "verify: FAILED: 8 checks, 7 passed, 1 failed, 0 skipped"


def test_a_failed_endpoint_fails_and_is_not_invoked(aws, tmp_path):
    healthy_stack()
    # moto has no API that fails an endpoint; set the state SageMaker would report.
    failed = sagemaker_backends[DEFAULT_ACCOUNT_ID]["us-west-2"].endpoints["ml-platform-prod"]
    failed.endpoint_status = "Failed"
    failed.failure_reason = "The primary container for production variant primary did not pass the ping health check."

    code, out, _ = run(tmp_path)

    assert code == 1
    assert rows(out)[4:] == [
        [
            "secondary",
            "us-west-2",
            "ml-platform-prod",
            "status",
            "FAIL",
            "status is Failed, not InService: The primary container for production variant primary did not pass the"
            " ping health check.",
        ],
        ["secondary", "us-west-2", "ml-platform-prod", "endpoint config", "PASS", "config-west-v2 (as declared)"],
        ["secondary", "us-west-2", "ml-platform-prod", "capacity primary", "PASS", "1 instances, within [1, 4]"],
        ["secondary", "us-west-2", "ml-platform-prod", "smoke invocation", "SKIP", "endpoint is Failed"],
    ]
    assert out.splitlines()[-1] == "verify: FAILED: 8 checks, 6 passed, 1 failed, 1 skipped"


def test_a_malformed_smoke_response_fails(aws, tmp_path):
    # Every other malformation is named by prediction_problem's own tests below.
    body = (
        '{"classes": ["0", "1"], "predictions": [{"label": "0", "probabilities": [0.75, 0.5]},'
        ' {"label": "1", "probabilities": [0.125, 0.875]}]}'
    )
    detail = "malformed prediction: predictions[0]: probabilities sum to 1.250000, not 1"
    healthy_stack(primary_body=body)

    code, out, _ = run(tmp_path)

    assert code == 1
    assert [row[3:] for row in rows(out) if row[3] == "smoke invocation"] == [
        ["smoke invocation", "FAIL", detail],
        ["smoke invocation", "PASS", "2 rows -> labels 0, 1 (variant primary)"],
    ]
    assert out.splitlines()[-1] == "verify: FAILED: 8 checks, 7 passed, 1 failed, 0 skipped"


def test_capacity_outside_the_autoscaling_bounds_fails(aws, tmp_path):
    healthy_stack()
    boto3.client("sagemaker", region_name="us-east-1").update_endpoint_weights_and_capacities(
        EndpointName="ml-platform-prod",
        DesiredWeightsAndCapacities=[{"VariantName": "primary", "DesiredInstanceCount": 9}],
    )

    code, out, _ = run(tmp_path)

    assert code == 1
    assert rows(out)[2] == [
        "primary",
        "us-east-1",
        "ml-platform-prod",
        "capacity primary",
        "FAIL",
        "9 instances, outside [2, 8]",
    ]


def test_serverless_and_unbounded_variants_skip_the_capacity_check_and_say_why(aws, tmp_path):
    deploy("us-east-1", "config-east-v2", serverless=True)
    deploy("us-west-2", "config-west-v2", count=1)
    queue_result("us-east-1", GOOD_BODY)
    queue_result("us-west-2", GOOD_BODY)
    outputs = json.loads(json.dumps(OUTPUTS))
    outputs["endpoints"]["secondary"].update(min_capacity=None, max_capacity=None)

    code, out, _ = run(tmp_path, outputs)

    assert code == 0
    capacity = [row[3:] for row in rows(out) if row[3].startswith("capacity")]
    assert capacity == [
        ["capacity primary", "SKIP", "serverless variant: no instance count to check"],
        ["capacity primary", "SKIP", "the stack declares no autoscaling bounds for this variant"],
    ]
    assert out.splitlines()[-1] == "verify: OK: 8 checks, 6 passed, 0 failed, 2 skipped"


def test_a_missing_endpoint_fails_with_the_aws_error(aws, tmp_path):
    deploy("us-east-1", "config-east-v2", count=2)
    queue_result("us-east-1", GOOD_BODY)

    code, out, _ = run(tmp_path)

    assert code == 1
    assert rows(out)[4:] == [
        [
            "secondary",
            "us-west-2",
            "ml-platform-prod",
            "status",
            "FAIL",
            "describe_endpoint failed: ValidationException: Could not find endpoint"
            f" 'arn:aws:sagemaker:us-west-2:{DEFAULT_ACCOUNT_ID}:endpoint/ml-platform-prod'.",
        ],
        ["secondary", "us-west-2", "ml-platform-prod", "endpoint config", "SKIP", "endpoint could not be described"],
        ["secondary", "us-west-2", "ml-platform-prod", "capacity", "SKIP", "endpoint could not be described"],
        ["secondary", "us-west-2", "ml-platform-prod", "smoke invocation", "SKIP", "endpoint could not be described"],
    ]


def test_the_smoke_payload_is_two_rows_of_thirty_numbers():
    rows_ = SAMPLE_PAYLOAD.decode().splitlines()
    assert [len(row.split(",")) for row in rows_] == [30, 30]
    assert all(float(cell) >= 0 for row in rows_ for cell in row.split(","))


def test_the_servers_own_json_is_a_well_formed_prediction():
    # The contract, from the server's encoder itself: if its shape changes, this fails.
    body = Encoder(("0", "1")).encode(np.array([[0.9, 0.1], [0.3, 0.7]]), JSON)
    assert prediction_problem(body, "application/json", 2) is None


def body_with(first_prediction: object, classes: object = ("0", "1")) -> bytes:
    second = {"label": "1", "probabilities": [0.5, 0.5]}
    classes = list(classes) if isinstance(classes, tuple) else classes
    return json.dumps({"classes": classes, "predictions": [first_prediction, second]}).encode()


def test_a_response_that_is_not_json_is_named():
    assert (
        prediction_problem(b"0,0.75,0.25\n", "text/csv", 1) == "Content-Type is 'text/csv', expected application/json"
    )
    assert prediction_problem(b"{}", None, 1) == "Content-Type is None, expected application/json"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not json", "body is not JSON: b'not json'"),
        (b"[1, 2]", "body is not a JSON object: b'[1, 2]'"),
        (b'{"predictions": []}', "`classes` is not a list of class names: None"),
        (body_with({}, classes=["0", "0"]), "`classes` repeats a name: ['0', '0']"),
        (
            b'{"classes": ["0", "1"], "result": 1}',
            'body has no `predictions` list: b\'{"classes": ["0", "1"], "result": 1}\'',
        ),
        (body_with(7), "predictions[0]: not an object: 7"),
        (body_with({"label": 0, "probabilities": [1.0, 0.0]}), "predictions[0]: label is not a string: 0"),
        (
            body_with({"label": "2", "probabilities": [0.5, 0.5]}),
            "predictions[0]: label '2' is not one of the classes ['0', '1']",
        ),
        (
            body_with({"label": "0", "probabilities": {"0": 0.5, "1": 0.5}}),
            "predictions[0]: probabilities is not a list of 2 numbers, one per class: {'0': 0.5, '1': 0.5}",
        ),
        (
            body_with({"label": "0", "probabilities": [1.0]}),
            "predictions[0]: probabilities is not a list of 2 numbers, one per class: [1.0]",
        ),
        (
            body_with({"label": "0", "probabilities": [True, 0]}),
            "predictions[0]: probabilities are not all finite numbers: [True, 0]",
        ),
        (
            body_with({"label": "0", "probabilities": [1.5, -0.5]}),
            "predictions[0]: a probability lies outside [0, 1]: [1.5, -0.5]",
        ),
        (
            body_with({"label": "0", "probabilities": [0.25, 0.75]}),
            "predictions[0]: label '0' is not the most probable class",
        ),
    ],
)
def test_prediction_problems_are_named(body, problem):
    assert prediction_problem(body, "application/json; charset=utf-8", 2) == problem


def test_the_prod_programs_endpoint_exports_parse(stack):
    # The outputs verify reads are exactly what __main__.py exports (under the mock engine).
    parsed = endpoints(stack("prod").outputs)
    assert [(e.role, e.region, e.endpoint_name) for e in parsed] == [
        ("primary", "us-east-1", "ml-platform-prod"),
        ("secondary", "us-west-2", "ml-platform-prod"),
    ]
    assert all(isinstance(e.min_capacity, int) and isinstance(e.max_capacity, int) for e in parsed)


def test_no_pulumi_cli_exits_2_and_says_what_to_do(capsys):
    def no_cli():
        raise FileNotFoundError("pulumi")  # what LocalWorkspace raises when `pulumi version` cannot start

    code = main(["--stack", "prod"], workspace=no_cli)

    assert code == 2
    assert capsys.readouterr().err == (
        "error: stack prod: cannot read the outputs: the Pulumi CLI, which the Automation API runs, is not on PATH;"
        " install it (https://www.pulumi.com/docs/install/) or pass --outputs FILE (write it where the CLI is:"
        " `pulumi stack output --json --stack prod > outputs.json`)\n"
    )


def test_an_unknown_stack_exits_2_naming_it(capsys):
    class Workspace:
        def stack_outputs(self, stack):
            result = auto.CommandResult(stdout="", stderr="error: no stack named 'prod' found", code=255)
            raise create_command_error(result)

    assert main(["--stack", "prod"], workspace=Workspace) == 2
    assert capsys.readouterr().err == (
        "error: stack prod: no stack named 'prod' in the backend the Pulumi CLI is logged in to: check the name"
        " (`pulumi stack ls`) or log in to the stack's backend (`pulumi login <backend_url of the bootstrap"
        " outputs>`; `pulumi whoami --verbose` shows the current one)\n"
    )


def test_outputs_from_the_automation_api_are_used(aws, capsys):
    healthy_stack()
    calls = []

    class Workspace:
        def stack_outputs(self, stack):
            calls.append(stack)
            return {key: auto.OutputValue(value, secret=False) for key, value in OUTPUTS.items()}

    assert main(["--stack", "prod"], workspace=Workspace) == 0
    assert calls == ["prod"]
    assert capsys.readouterr().out.splitlines()[-1] == "verify: OK: 8 checks, 8 passed, 0 failed, 0 skipped"


def test_outputs_without_endpoints_exit_2_naming_the_key(tmp_path):
    code, out, err = run(tmp_path, {"regions": {"primary": "us-east-1"}})
    assert (code, out) == (2, "")
    assert err == (
        "error: stack prod: outputs: endpoints: missing (the stack declares no endpoint; deploy the serving"
        " component first; outputs present: regions)\n"
    )


def test_malformed_endpoint_outputs_list_every_problem(tmp_path):
    code, _, err = run(tmp_path, {"endpoints": {"primary": {"region": "us-east-1", "min_capacity": "two"}}})
    assert code == 2
    assert err.splitlines() == [
        "error: stack prod: outputs: endpoints.primary.endpoint_name: missing",
        "outputs: endpoints.primary.endpoint_config_name: missing",
        "outputs: endpoints.primary.variant_name: missing",
        "outputs: endpoints.primary.min_capacity: Input should be a valid integer, unable to parse string as an"
        " integer (got 'two')",
    ]


def test_an_unreadable_outputs_file_exits_2_naming_the_argument(tmp_path, capsys):
    assert main(["--stack", "prod", "--outputs", str(tmp_path / "absent.json")]) == 2
    assert capsys.readouterr().err == (
        f"error: stack prod: --outputs: cannot read {tmp_path / 'absent.json'}: No such file or directory\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "python -m ops.verify: error: the following arguments are required: --stack"),
        (["--stack", " "], "python -m ops.verify: error: argument --stack: must be a stack name such as dev or prod"),
        (["--stack", "prod", "--region", "x"], "python -m ops.verify: error: unrecognized arguments: --region x"),
    ],
)
def test_bad_arguments_exit_2_naming_the_argument(capsys, argv, message):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
