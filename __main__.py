"""ml-platform: one `pulumi up` per environment, declared from typed stack config.

Validate the config, make one explicit AWS provider per region, build the stack
(`ml_platform/platform.py` wires the components region by region), export its outputs.
"""

import pulumi
import pulumi_aws as aws

from ml_platform.config import load_stack_config, project_name
from ml_platform.platform import build

config = load_stack_config()

# One explicit provider per region; the default provider is disabled in Pulumi.yaml.
providers = {
    role: aws.Provider(
        f"aws-{role}",
        region=region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=config.default_tags(project_name())),
        allowed_account_ids=[config.account_id] if config.account_id else None,
    )
    for role, region in config.regions.by_role().items()
}

for name, value in build(config, pulumi.get_stack(), providers).items():
    pulumi.export(name, value)
