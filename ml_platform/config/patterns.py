"""Formats several sections share, and the words the error renderer uses for them."""

from __future__ import annotations

# AWS tag values: letters, digits, spaces and `_ . : / = + - @`, up to 256 characters.
TAG_VALUE_PATTERN = r"^[\w .:/=+\-@]+$"
DATASET_PREFIX_PATTERN = r"^[a-z0-9]([a-z0-9._/-]*[a-z0-9])?$"
DATASET_VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
ACCOUNT_ID_PATTERN = r"^\d{12}$"
# CloudWatch namespaces: 1-255 of these characters, not starting with `:` (PutMetricData,
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html).
METRICS_NAMESPACE_PATTERN = r"^[0-9A-Za-z.\-_/#][0-9A-Za-z.\-_/#:]{0,254}$"

# Human wording for the formats fields are held to.
PATTERN_HINTS = {
    DATASET_PREFIX_PATTERN: "a relative S3 key prefix: lowercase letters, digits and . _ / -, no leading or trailing /",
    DATASET_VERSION_PATTERN: "letters, digits and . _ - (a single path segment)",
    TAG_VALUE_PATTERN: "letters, digits, spaces and _ . : / = + - @",
    ACCOUNT_ID_PATTERN: "a 12-digit AWS account id",
    METRICS_NAMESPACE_PATTERN: "1-255 letters, digits and . - _ / # :, not starting with :",
}
