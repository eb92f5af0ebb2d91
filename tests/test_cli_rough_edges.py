"""The CLI's rough edges (issue 16): validate and submit answer bad input alike, submit
warns as validate does, help says only what works and shows no types on flags."""

from __future__ import annotations

import pytest

from campaigns.cli import main
from tests.test_cli_pipeline import cli, env, recipients_csv  # noqa: F401 (fixture)


def both(capsys, *argv: str) -> list[tuple[int, str]]:
    """(exit code, stderr) of `validate ARGV` and `submit ARGV`."""
    answers = []
    for command in ("validate", "submit"):
        code, _, err = cli(capsys, command, *argv)
        answers.append((code, err.strip()))
    return answers


@pytest.mark.parametrize("case", ["missing", "folder", "encoding", "country", "sheet", "empty-text"])
def test_validate_and_submit_refuse_bad_input_the_same_way(env, capsys, tmp_path, case):  # noqa: F811
    good = recipients_csv(tmp_path / "people.csv", [("+7 701 000 45 67", "A")])
    argv = {
        "missing": [str(tmp_path / "nope.csv"), "--text", "Hi"],
        "folder": [str(tmp_path), "--text", "Hi"],
        "encoding": [str(good), "--text", "Hi", "--encoding", "klingon-8"],
        "country": [str(good), "--text", "Hi", "--country", "XX"],
        "sheet": [str(good), "--text", "Hi", "--sheet", "2"],
        "empty-text": [str(good), "--text", "  "],
    }[case]
    (v_code, v_err), (s_code, s_err) = both(capsys, *argv)
    assert v_code == s_code and v_code in (1, 2)
    assert "ValueError" not in v_err + s_err
    # the same reason (the usage box names its command, so compare the last meaningful line)
    reason = [line.strip("│ ") for line in v_err.splitlines() if line.strip("│ ╰─╭")][-1]
    assert reason in s_err
    if case == "sheet":
        assert "--sheet applies only to spreadsheets" in s_err and v_code == 1
    if case == "country":
        assert "'XX' is not a country code" in s_err


def test_submit_shows_the_warnings_validate_shows_before_sending(env, capsys, tmp_path):  # noqa: F811
    source = recipients_csv(tmp_path / "people.csv", [("+7 701 000 45 67", "Ann"), ("+7 701 000 45 68", "")])
    _, validated, _ = cli(capsys, "validate", str(source), "--text", "Hi {name}")
    warning = next(line.strip()[2:] for line in validated.splitlines() if line.strip().startswith("! "))
    code, out, _ = cli(capsys, "submit", str(source), "--text", "Hi {name}")
    assert code == 0
    flat = " ".join(out.split())
    assert f"warning: {' '.join(warning.split())}" in flat
    assert flat.index("warning:") < flat.index("chunks added")


def test_help_says_only_what_works_and_flags_show_no_type(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    top = capsys.readouterr().out
    assert "cascade" not in top.lower()
    for command in ("submit", "status", "list", "resume", "watch", "demo"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert "<bool>" not in text, command
        for line in text.splitlines():
            if "--json" in line:
                assert line.split("--json", 1)[1].strip(" │"), f"{command} --json has no description"
    with pytest.raises(SystemExit):
        main(["submit", "--help"])
    assert "local time" in capsys.readouterr().out
