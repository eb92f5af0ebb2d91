"""A recipient file in S3 or an S3-compatible store (MinIO, Ceph, …), through boto3.

``s3://bucket/key`` names one object; ``s3://bucket/prefix/`` (ending with ``/``, or
``s3://bucket`` for the whole bucket) names the newest object under the prefix by
LastModified, ties going to the greatest key. Skipped under a prefix: "folder"
placeholders (keys ending in ``/``) and hidden or unfinished uploads, where any part of
the key below the prefix starts with ``.`` or ``~$`` or ends with ``.part``, ``.tmp``
or ``.crdownload``.

boto3's standard configuration applies, read when the client is made (in the call,
never at import): the credentials chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
``AWS_PROFILE``, instance and container roles), the endpoint (``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_S3``), the region (``AWS_DEFAULT_REGION``, ``AWS_REGION``, the config
file) and retries (``AWS_MAX_ATTEMPTS``, ``AWS_RETRY_MODE``). Only the timeouts come
from Settings (``http_connect_timeout``, ``http_timeout``).
"""

from __future__ import annotations

import errno
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from campaigns.sources.errors import SourceError

_HIDDEN_PREFIXES = (".", "~$")
_UNFINISHED_SUFFIXES = (".part", ".tmp", ".crdownload")
_DENIED = frozenset({
    "AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch",
    "InvalidToken", "ExpiredToken", "AccountProblem", "403", "401", "Forbidden",
})
_MISSING_BUCKET = frozenset({"NoSuchBucket"})
_MISSING_KEY = frozenset({"NoSuchKey", "404", "NotFound"})
_TEMPORARY = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
    "InternalError", "ServiceUnavailable", "503", "500", "502", "504",
})


def is_candidate(key: str, prefix: str) -> bool:
    """Whether ``key`` found under ``prefix`` may be the file to read: not a folder
    placeholder, no hidden or unfinished part below the prefix."""
    if key.endswith("/"):
        return False
    for part in key[len(prefix):].split("/"):
        if part.startswith(_HIDDEN_PREFIXES) or part.lower().endswith(_UNFINISHED_SUFFIXES):
            return False
    return True


def make_client(settings):
    """A new S3 client from boto3's standard configuration, with Settings' timeouts."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=settings.http_connect_timeout, read_timeout=settings.http_timeout)
    return boto3.session.Session().client("s3", config=config)


def resolve_key(client, bucket: str, key: str, shown: str) -> tuple[str, int]:
    """The object to read and its size: ``key`` itself, or the newest candidate under
    ``key`` when it is a prefix (empty or ending with ``/``).

    Raises SourceError for a missing bucket, key or object under the prefix, a refused
    access, and (temporary) network and server failures.
    """
    with _translated(client, bucket, key, shown):
        if key and not key.endswith("/"):
            head = client.head_object(Bucket=bucket, Key=key)
            return key, int(head["ContentLength"])
        newest: tuple[Any, str, int] | None = None
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
            for item in page.get("Contents", ()):
                if not is_candidate(item["Key"], key):
                    continue
                found = (item["LastModified"], item["Key"], int(item["Size"]))
                if newest is None or found[:2] > newest[:2]:
                    newest = found
        if newest is None:
            where = f"under the prefix {key!r}" if key else "in the bucket"
            raise SourceError(shown, f"no file {where} (hidden, temporary and folder names are skipped)")
        return newest[1], newest[2]


def download(client, bucket: str, key: str, dest: Path, shown: str) -> None:
    """Stream the object ``bucket``/``key`` into the file ``dest`` (boto3's managed
    transfer: ranged parts written to disk, never the whole object in memory).

    Raises SourceError as ``resolve_key`` does, and for a file that cannot be written
    (temporary when the disk is full).
    """
    with _translated(client, bucket, key, shown):
        try:
            client.download_file(bucket, key, str(dest))
        except OSError as exc:
            if exc.errno is None:
                raise
            raise SourceError(
                shown, f"cannot write the download into the work folder: {exc.strerror}",
                temporary=exc.errno == errno.ENOSPC,
            ) from None


@contextmanager
def _translated(client, bucket: str, key: str, shown: str) -> Iterator[None]:
    """Turns botocore's and s3transfer's errors into SourceError (the one place they are read)."""
    try:
        yield
    except SourceError:
        raise
    except Exception as exc:  # noqa: BLE001 - translated below, or raised again unchanged
        error = _translate(exc, client, bucket, key, shown)
        if error is None:
            raise
        raise error from None


def _translate(exc: Exception, client, bucket: str, key: str, shown: str) -> SourceError | None:
    from boto3.exceptions import RetriesExceededError, S3TransferFailedError
    from botocore import exceptions as boto

    if isinstance(exc, boto.ClientError):
        return _client_error(exc, client, bucket, key, shown)
    if isinstance(exc, boto.NoCredentialsError | boto.PartialCredentialsError):
        return SourceError(
            shown, "no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or AWS_PROFILE, or run with a role)",
        )
    if isinstance(exc, boto.ConnectTimeoutError | boto.ReadTimeoutError):
        return SourceError(shown, "S3 timed out; temporary, try again later", temporary=True)
    network = boto.ConnectionError | boto.HTTPClientError | RetriesExceededError | S3TransferFailedError
    if isinstance(exc, network):
        return SourceError(
            shown, f"network failure talking to S3 ({type(exc).__name__}); temporary, try again later",
            temporary=True,
        )
    if isinstance(exc, boto.BotoCoreError):  # configuration: a bad profile, a bad endpoint, …
        return SourceError(shown, f"S3 is not usable: {exc}")
    return None


def _client_error(exc, client, bucket: str, key: str, shown: str) -> SourceError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code in _MISSING_BUCKET:
        return SourceError(shown, f"bucket {bucket!r} not found")
    if code in _MISSING_KEY or status == 404:
        # HEAD has no body: a 404 may be the bucket's; one more request tells which
        if _bucket_missing(client, bucket):
            return SourceError(shown, f"bucket {bucket!r} not found")
        return SourceError(shown, f"no object {key!r} in bucket {bucket!r}")
    if code in _DENIED or status in (401, 403):
        return SourceError(shown, f"access denied by S3 ({code or status})")
    if code in _TEMPORARY or status >= 500 or status == 429:
        return SourceError(shown, f"S3 failed ({code or status}); temporary, try again later", temporary=True)
    return SourceError(shown, f"S3 refused the request ({code or status}: {error.get('Message', '')})")


def _bucket_missing(client, bucket: str) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        return str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchBucket")
    except BotoCoreError:
        return False
    return False
