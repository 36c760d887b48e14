"""``irefer import``: validation, duplicates, results and failed-rows files, exit codes, output."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from irefer_async.cli import cli
from irefer_async.testing import Emulator, WriteEffect


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _created(emulator: Emulator) -> Counter[str]:
    return Counter(
        e.params["email"]
        for e in emulator.journal
        if e.method == "newSignup" and e.effect is WriteEffect.PARTICIPANT_CREATED
    )


def test_valid_file_exits_0(runner: CliRunner, emulator: Emulator, workdir: Path) -> None:
    """Every row ok: exit 0, every row in the results file, no failed-rows file."""
    path = _write_csv(
        workdir / "s.csv", ["email", "name", "source"],
        [[f"u{i}@example.com", f"U {i}", "t"] for i in range(50)],
    )  # fmt: skip
    result = runner.invoke(cli, ["import", "signups", str(path), "--emulator"])
    assert result.exit_code == 0, result.output + result.stderr
    records = _results(workdir / "s.csv.results.jsonl")
    assert sorted(r["line"] for r in records) == list(range(2, 52))
    assert {r["status"] for r in records} == {"ok"}
    assert records[0]["result"]["referral_code"]
    assert not (workdir / "s.failed.csv").exists()
    assert len(_created(emulator)) == 50


def test_invalid_and_duplicate_rows(runner: CliRunner, emulator: Emulator, workdir: Path) -> None:
    """Bad email, unknown source, missing email: invalid, never sent; duplicates skipped."""
    path = _write_csv(
        workdir / "s.csv",
        ["email", "name", "source"],
        [
            ["ann@example.com", "Ann", "t"],
            ["not-an-email", "Bob", ""],
            ["cat@example.com", "Cat", "myspace"],
            ["", "No Email", ""],
            ["ANN@example.com", "Ann again", ""],
            ["dan@example.com", "Dan", "linkedin"],
        ],
    )
    result = runner.invoke(cli, ["import", "signups", str(path), "--emulator"])
    assert result.exit_code == 1
    by_line = {r["line"]: r for r in _results(workdir / "s.csv.results.jsonl")}
    assert len(by_line) == 6
    assert [by_line[n]["status"] for n in range(2, 8)] == [
        "ok", "invalid", "invalid", "invalid", "duplicate", "ok",
    ]  # fmt: skip
    assert "not an email" in by_line[3]["error"]
    assert "lead source" in by_line[4]["error"]
    assert "email" in by_line[5]["error"]
    # A duplicate names the line it repeats, in the results file and on screen, like an invalid row.
    assert by_line[6]["error"] == "same email as line 2: skipped, not sent"
    assert "line 6: duplicate: same email as line 2: skipped, not sent" in result.stdout
    assert "line 3: invalid: " in result.stdout
    sent = [e.params["email"] for e in emulator.journal]
    assert sorted(sent) == ["ann@example.com", "dan@example.com"]
    with (workdir / "s.failed.csv").open(newline="") as f:
        failed = list(csv.reader(f))
    assert failed == [
        ["email", "name", "source"],
        ["not-an-email", "Bob", ""],
        ["cat@example.com", "Cat", "myspace"],
        ["", "No Email", ""],
    ]


def test_unknown_columns_are_ignored_with_one_notice(
    runner: CliRunner, emulator: Emulator, workdir: Path
) -> None:
    """An extra column is left out of the request, named once; --strict-columns refuses it."""
    path = workdir / "s.jsonl"
    path.write_text(
        '{"email": "a@example.com", "colour": "red"}\n{"email": "b@example.com"}\nnot json\n'
    )
    result = runner.invoke(cli, ["import", "signups", str(path), "--emulator"])
    assert result.exit_code == 1
    records = {r["line"]: r for r in _results(workdir / "s.jsonl.results.jsonl")}
    assert records[1]["status"] == "ok" and records[2]["status"] == "ok"
    assert records[3]["status"] == "invalid"
    assert "colour" not in emulator.journal[0].params
    assert result.stdout.count("ignored column(s) not sent to iRefer: colour") == 1
    assert (workdir / "s.failed.jsonl").read_text().splitlines() == ["not json"]

    strict = workdir / "t.jsonl"
    strict.write_text('{"email": "c@example.com", "colour": "red"}\n')
    result = runner.invoke(cli, ["import", "signups", str(strict), "--emulator",
                                 "--strict-columns"])  # fmt: skip
    assert result.exit_code == 1
    (record,) = _results(workdir / "t.jsonl.results.jsonl")
    assert record["status"] == "invalid" and "colour" in record["error"]


def test_csv_extra_columns_are_a_file_level_notice(
    runner: CliRunner, emulator: Emulator, workdir: Path
) -> None:
    """A CSV export's extra columns: one notice for 1,000 rows, never one error per row."""
    path = _write_csv(
        workdir / "s.csv", ["email", "customer_id", "name", "created"],
        [[f"u{i}@example.com", str(i), f"U {i}", "2026-01-01"] for i in range(1000)],
    )  # fmt: skip
    result = runner.invoke(cli, ["import", "signups", str(path), "--emulator", "--rate", "0",
                                 "--concurrency", "32"])  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout.count("customer_id") == 1
    assert "ignored column(s) not sent to iRefer: created, customer_id" in result.stdout
    assert len(_created(emulator)) == 1000
    assert set(emulator.journal[0].params) >= {"email", "name"}
    assert not {"customer_id", "created"} & set(emulator.journal[0].params)

    strict = runner.invoke(cli, ["import", "signups", str(path), "--emulator",
                                 "--strict-columns", "--resume"])  # fmt: skip
    assert strict.exit_code == 2
    assert strict.stderr.count("\n") == 1  # one line, not one per row
    assert "line 1 (the header): unknown column(s): customer_id, created" in strict.stderr


