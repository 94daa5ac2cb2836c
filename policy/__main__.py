"""The ml-platform CrossGuard policy pack: `pulumi preview --policy-pack policy`.

This file only builds the pack. The rules are plain functions in `policies.py` (the offline
`make plan` runs the same ones); `crossguard.py` wraps them into policies. The CLI runs this
directory with it on `sys.path`, and the pack's environment needs only `requirements.txt`.
"""

from crossguard import pack_policies
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name="ml-platform",
    description="ml-platform guardrails: encryption, least privilege, safe serving, backup, protection, tags.",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=pack_policies(),
)
