"""``irefer doctor``: check the configuration, network, credentials and every read endpoint.

Runs `irefer_async.doctor.check_configuration` first (no request), then, if a client
can be built, `irefer_async.doctor.probe_client`. Prints a table on a terminal (or
``--json``); exits 0 when no check failed, 1 when one did, 2 for a usage error.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from irefer_async import InvalidRequestError, IReferClient, Redactor
from irefer_async.doctor import (
    CheckStatus,
    DriftEntry,
    DriftRecorder,
    ProbeCheck,
    ProbeReport,
    check_configuration,
    probe_client,
)
from irefer_async.endpoints import check_campaign_id

from . import CAMPAIGN_ID, timeout_option

if TYPE_CHECKING:
    from ..testing import Emulator

__all__ = ["doctor", "render_report", "report_dict"]

_STYLE = {
    CheckStatus.PASS: "green",
    CheckStatus.WARN: "yellow",
    CheckStatus.FAIL: "bold red",
    CheckStatus.SKIP: "dim",
}
_BLOCKING = ("config.license_key", "config.api_key", "config.base_url", "config.campaign_id")


def _demo_emulator(profile: str) -> Emulator:
    from ..testing import Emulator  # noqa: PLC0415 - only with --emulator
    from ..testing.__main__ import seed_demo  # noqa: PLC0415

    emulator = Emulator(seed=0, profile=profile)
    seed_demo(emulator)
    return emulator


async def run_doctor(
    *,
    emulator: bool,
    profile: str,
    base_url: str | None,
    campaign_id: str | None,
    write_probe: str | None,
    timeout: float | None = None,
) -> tuple[ProbeReport, Redactor]:
    """Run the checks (see the module docstring) and return the report."""
    redactor = Redactor()

    def say(line: str) -> None:
        click.echo(redactor.redact(line), err=True)

    if emulator:
        env = _demo_emulator(profile)
        spec = env.default_campaign
        redactor = Redactor(spec.license_key, spec.api_key)
        options: dict[str, object] = {
            "decode_observer": DriftRecorder(redactor.redact),
            "retry": None,
        }
        if timeout is not None:
            options["timeout"] = timeout
        if campaign_id is not None:
            options["campaign_id"] = campaign_id
        client = env.client(**options)
        async with client:
            report = await probe_client(client, write_probe=write_probe, announce=say)
        return report, redactor
    license_key = os.environ.get("IREFER_LICENSE_KEY")
    api_key = os.environ.get("IREFER_API_KEY")
    redactor = Redactor(license_key, api_key)
    config = check_configuration(
        license_key=license_key, api_key=api_key, base_url=base_url, campaign_id=campaign_id
    )
    blocked = [c for c in config if c.name in _BLOCKING and c.status is CheckStatus.FAIL]
    if blocked:
        skipped = ProbeCheck("probe", CheckStatus.SKIP, "nothing sent: fix the configuration first")
        return ProbeReport((*config, skipped)), redactor
    timeouts: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
    # One attempt per read: the doctor reports what the service answers, not what retries hide.
    client = IReferClient(
        license_key,
        api_key,
        campaign_id=campaign_id,
        base_url=base_url,
        retry=None,
        decode_observer=DriftRecorder(redactor.redact),
        **timeouts,
    )
    async with client:
        report = await probe_client(client, config=config, write_probe=write_probe, announce=say)
    return report, redactor


def _redact_data(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_data(v, redact) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_data(v, redact) for v in value]
    return value


def report_dict(report: ProbeReport, redact: Callable[[str], str]) -> dict[str, Any]:
    """Return ``report.as_dict()`` with what came from outside passed through ``redact``.

    Outside: a check's summary, fix and data (server texts, exceptions, configuration
    values), a drift entry's path, detail and example. The doctor's own words (check names,
    statuses, kinds, models) are kept as they are: masking a piece of them (a key holding
    ``campai`` turned ``config.campaign_id`` into ``config.***gn_id``) told that the piece is
    in the key.
    """
    data = report.as_dict()
    for check in data["checks"]:
        check["summary"] = redact(check["summary"])
        check["fix"] = redact(check["fix"])
        check["data"] = _redact_data(check["data"], redact)
    for entry in data["drift"]:
        for field in ("path", "detail", "example"):
            entry[field] = _redact_data(entry[field], redact)
    return data


def render_report(
    report: ProbeReport, console: Console, redact: Callable[[str], str] = str
) -> None:
    """Print the report as tables: the checks, then the drift found (if any).

    Text from outside (summaries, fixes, drift paths, details and examples) is passed
    through ``redact`` first; the doctor's own labels are printed as they are.
    """
    table = Table(title="irefer doctor", title_justify="left")
    fixes = any(check.fix for check in report.checks)
    for column in ("", "check", "result", "fix")[: 4 if fixes else 3]:
        table.add_column(column, overflow="fold")
    for check in report.checks:
        status = f"[{_STYLE[check.status]}]{check.status.value}[/]"
        cells = (status, check.name, redact(check.summary), redact(check.fix))
        table.add_row(*(Text(c) if i else c for i, c in enumerate(cells[: 4 if fixes else 3])))
    console.print(table)
    drift = report.unexpected_drift
    if drift:
        console.print(_drift_table(drift, redact))
    counts = {s: sum(c.status is s for c in report.checks) for s in CheckStatus}
    console.print(
        f"{counts[CheckStatus.PASS]} passed, {counts[CheckStatus.WARN]} warnings, "
        f"{counts[CheckStatus.FAIL]} failed, {counts[CheckStatus.SKIP]} skipped",
        markup=False,
    )


def _drift_table(entries: tuple[DriftEntry, ...], redact: Callable[[str], str]) -> Table:
    table = Table(title="differences from the 2018 guide", title_justify="left")
    for column in ("field", "difference", "count", "example (redacted)"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        what = entry.kind.value.replace("_", " ")
        if entry.detail:
            what = f"{what}: {redact(entry.detail)}"
        cells = (redact(entry.path), what, str(entry.count), redact(entry.example))
        table.add_row(*(Text(c) for c in cells))
    return table


def _check_email(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain:
        raise click.BadParameter("expected an email address (name@domain)")
    return value


@click.command("doctor")
@click.option("--emulator", is_flag=True, help="Check the embedded in-process emulator.")
@click.option(
    "--profile",
    type=click.Choice(["2018", "2019", "drifted"]),
    default=None,
    help="With --emulator: the service profile to emulate [default: 2018].",
)
@click.option("--base-url", envvar="IREFER_BASE_URL", help="API root [env IREFER_BASE_URL].")
@click.option(
    "--campaign-id",
    envvar="IREFER_CAMPAIGN_ID",
    type=CAMPAIGN_ID,
    help="Campaign id [env IREFER_CAMPAIGN_ID].",
)
@timeout_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--write-probe",
    metavar="EMAIL",
    callback=_check_email,
    help="Also send one newSignup for EMAIL (announced first). Without it nothing is written.",
)
def doctor(  # noqa: PLR0917 - click passes options as parameters
    emulator: bool,
    profile: str | None,
    base_url: str | None,
    campaign_id: str | None,
    timeout: float | None,
    as_json: bool,
    write_probe: str | None,
) -> None:
    """Check keys, network, credentials and every read endpoint; report drift from the guide.

    Reads only, unless --write-probe. Exit 0: every check passed (warnings allowed);
    1: a check failed; 2: usage error.
    """
    if profile is not None and not emulator:
        raise click.UsageError("--profile needs --emulator")
    if campaign_id is not None and emulator:
        try:
            check_campaign_id(campaign_id)
        except InvalidRequestError as exc:
            raise click.BadParameter(exc.message, param_hint="--campaign-id") from None
    report, redactor = asyncio.run(
        run_doctor(
            emulator=emulator,
            profile=profile or "2018",
            base_url=base_url,
            campaign_id=campaign_id,
            write_probe=write_probe,
            timeout=timeout,
        )
    )
    if as_json:
        click.echo(json.dumps(report_dict(report, redactor.redact), indent=2))
    else:
        console = Console(highlight=False, soft_wrap=False)
        if not console.is_terminal and "COLUMNS" not in os.environ:
            console.width = 140
        with console.capture() as capture:
            render_report(report, console, redactor.redact)
        text = capture.get()
        if not console.is_terminal:  # piped: no padding to the table's width
            text = "".join(line.rstrip() + "\n" for line in text.splitlines())
        click.echo(text, nl=False)
    if report.exit_code:
        raise SystemExit(report.exit_code)