def test_file_level_problems_are_reported_once(
    runner: CliRunner, emulator: Emulator, workdir: Path
) -> None:
    """No email column, or a header in another encoding: one error, exit 2, nothing sent."""
    path = _write_csv(
        workdir / "s.csv", ["mail", "name"], [[f"u{i}@x.io", "U"] for i in range(500)]
    )
    result = runner.invoke(cli, ["import", "signups", str(path), "--emulator"])
    assert result.exit_code == 2
    assert "line 1 (the header): missing required column(s): email" in result.stderr
    assert result.stderr.count("missing") == 1
    dry = runner.invoke(cli, ["import", "signups", str(path), "--dry-run"])
    assert dry.exit_code == 2 and "missing required column(s): email" in dry.stderr

    latin = workdir / "l.csv"
    latin.write_bytes("e-mail adress,nàme\na@example.com,A\n".encode("latin-1"))
    result = runner.invoke(cli, ["import", "signups", str(latin), "--emulator"])
    assert result.exit_code == 2
    assert "line 1 (the header): not valid UTF-8" in result.stderr
    assert len(emulator.journal) == 0


def test_non_tty_output_is_json_lines(runner: CliRunner, emulator: Emulator, workdir: Path) -> None:
    """Off a terminal, progress is JSON lines on stderr ending with a summary line."""
    path = _write_csv(workdir / "s.csv", ["email"], [[f"u{i}@example.com"] for i in range(20)])
    result = runner.invoke(
        cli, ["import", "signups", str(path), "--emulator", "--progress-interval", "0"]
    )
    assert result.exit_code == 0
    lines = _json_lines(result.stderr)
    progress = [line for line in lines if line["event"] == "progress"]
    assert len(progress) >= 2
    assert progress[-1]["done"] == 20 and progress[-1]["total"] == 20 and progress[-1]["ok"] == 20
    assert {"rate", "eta", "elapsed", "failed"} <= set(progress[-1])
    summary = lines[-1]
    assert summary["event"] == "summary" and summary["exit_code"] == 0
    assert "ok" in result.stdout and "20" in result.stdout
    assert not _json_lines(result.stdout)


def test_dry_run_sends_nothing(runner: CliRunner, emulator: Emulator, workdir: Path) -> None:
    """--dry-run validates and counts, writes nothing and needs no credentials."""
    path = _write_csv(workdir / "s.csv", ["email"], [["a@example.com"], ["bad"], ["a@example.com"]])
    result = runner.invoke(cli, ["import", "signups", str(path), "--dry-run"])
    assert result.exit_code == 1
    assert "line 3: invalid: " in result.stdout
    assert "line 4: duplicate: same email as line 2: skipped, not sent" in result.stdout
    assert "valid" in result.stdout and "duplicate" in result.stdout
    assert len(emulator.journal) == 0
    assert sorted(p.name for p in workdir.iterdir()) == ["s.csv"]
    ok = _write_csv(workdir / "ok.csv", ["email"], [["a@example.com"]])
    assert runner.invoke(cli, ["import", "signups", str(ok), "--dry-run"]).exit_code == 0


