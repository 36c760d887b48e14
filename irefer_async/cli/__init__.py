"""The ``irefer`` command line (needs the ``cli`` extra: ``pip install 'irefer-async[cli]'``).

Commands:

```text
irefer demo                                   no credentials: emulator + import + stats
irefer import signups FILE [--dry-run] [--resume] [--concurrency N] [--rate R] ...
irefer import actions FILE ...
irefer stats campaign
irefer stats referrer EMAIL
irefer export referrers|rewards|actions --format table|csv|json [--output FILE]
irefer emulator --port 8765 [--seed-demo] [--profile 2018|2019|drifted]
irefer doctor [--json] [--write-probe EMAIL]   check keys, network, endpoints, drift
irefer mcp [--http [HOST:]PORT] [--allow-writes [--no-confirm]]   an MCP server for agents
```

Every command that talks to iRefer takes ``--emulator`` (a fresh emulator inside the command,
whose state ends with it; for state that lasts, run ``irefer emulator`` and paste the
``export`` lines it prints) or uses the real API with credentials from ``IREFER_LICENSE_KEY``
and ``IREFER_API_KEY`` only (never a flag: flags show in ``ps``), ``--base-url`` /
``IREFER_BASE_URL`` and ``--campaign-id`` / ``IREFER_CAMPAIGN_ID``.

Exit codes: 0 every row ok, 1 some row failed, is unknown or invalid (or a request failed),
2 usage or configuration error, 74 a file could not be written for lack of space (the message
names it; an import then says how to ``--resume``), 130 interrupted (Ctrl-C), 143 terminated
(SIGTERM: handled as Ctrl-C, summary and resume line included).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import attrs
import click
from rich.console import Console

from irefer_async import InvalidRequestError, IReferError, LeadSource, __version__
from irefer_async.endpoints import check_campaign_id

from ._import import EXIT_INTERRUPTED, ImportOptions, print_summary, run_import
from ._ledger import LedgerError
from ._query import flatten, render_object
from ._stops import (
    EXIT_STORAGE_FULL,
    EXIT_TERMINATED,
    StorageFullError,
    Terminated,
    terminable,
    writing,
)
from ._target import Target, build_client, is_loopback

__all__ = ["cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])

_FORMATS = click.Choice(["table", "csv", "json"])


def _console() -> Console:
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console.soft_wrap = True  # piped or captured: one message, one line (never cut mid-way)
        if "COLUMNS" not in os.environ:
            console.width = 160  # wide tables beat folded cells
    return console


def _err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)  # one message, one line


class CampaignId(click.types.StringParamType):
    """A campaign id: shown as ``INTEGER`` in help, checked, passed on as its wire string."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """Return the id as the API sends it, or fail with a usage error (exit 2)."""
        try:
            return check_campaign_id(value)
        except InvalidRequestError as exc:
            self.fail(str(exc), param, ctx)


#: The type of every command's ``--campaign-id``.
CAMPAIGN_ID: CampaignId = CampaignId()

#: Said at the end of every command's ``--help``: where the keys come from.
CREDENTIALS_HELP = (
    "Credentials: IREFER_LICENSE_KEY and IREFER_API_KEY from the environment only (never a "
    "flag: flags show in `ps`), or --emulator for none."
)
#: The same for a command without ``--emulator`` (``irefer mcp``): the environment only.
CREDENTIALS_ENV_HELP = (
    "Credentials: IREFER_LICENSE_KEY and IREFER_API_KEY from the environment only (never a "
    "flag: flags show in `ps`)."
)


def target_options(func: F) -> F:
    """Add ``--emulator``, ``--base-url`` and ``--campaign-id``."""
    func = click.option(
        "--campaign-id",
        envvar="IREFER_CAMPAIGN_ID",
        type=CAMPAIGN_ID,
        help="Campaign id [env IREFER_CAMPAIGN_ID].",
    )(func)
    func = click.option(
        "--base-url", envvar="IREFER_BASE_URL", help="API root [env IREFER_BASE_URL]."
    )(func)
    func = click.option(
        "--emulator",
        is_flag=True,
        help="Use a fresh, empty emulator inside this command (its state ends with it). "
        "To keep state between commands, run `irefer emulator` and paste the lines it prints.",
    )(func)
    return func


def timeout_option(func: F) -> F:
    """Add ``--timeout`` (seconds per HTTP request)."""
    return click.option(
        "--timeout",
        type=click.FloatRange(0, min_open=True),
        default=None,
        help="Seconds each HTTP request may take [default: 10, connect 5].",
    )(func)


def _make_target(
    emulator: bool, base_url: str | None, campaign_id: str | None, timeout: float | None = None
) -> Target:
    return Target(emulator=emulator, base_url=base_url, campaign_id=campaign_id, timeout=timeout)


_EMULATOR_FRESH = (
    "note: --emulator used a fresh, empty emulator inside this command. To see what an "
    "earlier command did, run `irefer emulator` and paste the lines it prints."
)
_EMULATOR_GONE = (
    "note: --emulator ran a fresh emulator inside this command; its state is gone now. "
    "To keep it between commands, run `irefer emulator` and paste the lines it prints."
)


def _run(coro: Coroutine[Any, Any, int], *, interrupted: str = "interrupted") -> int:
    """Run a command's coroutine; map the SDK's errors to messages and exit codes.

    SIGTERM stops it as Ctrl-C does (exit 143 instead of 130); a file that cannot be written
    for lack of space is one line naming it (exit 74).
    """
    err = _err_console()
    try:
        return asyncio.run(terminable(coro))
    except KeyboardInterrupt:
        err.print(interrupted, markup=False)
        return EXIT_INTERRUPTED
    except Terminated:
        err.print(interrupted.replace("interrupted", "terminated", 1), markup=False)
        return EXIT_TERMINATED
    except StorageFullError as exc:
        err.print(f"error: {exc}", markup=False)
        return EXIT_STORAGE_FULL
    except (InvalidRequestError, LedgerError) as exc:  # ConfigurationError included
        err.print(f"error: {exc}", markup=False)
        return 2
    except IReferError as exc:
        err.print(f"error: {exc}", markup=False)
        return 1


def _exit(code: int) -> None:
    if code:
        raise SystemExit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="irefer")
def cli() -> None:
    """Command line for the iRefer referral API: bulk imports, stats, exports, emulator.

    Credentials come from IREFER_LICENSE_KEY and IREFER_API_KEY (never a flag).

    \b
    Examples:
      irefer demo                              # no credentials needed
      irefer emulator                          # then paste the lines it prints, and:
      irefer import signups people.csv --dry-run
      irefer import signups people.csv
      irefer stats campaign
    """


@cli.group("import")
def import_group() -> None:
    """Import signups or specific actions from a CSV or JSON-lines file."""


def import_options(func: F) -> F:
    """Add the options shared by ``import signups`` and ``import actions``."""
    decorators = [
        click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path)),
        target_options,
        timeout_option,
        click.option("--strict-columns", is_flag=True,
                     help="Refuse a file with columns the command does not know "
                          "[default: ignore them, with one notice]."),
        click.option("--concurrency", type=click.IntRange(1, 1024), default=8, show_default=True,
                     help="Requests in flight at once."),
        click.option("--rate", type=click.FloatRange(0), default=None,
                     help="Requests per second (0: unlimited) [default: 5; none with --emulator "
                          "or a loopback base URL, such as a running `irefer emulator`]."),
        click.option("--dry-run", is_flag=True, help="Validate and count only; send nothing."),
        click.option("--results", type=click.Path(dir_okay=False, path_type=Path),
                     help="Results file (JSON lines) [default: FILE.results.jsonl]."),
        click.option("--failed", "failed_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="Failed-rows file, in FILE's format [default: FILE-stem.failed.ext]."),
        click.option("--ledger", type=click.Path(dir_okay=False, path_type=Path),
                     help="Ledger for --resume [default: RESULTS.ledger.sqlite]."),
        click.option("--resume", is_flag=True,
                     help="Continue an import: skip finished rows, settle in-flight ones."),
        click.option("--settle", type=click.FloatRange(0), default=None,
                     help="Seconds a write may still be processing after its request failed "
                          "ambiguously; only a read started this long after it can prove it "
                          "did not land [default: 10]."),
        click.option("--progress", type=click.Choice(["auto", "bar", "json", "none"]),
                     default="auto", show_default=True,
                     help="Progress display: a bar on a terminal, JSON lines on stderr otherwise."),
        click.option("--progress-interval", type=click.FloatRange(0), default=1.0,
                     show_default=True, help="Seconds between JSON progress lines."),
    ]  # fmt: skip
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def _import(kind: str, file: Path, **kw: Any) -> None:
    # No --rate: the client's default (5/s) against the real API, unlimited on the emulator.
    rate: float | str | None = kw["rate"] or None
    if kw["rate"] is None and not kw["emulator"] and not is_loopback(kw["base_url"]):
        rate = "default"
    options = ImportOptions(
        kind=kind,
        path=file,
        target=attrs.evolve(
            _make_target(kw["emulator"], kw["base_url"], kw["campaign_id"], kw["timeout"]),
            settle=kw["settle"],
        ),
        concurrency=kw["concurrency"],
        rate=rate,
        dry_run=kw["dry_run"],
        results=kw["results"],
        failed=kw["failed_path"],
        ledger=kw["ledger"],
        resume=kw["resume"],
        progress=kw["progress"],
        progress_interval=kw["progress_interval"],
        strict_columns=kw["strict_columns"],
    )
    console = _console()

    async def go() -> int:
        report = await run_import(options, console)
        print_summary(report, console, kind=kind, dry_run=options.dry_run)
        if options.target.emulator and not options.dry_run:
            console.print(_EMULATOR_GONE, markup=False)
        json_mode = options.progress == "json" or (
            options.progress == "auto" and not console.is_terminal
        )
        if json_mode and not options.dry_run:
            _err_console().out(_summary_json(report), highlight=False)
        return report.exit_code

    resume = f"irefer import {kind} {file} --resume"
    _exit(_run(go(), interrupted=f"interrupted; `{resume}` (with the same options) settles the "
                                 "rows that were in flight and sends the rest"))  # fmt: skip


def _summary_json(report: Any) -> str:
    import json  # noqa: PLC0415

    return json.dumps(
        {
            "event": "summary",
            **report.counts.as_dict(),
            "results": None if report.results is None else str(report.results),
            "failed_file": None if not report.failed_rows else str(report.failed),
            "exit_code": report.exit_code,
        }
    )


def _sources() -> str:
    """Return the ``source`` values ``newSignup``'s check accepts (its `LeadSource` table)."""
    letters = ", ".join(f"{s.value} ({s.name.lower()})" for s in LeadSource)
    return f"{letters}; the names are accepted too"


