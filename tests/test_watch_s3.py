"""The watched bucket on S3, against a real S3-compatible server on localhost (moto's
standalone server): no boto3 call is mocked. Scans and drop steps run in this process."""

from __future__ import annotations

import csv
import io
import json

import pytest

from campaigns.intake.locations import LocationError, watched
from campaigns.intake.s3 import S3Prefix
from campaigns.settings import Settings
from tests.s3 import aws_env, bucket, moto_endpoint  # noqa: F401 (fixtures)
from tests.watch_helpers import Harness, phones_rows


@pytest.fixture
def make(bucket, db_url, engine, tmp_path):
    name, _ = bucket

    def make(prefix: str = "drops/", **changes) -> Harness:
        settings = Settings().with_(database_url=db_url, data_dir=str(tmp_path / "data"),
                                    watch=(f"s3://{name}/{prefix}",), **changes)
        return Harness(settings, engine, watched(settings))
    return make


def csv_body(count: int, first: int = 0) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["phone", "name"])
    writer.writerows(phones_rows(count, first))
    return out.getvalue().encode()


def keys(client, bucket: str, prefix: str = "") -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))


def test_drops_under_a_prefix_become_campaigns_with_their_results_beside_them(bucket, make):
    name, client = bucket
    # Given drops under the prefix (one in a sub-folder with the folder's settings), and a
    # file outside the prefix
    client.put_object(Bucket=name, Key="drops/promo.csv", Body=csv_body(5))
    client.put_object(Bucket=name, Key="drops/promo.json", Body=json.dumps({"text": "Hi {name}"}).encode())
    client.put_object(Bucket=name, Key="drops/team/Март акция.csv", Body=csv_body(3, first=100))
    client.put_object(Bucket=name, Key="drops/team/_campaign.json", Body=b'{"text": "Hello", "country": "KZ"}')
    client.put_object(Bucket=name, Key="drops/team/.hidden.csv", Body=csv_body(2))
    client.put_object(Bucket=name, Key="elsewhere/other.csv", Body=csv_body(2))
    client.put_object(Bucket=name, Key="elsewhere/other.json", Body=b'{"text": "No"}')
    watcher = make()
    # When the prefix is scanned (objects appear whole: nothing to settle)
    (scan,) = watcher.round()
    # Then both drops are campaigns, moved (copy, then delete) into processed/ with results
    assert len(scan.claimed) == 2 and watcher.campaigns() == 2
    assert keys(client, name, "drops/") == [
        "drops/processed/promo.csv", "drops/processed/promo.json", "drops/processed/promo.result.json",
        "drops/processed/team/Март акция.csv", "drops/processed/team/Март акция.result.json",
        "drops/team/.hidden.csv", "drops/team/_campaign.json",
    ]
    result = json.loads(client.get_object(Bucket=name, Key="drops/processed/promo.result.json")["Body"].read())
    assert result["state"] == "queued" and result["recipients"]["valid"] == 5
    assert result["location"] == f"s3://{name}/drops/"
    assert keys(client, name, "elsewhere/") == ["elsewhere/other.csv", "elsewhere/other.json"]


def test_a_refused_drop_goes_to_rejected_with_its_reason(bucket, make):
    name, client = bucket
    client.put_object(Bucket=name, Key="drops/bad.csv", Body=csv_body(3))
    client.put_object(Bucket=name, Key="drops/bad.json", Body=b'{"text": "Hi", "mclass": 7}')
    watcher = make()
    watcher.round()
    assert [d.state for d in watcher.drops()] == ["rejected"] and watcher.campaigns() == 0
    assert keys(client, name) == ["drops/rejected/bad.csv", "drops/rejected/bad.error.txt", "drops/rejected/bad.json"]
    error = client.get_object(Bucket=name, Key="drops/rejected/bad.error.txt")["Body"].read().decode()
    assert error.startswith("bad.json: mclass: Input should be 0 or 1")


class _CutAfterCopy(S3Prefix):
    """The bucket as it is, except that a move stops after its copy, as a process killed
    between the copy and the delete would."""

    def move(self, src: str, dst: str) -> bool:
        if self._head(src) is None:
            return self.exists(dst)
        self.client.copy_object(Bucket=self.bucket, Key=self._key(dst),
                                CopySource={"Bucket": self.bucket, "Key": self._key(src)})
        raise LocationError(f"{self.location}: cut between the copy and the delete", temporary=True)


def test_a_move_cut_between_copy_and_delete_is_finished_by_the_next_scan(bucket, make):
    name, client = bucket
    client.put_object(Bucket=name, Key="drops/cut.csv", Body=csv_body(4))
    client.put_object(Bucket=name, Key="drops/cut.json", Body=b'{"text": "Hi"}')
    watcher = make()
    # Given a drop taken, whose move into processed/ stopped after the copy
    (scan,) = watcher.scan()
    (drop_id,) = scan.claimed
    assert watcher.step(drop_id, storage=_CutAfterCopy(name, "drops/")) == [
        type(scan.steps[0])("drop", drop_id, watcher.settings.watch_seconds)]
    (drop,) = watcher.drops()
    assert drop.state == "created" and drop.campaign_id is not None
    assert "drops/processed/cut.json" in keys(client, name) and "drops/cut.json" in keys(client, name)
    # When the next scan comes
    watcher.round()
    # Then the move is finished, the campaign is the same one, the drop is not taken twice
    (after,) = watcher.drops()
    assert (after.state, after.campaign_id) == ("processed", drop.campaign_id) and watcher.campaigns() == 1
    assert keys(client, name) == ["drops/processed/cut.csv", "drops/processed/cut.json",
                                  "drops/processed/cut.result.json"]


def test_the_result_folders_cost_no_listing_request(bucket, make):
    name, client = bucket
    for i in range(30):
        client.put_object(Bucket=name, Key=f"drops/processed/old{i}.csv", Body=b"x")
        client.put_object(Bucket=name, Key=f"drops/rejected/sub/old{i}.csv", Body=b"x")
    client.put_object(Bucket=name, Key="drops/new/waiting.csv", Body=csv_body(2))
    (scan,) = make().scan()
    assert (scan.listed, scan.calls) == (1, 2)  # the prefix, then new/


def test_an_unreachable_bucket_is_reported_and_the_other_locations_go_on(aws_env, make, tmp_path):
    watcher = make()
    watcher.settings = watcher.settings.with_(watch=("s3://no-such-bucket-here/", tmp_path.as_uri()))
    watcher.storages = watched(watcher.settings)
    first, second = watcher.scan()
    assert first.error == "s3://no-such-bucket-here/: bucket 'no-such-bucket-here' not found"
    assert second.error is None


def test_an_object_over_the_size_limit_is_rejected_saying_so(bucket, make):
    name, client = bucket
    client.put_object(Bucket=name, Key="drops/huge.csv", Body=csv_body(200))
    client.put_object(Bucket=name, Key="drops/huge.json", Body=b'{"text": "Hi"}')
    watcher = make(max_file_bytes=1024)
    watcher.round()
    assert [d.state for d in watcher.drops()] == ["rejected"] and watcher.campaigns() == 0
    error = client.get_object(Bucket=name, Key="drops/rejected/huge.error.txt")["Body"].read().decode()
    assert error.startswith(f"s3://{name}/drops/huge.csv: the file is ") and "CAMPAIGNS_MAX_FILE_BYTES" in error