def test_failed_rows_round_trip(runner: CliRunner, emulator: Emulator, workdir: Path) -> None:
    """Rows the API refused go to the failed-rows file, which imports unedited once fixed."""
    for n in (3, 7):
        emulator.inject_fault("error_body", method="newSignup", email=f"u{n}@example.com")
    path = _write_csv(
        workdir / "s.csv", ["email", "name"], [[f"u{i}@example.com", f"U{i}"] for i in range(10)]
    )
    first = runner.invoke(cli, ["import", "signups", str(path), "--emulator"])
    assert first.exit_code == 1
    failed = workdir / "s.failed.csv"
    with failed.open(newline="") as f:
        assert sorted(csv.reader(f)) == sorted(
            [["email", "name"], ["u3@example.com", "U3"], ["u7@example.com", "U7"]]
        )
    statuses = Counter(r["status"] for r in _results(workdir / "s.csv.results.jsonl"))
    assert statuses == {"ok": 8, "failed": 2}
    second = runner.invoke(cli, ["import", "signups", str(failed), "--emulator"])
    assert second.exit_code == 0, second.stdout
    assert {r["status"] for r in _results(workdir / "s.failed.csv.results.jsonl")} == {"ok"}
    assert set(_created(emulator).values()) == {1}
    assert len(_created(emulator)) == 10


def test_unknown_outcome_exits_1(runner: CliRunner, emulator: Emulator, workdir: Path) -> None:
    """A write whose outcome cannot be settled is reported unknown (and exit 1)."""
    emulator.inject_fault("drop_after", method="newSignup", email="u1@example.com")
    emulator.inject_fault("http_5xx_before", method="referrers", times=None)
    path = _write_csv(workdir / "s.csv", ["email"], [[f"u{i}@example.com"] for i in range(3)])
    result = runner.invoke(cli, ["import", "signups", str(path), "--emulator"])
    assert result.exit_code == 1
    by_key = {r["key"]: r for r in _results(workdir / "s.csv.results.jsonl")}
    assert by_key["u1@example.com"]["status"] == "unknown"
    assert by_key["u1@example.com"]["error_type"] == "WriteOutcomeUnknownError"
    assert "unknown" in result.stdout


def test_import_actions(runner: CliRunner, emulator: Emulator, workdir: Path) -> None:
    """Specific actions import; missing referrer_code is a row error."""
    ann = emulator.add_participant("ann@example.com")
    path = _write_csv(
        workdir / "a.csv",
        ["external_id", "action", "referrer_code"],
        [["p1@example.com", "/dashboard", ann.code], ["p2@example.com", "/dashboard", ""],
         ["p1@example.com", "/dashboard", ann.code]],
    )  # fmt: skip
    result = runner.invoke(cli, ["import", "actions", str(path), "--emulator"])
    assert result.exit_code == 1
    statuses = [
        r["status"]
        for r in sorted(_results(workdir / "a.csv.results.jsonl"), key=lambda r: r["line"])
    ]
    assert statuses == ["ok", "invalid", "duplicate"]
    assert "line 4: duplicate: same external_id and action as line 2" in result.stdout
    assert len(emulator.snapshot()["campaigns"][0]["actions"]) == 1


def test_usage_errors_exit_2(runner: CliRunner, workdir: Path) -> None:
    """Missing file, missing credentials, bad option: exit 2 and no secret in the message."""
    assert runner.invoke(cli, ["import", "signups", "nope.csv"]).exit_code == 2
    path = _write_csv(workdir / "s.csv", ["email"], [["a@example.com"]])
    result = runner.invoke(cli, ["import", "signups", str(path), "--campaign-id", "2605"])
    assert result.exit_code == 2
    assert "IREFER_LICENSE_KEY" in result.stderr
    assert runner.invoke(cli, ["import", "signups", str(path), "--concurrency", "0"]).exit_code == 2
    assert runner.invoke(cli, ["import", "signups", str(path), "--emulator"]).exit_code == 0
    # A second run over the same results would resend: it needs --resume.
    again = runner.invoke(cli, ["import", "signups", str(path), "--emulator"])
    assert again.exit_code == 2
    assert "--resume" in again.stderr