_SIGNUPS_HELP = f"""Add every participant of FILE.

Columns: email (required), name, phone, info_1..info_5, source, referrer_code, campaign_id.
source (the network the signup came from) is one of {_sources()}.
Other columns are ignored with one notice (--strict-columns refuses them). Cells are sent
exactly as written; an empty cell means "not given".

\b
Examples:
  irefer import signups people.csv --dry-run
  irefer import signups people.csv --emulator
  irefer import signups people.csv --rate 5 --concurrency 4
  irefer import signups people.csv --resume
"""


@import_group.command("signups", help=_SIGNUPS_HELP)
@import_options
def import_signups(file: Path, **kw: Any) -> None:
    """Add every participant of FILE (the help is `_SIGNUPS_HELP`)."""
    _import("signups", file, **kw)


@import_group.command("actions")
@import_options
def import_actions(file: Path, **kw: Any) -> None:
    """Record every specific action of FILE.

    Columns: external_id, action, referrer_code (all required), campaign_id.

    \b
    Examples:
      irefer import actions actions.jsonl --dry-run
      irefer import actions actions.csv --results out.jsonl
    """
    _import("actions", file, **kw)


@cli.group()
def stats() -> None:
    """Campaign and participant statistics."""


@stats.command("campaign")
@target_options
@timeout_option
@click.option(
    "--format",
    "fmt",
    type=_FORMATS,
    default="table",
    show_default=True,
    help="Output: a table, CSV or JSON.",
)
def stats_campaign(
    emulator: bool, base_url: str | None, campaign_id: str | None, timeout: float | None, fmt: str
) -> None:
    """Show views, signups, conversion and referrals by network.

    \b
    Example:
      irefer stats campaign --format json
    """
    target = _make_target(emulator, base_url, campaign_id, timeout)

    async def go() -> int:
        client, _ = build_client(target)
        async with client:
            result = await client.campaign_stats()
        render_object(flatten(result), fmt, _console(), title="campaign stats")
        if target.emulator:
            _err_console().print(_EMULATOR_FRESH, markup=False)
        return 0

    _exit(_run(go()))


