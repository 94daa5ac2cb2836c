"""Grants for the front door: API Gateway, ACM certificates, Route 53, WAF.

Rows of the table in `grants.py`; see its docstring for what each field means.
"""

from __future__ import annotations

from grants_base import Grant

API_GATEWAY = Grant(
    "ApiGateway",
    "front-door",
    manage=("apigateway:POST", "apigateway:PUT", "apigateway:PATCH", "apigateway:DELETE", "apigateway:SetWebACL"),
    read=("apigateway:GET",),
    arns=(
        "arn:{partition}:apigateway:{region}::/restapis",
        "arn:{partition}:apigateway:{region}::/restapis/*",
        "arn:{partition}:apigateway:{region}::/domainnames",
        "arn:{partition}:apigateway:{region}::/domainnames/*",
        "arn:{partition}:apigateway:{region}::/account",
        "arn:{partition}:apigateway:{region}::/tags/*",
    ),
    passes_role_to="apigateway.amazonaws.com",
)


CERTIFICATES = Grant(
    "Certificates",
    "front-door",
    manage=("acm:DeleteCertificate", "acm:AddTagsToCertificate", "acm:RemoveTagsFromCertificate"),
    read=("acm:DescribeCertificate", "acm:ListTagsForCertificate"),
    arns=("arn:{partition}:acm:{region}:{account}:certificate/*",),
    unscoped=("acm:RequestCertificate",),
)


DNS = Grant(
    "Dns",
    "front-door",
    manage=(
        "route53:ChangeResourceRecordSets",
        "route53:UpdateHealthCheck",
        "route53:DeleteHealthCheck",
        "route53:ChangeTagsForResource",
    ),
    read=(
        "route53:GetHostedZone",
        "route53:ListResourceRecordSets",
        "route53:GetHealthCheck",
        "route53:ListTagsForResource",
        "route53:GetChange",
    ),
    arns=(
        "arn:{partition}:route53:::hostedzone/*",
        "arn:{partition}:route53:::healthcheck/*",
        "arn:{partition}:route53:::change/*",
    ),
    unscoped=("route53:CreateHealthCheck",),
)


WEB_ACLS = Grant(
    "WebAcls",
    "front-door",
    manage=(
        "wafv2:CreateWebACL",
        "wafv2:UpdateWebACL",
        "wafv2:DeleteWebACL",
        "wafv2:AssociateWebACL",
        "wafv2:DisassociateWebACL",
        "wafv2:TagResource",
        "wafv2:UntagResource",
    ),
    read=("wafv2:GetWebACL", "wafv2:GetWebACLForResource", "wafv2:ListTagsForResource"),
    arns=(
        "arn:{partition}:wafv2:{region}:{account}:regional/webacl/*/*",
        "arn:{partition}:wafv2:{region}:{account}:regional/managedruleset/*/*",
        "arn:{partition}:apigateway:{region}::/restapis/*/stages/*",
    ),
)
