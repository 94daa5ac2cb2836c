"""`image`: the one container image, by digest."""

from __future__ import annotations

import re

from pydantic import Field, model_validator

from ml_platform.config.rules import Section, fail

DIGEST_URI = re.compile(r"^(?P<repository>[a-z0-9][a-z0-9._/:-]*[a-z0-9])@sha256:[0-9a-f]{64}$")


class ImageConfig(Section):
    """Where the one container image comes from. Everything downstream uses it by digest."""

    build: bool = Field(
        default=False,
        description=(
            "Build and push `model_code/` with docker-build during `pulumi up` (needs a Docker engine where "
            "`pulumi up` runs)."
        ),
    )
    uri: str | None = Field(
        default=None,
        description="A digest-pinned image, `<registry>/<repository>@sha256:<64 hex>`; the deploy workflow sets it "
        "to the digest it pushed (`pulumi config set --path image.uri`).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ImageConfig:
        if self.build and self.uri is not None:
            fail("set either build or uri, not both", self.uri, "no uri when build is true", at="uri")
        if not self.build and self.uri is None:
            fail("required when build is false", None, "a digest-pinned image URI, or build: true", at="uri")
        if self.uri is not None and not DIGEST_URI.match(self.uri):
            fail(
                "must be pinned by digest; tags are mutable",
                self.uri,
                "<registry>/<repository>@sha256:<64 lowercase hex>",
                at="uri",
            )
        return self


# ---------------------------------------------------------------------------------------------
# Managed spot training
