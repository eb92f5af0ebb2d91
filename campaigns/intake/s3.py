"""A watched prefix of an S3-compatible bucket, through boto3 (its standard configuration:
the credentials chain, ``AWS_ENDPOINT_URL``/``AWS_ENDPOINT_URL_S3``, the region; the client
is campaigns.sources.s3's, with Settings' timeouts).

Objects appear whole, so nothing settles here. A listing walks the prefix one level at a
time (``Delimiter='/'``), so the result folders, however full, cost no listing request.
A move is a copy then a delete: cut between the two, the next call finishes it.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from campaigns.intake.locations import RESULT_FOLDERS, Entry, Listing, LocationError

_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


class S3Prefix:
    settles = False

    def __init__(self, bucket: str, prefix: str, settings=None):
        self.bucket = bucket
        self.prefix = prefix
        self.location = f"s3://{bucket}/{prefix}"
        self._settings = settings
        self._client = None

    def __repr__(self) -> str:
        return f"S3Prefix({self.location!r})"

    @property
    def client(self):
        if self._client is None:
            from campaigns.settings import Settings
            from campaigns.sources.s3 import make_client

            self._client = make_client(self._settings or Settings())
        return self._client

    def _key(self, path: str) -> str:
        return self.prefix + path

    def list(self) -> Listing:
        listing = Listing()
        with self._translated("list"):
            self._walk(self.prefix, listing)
        return listing

    def _walk(self, prefix: str, listing: Listing) -> None:
        folders = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
            listing.calls += 1
            for item in page.get("Contents", ()):
                key = item["Key"]
                if key.endswith("/"):  # a "folder" placeholder
                    continue
                modified = item["LastModified"]
                listing.entries.append(Entry(
                    path=key[len(self.prefix):], size=int(item["Size"]), changed=modified.timestamp(),
                    identity=f"{str(item.get('ETag', '')).strip(chr(34))}:{modified.isoformat()}"))
            for common in page.get("CommonPrefixes", ()):
                sub = common["Prefix"]
                name = sub[len(prefix):].rstrip("/")
                if name.startswith(".") or (prefix == self.prefix and name in RESULT_FOLDERS):
                    continue
                folders.append(sub)
        for sub in folders:
            self._walk(sub, listing)

    def stat(self, path: str) -> Entry | None:
        head = self._head(path)
        if head is None:
            return None
        modified = head["LastModified"]
        return Entry(path=path, size=int(head["ContentLength"]), changed=modified.timestamp(),
                     identity=f"{str(head.get('ETag', '')).strip(chr(34))}:{modified.isoformat()}")

    def _head(self, path: str) -> dict | None:
        from botocore.exceptions import ClientError

        with self._translated(path):
            try:
                return self.client.head_object(Bucket=self.bucket, Key=self._key(path))
            except ClientError as exc:
                if str(exc.response.get("Error", {}).get("Code")) in _MISSING:
                    return None
                raise

    def read(self, path: str, limit: int) -> bytes:
        with self._translated(path):
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(path))["Body"]
            try:
                data = body.read(limit + 1)
            finally:
                body.close()
        if len(data) > limit:
            raise LocationError(f"{path}: more than {limit // 1024} KiB")
        return data

    @contextmanager
    def fetch(self, path: str, settings, workdir: Path) -> Iterator[Path]:
        """The object downloaded into ``workdir`` under its own name (so messages about the
        file name it as its owner does), removed after the block."""
        from campaigns.sources import SourceError, fetch_source
        from campaigns.sources.spool import remove_spooled, spool_path

        try:
            with fetch_source(f"s3://{self.bucket}/{self._key(path)}", settings, workdir=workdir) as fetched:
                local = spool_path(Path(workdir), fetched.name)
                os.replace(fetched.path, local)
        except SourceError as exc:
            raise LocationError(str(exc), temporary=exc.temporary) from None
        try:
            yield local
        finally:
            remove_spooled(local)

    def exists(self, path: str) -> bool:
        return self._head(path) is not None

    def write(self, path: str, data: bytes) -> None:
        with self._translated(path):
            self.client.put_object(Bucket=self.bucket, Key=self._key(path), Body=data)

    def put_file(self, path: str, local: Path) -> None:
        with self._translated(path):
            self.client.upload_file(str(local), self.bucket, self._key(path))

    def move(self, src: str, dst: str) -> bool:
        if self._head(src) is None:
            return self.exists(dst)
        with self._translated(src):
            self.client.copy_object(Bucket=self.bucket, Key=self._key(dst),
                                    CopySource={"Bucket": self.bucket, "Key": self._key(src)})
            self.client.delete_object(Bucket=self.bucket, Key=self._key(src))
        return True

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        """botocore's errors as LocationError (temporary for the network, throttling, 5xx)."""
        from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, NoCredentialsError

        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            temporary = status >= 500 or status == 429 or code in ("SlowDown", "Throttling", "RequestTimeout")
            if code == "NoSuchBucket":
                reason = f"bucket {self.bucket!r} not found"
            elif code in _MISSING:
                reason = f"{what}: no such object"
            elif status in (401, 403):
                reason = f"access denied by S3 ({code or status})"
            else:
                reason = f"S3 refused the request ({code or status})"
            raise LocationError(f"{self.location}: {reason}", temporary=temporary) from None
        except NoCredentialsError:
            raise LocationError(f"{self.location}: no AWS credentials found") from None
        except (ConnectionError, BotoCoreError) as exc:
            raise LocationError(f"{self.location}: S3 unreachable ({type(exc).__name__})", temporary=True) from None
