"""ml-platform: one `pulumi up` per environment, declared from typed stack config.

Validate the config, make one explicit AWS provider per region, build the components in
each region, export what operators need. Everything else lives in `components/`.
"""

import pulumi
import pulumi_aws as aws

from components.config import PROJECT, load_stack_config
from components.keys import RegionKey, RegionKeyArgs

config = load_stack_config()
stack = pulumi.get_stack()

# One explicit provider per region; nothing uses the default provider.
providers = {
    role: aws.Provider(
        f"aws-{role}",
        region=region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=config.default_tags()),
        allowed_account_ids=[config.account_id] if config.account_id else None,
    )
    for role, region in config.regions.by_role().items()
}
primary = pulumi.InvokeOutputOptions(provider=providers["primary"])
identity = aws.get_caller_identity_output(opts=primary)
partition = aws.get_partition_output(opts=primary)

keys = {
    role: RegionKey(
        f"key-{role}",
        RegionKeyArgs(
            alias_name=f"alias/{PROJECT}-{stack}",
            account_id=identity.account_id,
            partition=partition.partition,
            protect=config.protect_stateful,
        ),
        opts=pulumi.ResourceOptions(provider=provider),
    )
    for role, provider in providers.items()
}

pulumi.export("environment", config.environment)
pulumi.export("regions", config.regions.by_role())
pulumi.export("kms_key_arns", {role: key.arn for role, key in keys.items()})
