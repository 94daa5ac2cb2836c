"""What the `ops.models` tests share: the stack outputs they run against and the command runner."""

from __future__ import annotations

import io

from ops.models import main
from tests.registry_fixtures import GROUP, REGION

SECONDARY = "us-west-2"
SECONDARY_BUCKET = "ml-platform-prod-artifacts-west"
PIPELINE = "ml-platform-prod-model-build"
OUTPUTS = {
    "regions": {"primary": REGION, "secondary": SECONDARY},
    "model_package_group": GROUP,
    "pipelines": {"retraining": PIPELINE, "monitoring": "ml-platform-prod-monitoring"},
    "endpoints": {
        "primary": {
            "region": REGION,
            "endpoint_name": "ml-platform-prod",
            "endpoint_config_name": "config-east",
            "variant_name": "primary",
        },
        "secondary": {
            "region": SECONDARY,
            "endpoint_name": "ml-platform-prod",
            "endpoint_config_name": "config-west",
            "variant_name": "primary",
        },
    },
}


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err, commit=lambda: "0123abcd" * 5)
    return code, out.getvalue(), err.getvalue()