def test_secrets_never_appear(runner: CliRunner, workdir: Path, monkeypatch: Any) -> None:
    """Real-API mode over loopback: keys come from the environment and are never written out."""
    import asyncio
    import threading

    from irefer_async.testing import DEFAULT_API_KEY, DEFAULT_LICENSE_KEY

    emulator = Emulator(seed=0)
    emulator.inject_fault("error_body", method="newSignup", email="u1@example.com")
    ready = threading.Event()
    stop: list[Any] = []
    url: list[str] = []

    def serve() -> None:
        async def main() -> None:
            async with emulator.serve(port=0) as base:
                url.append(base)
                done = asyncio.Event()
                stop.append((asyncio.get_running_loop(), done))
                ready.set()
                await done.wait()

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        monkeypatch.setenv("IREFER_LICENSE_KEY", DEFAULT_LICENSE_KEY)
        monkeypatch.setenv("IREFER_API_KEY", DEFAULT_API_KEY)
        path = _write_csv(workdir / "s.csv", ["email"], [[f"u{i}@example.com"] for i in range(5)])
        result = runner.invoke(
            cli,
            ["import", "signups", str(path), "--base-url", url[0], "--campaign-id", "2605",
             "--rate", "0", "--progress-interval", "0"],
        )  # fmt: skip
        assert result.exit_code == 1, result.stdout + result.stderr
        stats = runner.invoke(
            cli,
            [
                "stats",
                "referrer",
                "nobody@example.com",
                "--base-url",
                url[0],
                "--campaign-id",
                "2605",
            ],
        )
        assert stats.exit_code == 1
    finally:
        loop, done = stop[0]
        loop.call_soon_threadsafe(done.set)
        thread.join(10)
    blobs = [result.stdout, result.stderr, stats.stdout, stats.stderr]
    blobs += [p.read_bytes().decode("utf-8", "replace") for p in workdir.iterdir() if p.is_file()]
    blobs += [p.read_bytes().decode("utf-8", "replace") for p in workdir.glob("*-wal")]
    for blob in blobs:
        assert DEFAULT_LICENSE_KEY not in blob
        assert DEFAULT_API_KEY not in blob
    statuses = Counter(r["status"] for r in _results(workdir / "s.csv.results.jsonl"))
    assert statuses == {"ok": 4, "failed": 1}


def test_progress_bar_mode(runner: CliRunner, emulator: Emulator, workdir: Path) -> None:
    """--progress bar renders with rich even when captured; the summary lists problems."""
    path = _write_csv(workdir / "s.csv", ["email"], [["a@example.com"], ["nope"]])
    result = runner.invoke(cli, ["import", "signups", str(path), "--emulator", "--progress", "bar"])
    assert result.exit_code == 1
    assert "signups" in result.stdout
    assert "line 3: invalid" in result.stdout
    assert not _json_lines(result.stderr)


def test_bad_campaign_id_is_a_usage_error(
    runner: CliRunner, emulator: Emulator, workdir: Path
) -> None:
    """An invalid --campaign-id exits 2."""
    path = _write_csv(workdir / "s.csv", ["email"], [["a@example.com"]])
    result = runner.invoke(
        cli, ["import", "signups", str(path), "--emulator", "--campaign-id", "x"]
    )
    assert result.exit_code == 2


def test_messy_email_is_invalid_and_the_clean_one_is_sent(
    runner: CliRunner, emulator: Emulator, workdir: Path
) -> None:
    """A padded email is an invalid row (never sent); the clean one after it is sent, not skipped."""
    path = _write_csv(
        workdir / "s.csv",
        ["email"],
        [[" Kim@Example.com "], ["kim@example.com"], ["a b@example.com"], ["ann@@example.com"]],
    )
    result = runner.invoke(cli, ["import", "signups", str(path), "--emulator"])
    assert result.exit_code == 1
    by_line = {r["line"]: r for r in _results(workdir / "s.csv.results.jsonl")}
    assert [by_line[n]["status"] for n in range(2, 6)] == ["invalid", "ok", "invalid", "invalid"]
    assert "leading or trailing whitespace" in by_line[2]["error"]
    assert "whitespace" in by_line[4]["error"]
    assert "more than one '@'" in by_line[5]["error"]
    assert list(_created(emulator)) == ["kim@example.com"]
    assert "line 2" in result.stdout + result.stderr
