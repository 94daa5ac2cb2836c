"""Client-side region failover for callers of the platform's endpoints: the stable API.

    from failover_client import FailoverClient, FrontDoorClient, Timeouts

Everything a caller needs is exported here; `failover_client.client` holds the implementation,
`failover_client.stack_outputs` the checks of the stack outputs it is built from, and names not
listed in `__all__` may change between releases. The package imports nothing else of this
repository (only boto3, botocore, pydantic and, for SigV4A, awscrt), so callers can vendor it.
"""

from failover_client.client import (
    AllRegionsFailedError,
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    FailoverClient,
    FrontDoorClient,
    InvokeResult,
    RegionEndpoint,
    RequestRejectedError,
    RetryPolicy,
    Timeouts,
    describe_error,
    front_door_client_factory,
    front_door_targets,
    is_retryable,
    runtime_client,
    sigv4a_signer,
)
from failover_client.stack_outputs import OutputsError

__all__ = [
    "AllRegionsFailedError",
    "BreakerPolicy",
    "BreakerState",
    "CircuitBreaker",
    "FailoverClient",
    "FrontDoorClient",
    "InvokeResult",
    "OutputsError",
    "RegionEndpoint",
    "RequestRejectedError",
    "RetryPolicy",
    "Timeouts",
    "describe_error",
    "front_door_client_factory",
    "front_door_targets",
    "is_retryable",
    "runtime_client",
    "sigv4a_signer",
]