@stats.command("referrer")
@click.argument("email")
@target_options
@timeout_option
@click.option(
    "--format",
    "fmt",
    type=_FORMATS,
    default="table",
    show_default=True,
    help="Output: a table, CSV or JSON.",
)
def stats_referrer(  # noqa: PLR0917 - click passes options as parameters
    email: str,
    emulator: bool,
    base_url: str | None,
    campaign_id: str | None,
    timeout: float | None,
    fmt: str,
) -> None:
    """Show one participant's referrals and rewards.

    \b
    Example:
      irefer stats referrer ann@example.com
    """
    target = _make_target(emulator, base_url, campaign_id, timeout)

    async def go() -> int:
        client, _ = build_client(target)
        async with client:
            result = await client.referrer_stats(email)
        render_object(flatten(result), fmt, _console(), title=f"referrer {email}")
        return 0

    _exit(_run(go()))


@cli.command("export")
@click.argument("what", type=click.Choice(["referrers", "rewards", "actions"]))
@target_options
@timeout_option
@click.option(
    "--format",
    "fmt",
    type=_FORMATS,
    default="table",
    show_default=True,
    help="table: a terminal table (collects every row); csv, json: streamed as rows arrive.",
)
@click.option("--all-columns", is_flag=True, help="Every field, not just the main ones.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file instead of standard output.",
)
def export(  # noqa: PLR0917 - click passes options as parameters
    what: str,
    emulator: bool,
    base_url: str | None,
    campaign_id: str | None,
    timeout: float | None,
    fmt: str,
    all_columns: bool,
    output: Path | None,
) -> None:
    """Export every referrer, triggered reward or specific action of the campaign.

    CSV and JSON are streamed as the rows arrive, in flat memory whatever the campaign's
    size, with rows and bytes received shown on a terminal; a table collects every row.
    """
    from ._export import AGAIN, COLUMNS, export_rows, replacing  # noqa: PLC0415 - only this command

    target = _make_target(emulator, base_url, campaign_id, timeout)
    columns = None if all_columns or fmt == "json" else COLUMNS[what]

    async def go() -> int:
        client, _ = build_client(target)
        async with client:
            if output is None:
                await export_rows(
                    client, what, fmt, sys.stdout, columns=columns, console=_console(),
                    err=_err_console(),
                )  # fmt: skip
            else:
                # Closing flushes too: a full disk there is the same one line.
                # Through a temporary file renamed at the end: a failed export writes nothing.
                with writing(output, AGAIN), replacing(output) as out:
                    await export_rows(
                        client, what, fmt, out, columns=columns, console=Console(file=out),
                        err=_err_console(), name=str(output),
                    )  # fmt: skip
        return 0

    _exit(_run(go()))


