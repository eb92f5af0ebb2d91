"""The watched bucket's pure rules: what in a listing is a drop, waiting, a lone manifest
or ignored; the manifests' settings and their errors; CAMPAIGNS_WATCH parsed."""

from __future__ import annotations

import pytest

from campaigns.intake.listing import sort_listing, stem_of
from campaigns.intake.locations import Entry, LocationError, parse_location, watched
from campaigns.intake.manifest import ManifestError, drop_settings
from campaigns.settings import Settings

NOW = 1_000_000.0


def entry(path: str, age: float = 60.0, size: int = 10) -> Entry:
    return Entry(path=path, size=size, changed=NOW - age, identity=f"{size}:{age}")


def sort(*entries: Entry, settle: float = 5.0, orphan_after: float = 900.0):
    return sort_listing(list(entries), now=NOW, settle=settle, orphan_after=orphan_after)


def test_a_file_with_its_manifest_or_folder_settings_is_ready_once_all_of_them_settled():
    found = sort(entry("promo.csv"), entry("promo.json"), entry("team/a.xlsx"), entry("team/_campaign.json"),
                 entry("team/b.ods", age=1.0), entry("c.TXT"), entry("c.json", age=2.0))
    assert [(c.file.path, c.manifest and c.manifest.path, c.folder_settings and c.folder_settings.path)
            for c in found.ready] == [("promo.csv", "promo.json", None), ("team/a.xlsx", None, "team/_campaign.json")]
    # a file still changing, or whose manifest still changes, waits
    assert {c.file.path: c.waiting for c in found.waiting} == {
        "c.TXT": "settling: still being written", "team/b.ods": "settling: still being written"}
    # the first of them settles 5 s after its manifest's last change
    assert found.settles_at == NOW - 2.0 + 5.0


def test_a_file_without_any_settings_waits_saying_what_to_add():
    (waiting,) = sort(entry("lists/march.csv"), entry("other/_campaign.json")).waiting
    assert waiting.waiting == "no settings: add march.json or _campaign.json beside it"


def test_folder_settings_apply_to_their_own_folder_only():
    found = sort(entry("_campaign.json"), entry("sub/a.csv"))
    assert found.ready == [] and [c.file.path for c in found.waiting] == ["sub/a.csv"]


@pytest.mark.parametrize("path", [
    ".hidden.csv", "~$promo.xlsx", "promo.csv.part", "promo.tmp", "promo.csv.crdownload", ".git/x.csv",
    "team/.cache/x.csv", "processed/x.csv", "rejected/x.csv", "reports/x.csv",
])
def test_hidden_temporary_and_result_files_are_never_drops(path):
    found = sort(entry(path), entry("_campaign.json"), entry(path.rpartition("/")[0] + "/_campaign.json"))
    assert found.ready == [] and found.waiting == []


def test_other_kinds_of_file_are_listed_as_ignored_and_a_lone_manifest_becomes_an_orphan_after_its_time():
    found = sort(entry("notes.pdf"), entry("lone.json", age=1000.0), entry("fresh.json", age=10.0))
    assert found.ignored == ["notes.pdf"]
    assert [m.path for m in found.orphans] == ["lone.json"]


def test_names_with_spaces_cyrillic_and_dots_keep_their_stem():
    assert stem_of("team/Список клиентов.csv") == "team/Список клиентов"
    assert stem_of("a..b.csv") == "a..b"
    assert stem_of("promo") == "promo"
    found = sort(entry("Март .. акция.csv"), entry("Март .. акция.json"))
    assert [c.file.path for c in found.ready] == ["Март .. акция.csv"]


def manifests(folder: str | None = None, file: str | None = None) -> dict:
    out = {}
    if folder is not None:
        out["folder"] = {"path": "team/_campaign.json", "text": folder}
    if file is not None:
        out["file"] = {"path": "team/promo.json", "text": file}
    return out


def test_a_manifest_overrides_the_folder_settings_and_the_name_defaults_to_the_path():
    got = drop_settings(manifests('{"text": "Hi", "country": "kz", "rate_limit": 10}',
                                  '{"text": "Hello {name}", "allow_repeat": true}'), "team/promo.csv")
    assert got.allow_repeat is True
    assert (got.request.text, got.request.country, got.request.rate_limit) == ("Hello {name}", "KZ", 10)
    assert got.request.name == "team/promo.csv"
    named = drop_settings(manifests(file='{"text": "Hi", "name": "March"}'), "team/promo.csv")
    assert named.request.name == "March" and named.allow_repeat is False


@pytest.mark.parametrize("folder, file, message", [
    (None, '{"text": "Hi",', "promo.json: not valid JSON (line 1, column 15: Expecting property name"),
    (None, '["Hi"]', "promo.json: must be a JSON object of settings"),
    (None, '{"text": "Hi", "txt": "x"}', "promo.json: unknown key 'txt' (known: text, name,"),
    ('{"text": "Hi", "colour": 1}', '{"text": "Yo"}', "_campaign.json: unknown key 'colour'"),
    (None, '{"text": "Hi", "rate_limit": 0}', "promo.json: rate_limit: Input should be greater than or equal to 1"),
    (None, '{"text": "Hi", "country": "XX"}', "promo.json: country: 'XX' is not a country code"),
    (None, '{"text": "Hi", "placeholders": "drop"}', "promo.json: placeholders: Input should be 'keep', 'strip'"),
    ('{"country": "KZ"}', None, "_campaign.json: no 'text': the message text is required"),
    (None, '{"text": "   "}', "promo.json: text: the message text is empty"),
])
def test_manifest_problems_are_one_line_naming_the_manifest(folder, file, message):
    with pytest.raises(ManifestError) as caught:
        drop_settings(manifests(folder, file), "team/promo.csv")
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)


def test_locations_are_folders_and_s3_prefixes(tmp_path):
    folder = parse_location(tmp_path.as_uri())
    assert folder.location == tmp_path.as_uri() and folder.settles
    assert parse_location(str(tmp_path)).location == folder.location
    s3 = parse_location("s3://inbox/marketing")
    assert (s3.bucket, s3.prefix, s3.location, s3.settles) == ("inbox", "marketing/", "s3://inbox/marketing/", False)
    assert parse_location("s3://inbox").location == "s3://inbox/"
    for bad in ("ftp://x/y", "relative/folder", "s3://", "file://server/share"):
        with pytest.raises(LocationError):
            parse_location(bad)
    settings = Settings.from_env({"CAMPAIGNS_WATCH": f" {tmp_path.as_uri()} , s3://inbox/a/,{tmp_path}"})
    assert [s.location for s in watched(settings)] == [tmp_path.as_uri(), "s3://inbox/a/"]


def test_watch_refuses_what_it_cannot_do_with_usage_errors(monkeypatch, tmp_path, capsys):
    from campaigns.cli import main

    for name in ("CAMPAIGNS_WATCH", "CAMPAIGNS_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CAMPAIGNS_DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    with pytest.raises(SystemExit) as caught:
        main(["watch", "--list"])
    assert caught.value.code == 2
    assert "nothing to watch: set CAMPAIGNS_WATCH to file:///folder or s3://bucket/prefix/" in capsys.readouterr().err
    monkeypatch.setenv("CAMPAIGNS_WATCH", "ftp://files/in")
    with pytest.raises(SystemExit) as caught:
        main(["watch", "--once"])
    assert caught.value.code == 2
    assert "CAMPAIGNS_WATCH: ftp://files/in: watch file:///folder or s3://bucket/prefix/" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main(["watch", "--once", "3"])
    assert caught.value.code == 2 and "take no campaign ID" in capsys.readouterr().err
