"""The boundary to AWS: boto3 clients from a Config, botocore errors mapped into dynashift's tree,
and retries with exponential backoff and full jitter.

Credentials come only from boto3's standard chain (environment, shared config and credentials
files with `--profile`, SSO, assumed roles, container and instance roles); boto3 refreshes
temporary STS credentials by itself, so a long continuous run outlives any one session token.
Nothing here logs or formats a credential: messages name the operation, resource and error code.

Botocore's own retries are switched off (`total_max_attempts=1`) so that one policy, `call`,
decides what is retried and for how long; above this module nothing catches a botocore type.
ref: https://docs.aws.amazon.com/general/latest/gr/api-retries.html (backoff with jitter)
"""

from __future__ import annotations

import random
import time
from typing import Any, Callable, TypeVar

from .config import Config
from .errors import ConfigError, SourceError

T = TypeVar("T")

# Error codes worth waiting for: the request was fine, the service was busy or briefly broken.
_THROTTLED = {
    "ProvisionedThroughputExceededException", "ThrottlingException", "Throttling", "LimitExceededException",
    "KMSThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "SlowDown",
    "RequestThrottled", "RequestThrottledException",
}
_TRANSIENT = {"InternalFailure", "InternalServerError", "InternalFailureException", "ServiceUnavailable",
              "ServiceUnavailableException", "InternalServiceError", "KMSInternalException"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "KMSAccessDeniedException",
           "KMSDisabledException", "KMSNotFoundException", "KMSInvalidStateException"}
_BAD_CREDENTIALS = {"UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException",
                    "ExpiredToken", "InvalidClientTokenId", "IncompleteSignature", "MissingAuthenticationToken"}


class AwsError(SourceError):
    """A failed AWS call, with the service's error code. `retryable` errors are retried by `call`."""

    retryable = False

    def __init__(self, message: str, code: str = ""):
        super().__init__(message)
        self.code = code


class Throttled(AwsError):
    retryable = True


class Unavailable(AwsError):
    """A 5xx answer, a timeout or a dropped connection."""

    retryable = True


class ExpiredIterator(AwsError):
    """A shard iterator older than five minutes: get a new one from the last position read."""


class TrimmedData(AwsError):
    """DynamoDB Streams: the requested sequence number is older than the trim horizon."""


class NotFound(AwsError):
    pass


# ---------------------------------------------------------------- clients


def client(config: Config, service: str) -> Any:
    """A boto3 client for `service` from the config's endpoint, region and profile.

    Clients are thread-safe; one is shared by all shard readers (the pool is sized for them).
    boto3 is imported here, not with this module: a run that never talks to AWS (files, an export
    on disk) does not hold it (~13 MiB of its peak RSS)."""
    import boto3  # noqa: PLC0415
    import botocore.config  # noqa: PLC0415
    import botocore.exceptions as bx  # noqa: PLC0415

    try:
        session = boto3.Session(profile_name=config.profile, region_name=config.region)
    except bx.ProfileNotFound:
        raise ConfigError(f"AWS profile {config.profile!r} is not configured (check ~/.aws/config or --profile)") from None
    settings = botocore.config.Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=10,
        read_timeout=70,  # a GetRecords may take a few seconds; stay above the service's own limits
        max_pool_connections=64,
        user_agent_extra="dynashift",
    )
    try:
        return session.client(service, endpoint_url=config.endpoint_url, config=settings)
    except bx.NoRegionError:
        raise ConfigError("no AWS region: pass --region, set `region` in dynashift.toml, or set AWS_REGION") from None
    except ValueError as exc:  # a malformed endpoint URL
        raise ConfigError(f"bad AWS endpoint {config.endpoint_url!r}: {exc}") from None


def map_error(exc: BaseException, what: str) -> BaseException:
    """A botocore exception -> the dynashift error that says what to fix (or retry)."""
    import botocore.exceptions as bx  # noqa: PLC0415 (loaded already where such an error can arise)

    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        text = " ".join(str(err.get("Message", "")).split())[:200]  # a proxy's 5xx may be a whole HTML page
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        detail = f"{code}: {text}" if text else code
        if code in _THROTTLED:
            return Throttled(f"{what}: throttled ({detail})", code)
        if code in _TRANSIENT or status >= 500:
            return Unavailable(f"{what}: service error ({detail})", code)
        if code == "ExpiredIteratorException":
            return ExpiredIterator(f"{what}: shard iterator expired", code)
        if code == "TrimmedDataAccessException":
            return TrimmedData(f"{what}: data older than the trim horizon", code)
        if code == "ResourceNotFoundException":
            return NotFound(f"{what}: not found ({text or code})", code)
        if code in _DENIED:
            return AwsError(f"{what}: access denied ({detail}); grant this permission to the credentials in use", code)
        if code in _BAD_CREDENTIALS:
            return AwsError(f"{what}: AWS rejected the credentials ({code}); check the profile, role or environment", code)
        return AwsError(f"{what}: {detail}", code)
    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return ConfigError("no AWS credentials found: use a profile (--profile), environment variables, SSO or a role")
    if isinstance(exc, bx.CredentialRetrievalError):
        return AwsError(f"{what}: could not obtain AWS credentials ({type(exc).__name__})")
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectionClosedError, bx.ReadTimeoutError,
                        bx.ConnectTimeoutError, bx.ConnectionError, bx.HTTPClientError)):
        where = getattr(exc, "kwargs", {}).get("endpoint_url") or "the AWS endpoint"
        return Unavailable(f"{what}: cannot reach {where} ({type(exc).__name__}); check the network, region and --endpoint-url")
    if isinstance(exc, bx.ParamValidationError):
        return ConfigError(f"{what}: {exc}".replace("\n", " "))
    if isinstance(exc, bx.BotoCoreError):
        return AwsError(f"{what}: {exc}")
    return exc


def call(fn: Callable[..., T], what: str, *, attempts: int = 10, base: float = 0.1, cap: float = 5.0,
         **kwargs: Any) -> T:
    """`fn(**kwargs)` with botocore errors mapped; throttling and transient failures are retried
    up to `attempts` times with full-jitter exponential backoff (about half a minute in all)."""
    import botocore.exceptions as bx  # noqa: PLC0415

    for attempt in range(attempts):
        try:
            return fn(**kwargs)
        except (bx.BotoCoreError, bx.ClientError) as exc:
            mapped = map_error(exc, what)
            if not (isinstance(mapped, AwsError) and mapped.retryable) or attempt == attempts - 1:
                raise mapped from None
        time.sleep(random.uniform(0, min(cap, base * 2 ** attempt)))
    raise AssertionError("unreachable")  # pragma: no cover


__all__ = ["AwsError", "ExpiredIterator", "NotFound", "Throttled", "TrimmedData", "Unavailable", "call",
           "client", "map_error"]