@cli.command()
@click.option(
    "--rows",
    type=click.IntRange(10, 1_000_000),
    default=3000,
    show_default=True,
    help="Signups to generate and import.",
)
@click.option(
    "--waves",
    type=click.IntRange(1, 20),
    default=4,
    show_default=True,
    help="Import waves: each later wave refers participants of the earlier ones.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed for the generated people and referral codes.",
)
@click.option(
    "--progress",
    type=click.Choice(["auto", "bar", "json", "none"]),
    default="auto",
    show_default=True,
    help="Progress display: a bar on a terminal, JSON lines on stderr otherwise.",
)
def demo(rows: int, waves: int, seed: int, progress: str) -> None:
    """Import a generated campaign with referral chains into the embedded emulator.

    Needs no credentials; shows the progress bar, campaign stats and top referrers. The
    emulator lives inside this command: nothing is kept afterwards.

    \b
    Examples:
      irefer demo
      irefer demo --rows 100000 --waves 6
    """
    from ._demo import run_demo  # noqa: PLC0415 - imports the emulator

    console = _console()
    coro = run_demo(console, rows=rows, waves=waves, seed=seed, progress=progress)
    _exit(_run(coro, interrupted="interrupted; nothing to resume: run `irefer demo` again"))


@cli.command("emulator", context_settings={"ignore_unknown_options": True})
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed for ids and referral codes."
)
@click.option("--seed-demo", is_flag=True, help="Add demo participants, referrals and views.")
@click.option(
    "--profile",
    type=click.Choice(["2018", "2019", "drifted"]),
    default="2018",
    show_default=True,
    help="Service profile: the 2018 guide, the 2019 change, or a drifted wire format.",
)
def emulator_command(host: str, port: int, seed: int, seed_demo: bool, profile: str) -> None:
    """Serve the iRefer emulator on a local port (Ctrl-C to stop).

    It prints the `export` lines that aim other commands (and your own code) at it; its
    state lasts as long as it runs, so `irefer import` then `irefer stats` see the same
    campaign. Keys: $IREFER_LICENSE_KEY / $IREFER_API_KEY if set, else the demo keys.

    \b
    Example:
      irefer emulator --seed-demo          # then, in another shell, paste its lines and:
      irefer import signups people.csv
      irefer stats campaign
    """
    from ..testing.__main__ import main as serve  # noqa: PLC0415

    argv = ["--host", host, "--port", str(port), "--seed", str(seed), "--profile", profile]
    if seed_demo:
        argv.append("--seed-demo")
    _exit(serve(argv))


@cli.command("mcp")
@click.option(
    "--http",
    "http",
    metavar="[HOST:]PORT",
    help="Serve streamable HTTP at http://HOST:PORT/mcp (HOST 127.0.0.1 unless given) "
    "instead of stdio.",
)
@click.option(
    "--allow-writes",
    is_flag=True,
    help="Also list the write tools (new_signup, "
    "new_specific_action); each real write asks the user to confirm.",
)
@click.option(
    "--no-confirm",
    is_flag=True,
    help="With --allow-writes: write without asking (for clients that cannot confirm).",
)
def mcp_command(http: str | None, allow_writes: bool, no_confirm: bool) -> None:
    """Serve the campaign to AI agents over MCP (stdio; needs the `mcp` extra).

    Configured by the IREFER_* environment only (paste `irefer emulator`'s lines to aim it at
    the emulator). See docs/mcp.md for client configuration.
    """
    try:
        from ..mcp import parse_http, run_server  # noqa: PLC0415 - the mcp extra, on use
    except ImportError:
        _err_console().print(
            "irefer mcp needs the mcp extra: pip install 'irefer-async[mcp]'",
            markup=False,
        )
        _exit(2)
        return
    try:
        where = None if http is None else parse_http(http)
    except InvalidRequestError as exc:
        raise click.BadParameter(str(exc), param_hint="--http") from None

    def ready(url: str) -> None:
        _err_console().print(f"serving MCP at {url}", markup=False)

    async def go() -> int:
        await run_server(http=where, allow_writes=allow_writes, confirm=not no_confirm, ready=ready)
        return 0

    _exit(_run(go()))


from ._watch import watch  # noqa: E402 - it uses the helpers above

cli.add_command(watch)

from ._doctor import doctor  # noqa: E402 - registered after the group exists

cli.add_command(doctor)


_NO_CREDENTIALS_HELP = {
    "demo": "Needs no credentials: IREFER_LICENSE_KEY and IREFER_API_KEY are not read.",
    "emulator": "Credentials it accepts: IREFER_LICENSE_KEY and IREFER_API_KEY if set, else the "
    "demo keys it prints (published, not secrets).",
}


def _add_credentials_help(group: click.Group) -> None:
    """End every command's and group's ``--help`` with where the keys come from."""
    for name, command in group.commands.items():
        if command.epilog is None:
            emulator = isinstance(command, click.Group) or any(
                p.name == "emulator" for p in command.params
            )
            default = CREDENTIALS_HELP if emulator else CREDENTIALS_ENV_HELP
            command.epilog = _NO_CREDENTIALS_HELP.get(name, default)
        if isinstance(command, click.Group):
            _add_credentials_help(command)


_add_credentials_help(cli)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``irefer`` console script."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="irefer")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
