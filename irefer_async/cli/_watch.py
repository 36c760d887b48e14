"""``irefer watch``: poll a campaign and hand each change on, as a command or a signed webhook.

Per event, one of:

* ``--exec CMD``: run ``CMD`` (through the shell) with the event as one JSON line on its
  stdin; exit status 0 acknowledges. The child's environment has ``IREFER_EVENT_ID`` and
  ``IREFER_EVENT_TYPE`` and none of the iRefer credentials or the webhook secret.
* ``--forward URL``: POST the event's JSON, signed in the Standard Webhooks format
  (``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64>``; the
  ``whsec_...`` secret from ``--secret-env``); a 2xx acknowledges.
* neither: print the event's JSON line on stdout (acknowledged once written).

A failed attempt is retried with exponential backoff (``--attempts``, ``--max-backoff``);
after the last one the event goes to the dead-letter file (JSON lines) and is acknowledged.
stdout carries one JSON line per event handled (``{"id", "type", "status", "attempts"}``, or
the event itself when printing); stderr the progress (``{"event": "poll", ...}`` lines).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

import attrs
import click
import httpx
from rich.console import Console

from irefer_async import ConfigurationError, IReferError, __version__
from irefer_async.feed import (
    EVENT_TYPES,
    FeedEvent,
    PollReport,
    RewardFeed,
    SQLiteFeedStore,
    StoreLockedError,
    check_secret,
    sign_payload,
)

from . import _console, _exit, _make_target, _run, target_options, timeout_option
from ._target import Target, build_client, is_loopback
from ._words import count

__all__ = ["WatchOptions", "run_watch", "watch"]

#: Environment variables never passed to an ``--exec`` command.
_SECRET_ENV = ("IREFER_LICENSE_KEY", "IREFER_API_KEY")
#: Requests one poll makes at least (one per list endpoint).
REQUESTS_PER_POLL = 3


@attrs.frozen
class WatchOptions:
    """Everything ``irefer watch`` was asked to do."""

    target: Target
    store: Path
    redis_url: str | None = None
    feed_name: str = "default"
    interval: float = 60.0
    jitter: float = 0.1
    once: bool = False
    replay: bool = False
    types: tuple[str, ...] = ()
    exec_cmd: str | None = None
    exec_timeout: float = 60.0
    forward: str | None = None
    secret_env: str = "IREFER_WEBHOOK_SECRET"  # noqa: S105 - a variable name, not a secret
    attempts: int = 8
    min_backoff: float = 0.5
    max_backoff: float = 60.0
    dead_letter: Path | None = None
    rate: float | str | None = "default"
    progress: str = "auto"
    #: Seconds to wait out another process holding the SQLite store's lock.
    lock_timeout: float = 60.0
    #: Seconds an event handed out and not acknowledged stays with this watcher (None: the
    #: longest delivery, retries included: `default_lease`).
    lease: float | None = None
    #: Redis store: seconds a poller may go without writing before another takes over.
    poll_lock: float = 60.0
    #: Stop after this many polls (tests; None: until SIGTERM).
    max_polls: int | None = None


class _Stats:
    def __init__(self) -> None:
        self.polls = 0
        self.acked = 0
        self.dead = 0
        self.retries = 0


def default_lease(attempts: int, max_backoff: float, exec_timeout: float) -> float:
    """Return ``--lease``'s default: the longest one event's delivery may take.

    ``attempts x (max_backoff + exec_timeout)``: every attempt may run its whole timeout
    (``--exec-timeout``; a ``--forward`` POST gives up sooner) and wait the longest backoff
    after it. 960 s with the defaults (8 x (60 + 60)).
    """
    return attempts * (max_backoff + exec_timeout)


def _backoff(options: WatchOptions, failures: int) -> float:
    base = min(options.max_backoff, options.min_backoff * 2 ** (failures - 1))
    return float(base * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not a secret


class _Deliverer:
    """One way of handing an event on; returns None on success, else why it failed."""

    def __init__(self, options: WatchOptions, out: IO[str]) -> None:
        self.options = options
        self.out = out
        self.http: httpx.AsyncClient | None = None
        self.secret: str | None = None
        if options.forward is not None:
            value = os.environ.get(options.secret_env)
            if not value:
                raise ConfigurationError(
                    f"--forward needs the webhook secret in the environment variable "
                    f"{options.secret_env} (it is not set or empty)"
                )
            try:
                check_secret(value)
            except IReferError as exc:
                raise ConfigurationError(f"{options.secret_env}: {exc}") from None
            self.secret = value
            self.http = httpx.AsyncClient(timeout=10.0, headers={
                "user-agent": f"irefer-async/{__version__} (irefer watch)",
            })  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k not in _SECRET_ENV}
        env.pop(options.secret_env, None)
        self._env = env

    async def aclose(self) -> None:
        if self.http is not None:
            await self.http.aclose()

    async def __call__(self, event: FeedEvent[Any], body: str) -> str | None:
        if self.options.exec_cmd is not None:
            return await self._exec(event, body)
        if self.options.forward is not None:
            return await self._post(event, body)
        self.out.write(body + "\n")
        self.out.flush()
        return None

    async def _exec(self, event: FeedEvent[Any], body: str) -> str | None:
        assert self.options.exec_cmd is not None
        env = {**self._env, "IREFER_EVENT_ID": event.id, "IREFER_EVENT_TYPE": event.type}
        proc = await asyncio.create_subprocess_shell(
            self.options.exec_cmd, stdin=asyncio.subprocess.PIPE, env=env,
            stdout=2,  # our stdout carries the JSON lines: the command writes to stderr
        )  # fmt: skip
        try:
            await asyncio.wait_for(proc.communicate((body + "\n").encode()),
                                   self.options.exec_timeout)  # fmt: skip
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            return f"--exec timed out after {self.options.exec_timeout:g} s"
        return None if proc.returncode == 0 else f"--exec exited with {proc.returncode}"

    async def _post(self, event: FeedEvent[Any], body: str) -> str | None:
        assert self.http is not None
        assert self.secret is not None
        assert self.options.forward
        payload = body.encode()
        headers = {
            "content-type": "application/json",
            # The same webhook-id on every attempt (receivers dedup on it), a fresh timestamp.
            **sign_payload(payload, self.secret, msg_id=event.id),
        }
        try:
            response = await self.http.post(self.options.forward, content=payload,
                                             headers=headers)  # fmt: skip
        except httpx.HTTPError as exc:
            return f"--forward: {type(exc).__name__}"
        if 200 <= response.status_code < 300:
            return None
        return f"--forward: HTTP {response.status_code}"


def _emit(stream: IO[str], record: dict[str, Any]) -> None:
    stream.write(json.dumps(record) + "\n")
    stream.flush()


async def _handle(  # noqa: PLR0917 - one call site, all needed
    feed: RewardFeed, event: FeedEvent[Any], deliver: _Deliverer, options: WatchOptions,
    stats: _Stats, out: IO[str], dead_letter: Path,
) -> None:  # fmt: skip
    body = event.to_json()
    why: str | None = None
    for attempt in range(1, options.attempts + 1):
        why = await deliver(event, body)
        if why is None:
            await feed.ack(event)
            stats.acked += 1
            if options.exec_cmd is not None or options.forward is not None:
                _emit(out, {"id": event.id, "type": event.type, "status": "acked",
                            "attempts": attempt})  # fmt: skip
            return
        if attempt < options.attempts:
            stats.retries += 1
            await asyncio.sleep(_backoff(options, attempt))
    # Written (and flushed to disk) before the ack: a crash in between dead-letters it twice
    # (same id), never zero times.
    with dead_letter.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"event": event.as_dict(), "error": why,
                             "attempts": options.attempts}) + "\n")  # fmt: skip
        fh.flush()
        os.fsync(fh.fileno())
    await feed.ack(event)
    stats.dead += 1
    _emit(out, {"id": event.id, "type": event.type, "status": "dead_letter",
                "attempts": options.attempts, "error": why})  # fmt: skip


def _check(options: WatchOptions) -> None:
    if options.exec_cmd is not None and options.forward is not None:
        raise ConfigurationError("--exec and --forward exclude each other: pick one")
    if options.forward is not None and not options.forward.startswith(("http://", "https://")):
        raise ConfigurationError("--forward needs an http:// or https:// URL")
    rate = options.rate
    if isinstance(rate, (int, float)) and rate > 0 and options.interval * rate < REQUESTS_PER_POLL:
        raise ConfigurationError(
            f"--interval {options.interval:g} s is too short for --rate {rate:g}/s: a poll makes "
            f"at least {REQUESTS_PER_POLL} requests (use --interval >= "
            f"{REQUESTS_PER_POLL / rate:g})"
        )
    if options.rate == "default" and options.interval < REQUESTS_PER_POLL / 5.0:
        raise ConfigurationError(
            f"--interval must be >= {REQUESTS_PER_POLL / 5.0:g} s at the client's default 5/s"
        )


def _make_store(options: WatchOptions, on_wait: Callable[[str], None]) -> Any:
    if options.redis_url is None:
        return SQLiteFeedStore(options.store, lock_timeout=options.lock_timeout, on_wait=on_wait)
    try:
        import redis.asyncio as aioredis  # noqa: PLC0415 - optional extra
    except ImportError:
        raise ConfigurationError("--redis needs redis: pip install 'irefer-async[redis]'") from None
    from irefer_async.redis import RedisFeedStore  # noqa: PLC0415

    return RedisFeedStore(aioredis.Redis.from_url(options.redis_url), name=options.feed_name,
                          poll_lock=options.poll_lock)  # fmt: skip


def _progress_line(report: PollReport, stats: _Stats, pending: int) -> dict[str, Any]:
    return {"event": "poll", **report.as_dict(), "acked": stats.acked,
            "dead_letter": stats.dead, "retries": stats.retries, "pending": pending}  # fmt: skip


class _Progress:
    """Poll lines: JSON on stderr, a sentence on a terminal, or nothing."""

    def __init__(self, mode: str, console: Console, stats: _Stats) -> None:
        self.mode = "bar" if mode == "auto" and console.is_terminal else mode
        if self.mode == "auto":
            self.mode = "json"
        self.console = console
        self.stats = stats

    def poll(self, result: PollReport, pending: int) -> None:
        stats = self.stats
        stats.polls += 1
        if self.mode == "json":
            _emit(sys.stderr, _progress_line(result, stats, pending))
        elif self.mode == "bar":
            self.console.print(
                f"poll {result.generation}: {count(sum(result.rows.values()), 'row')}, "
                f"{count(result.total_events, 'new event')}, {stats.acked} delivered, "
                f"{stats.dead} dead-lettered ({result.seconds:.2f} s)",
                highlight=False,
            )

    def summary(self, pending: int) -> None:
        stats = self.stats
        if self.mode == "json":
            _emit(sys.stderr, {"event": "summary", "polls": stats.polls, "acked": stats.acked,
                               "dead_letter": stats.dead, "retries": stats.retries,
                               "pending": pending})  # fmt: skip

    def store_waiting(self, message: str) -> None:
        """One line when the store is locked by another process and the watcher waits."""
        if self.mode == "json":
            _emit(sys.stderr, {"event": "store_locked", "message": message})
        elif self.mode == "bar":
            self.console.print(message, highlight=False, markup=False)

    def failed(self, exc: IReferError) -> None:
        self.stats.polls += 1
        if self.mode != "none":
            _emit(sys.stderr, {"event": "poll_failed", "error": str(exc),
                               "error_type": type(exc).__name__})  # fmt: skip


async def _forever(
    feed: RewardFeed, options: WatchOptions, progress: _Progress,
    handle: Callable[[FeedEvent[Any]], Awaitable[None]],
) -> None:  # fmt: skip
    """Deliver what is pending; poll at the interval; until SIGTERM (or ``max_polls``)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # not on every platform
        # Stop between events: the one in hand is finished and acknowledged first.
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
    next_poll = 0.0
    unreported: PollReport | None = None
    while not stop.is_set():
        event = await feed.next_event(poll=False)
        if event is not None:
            await handle(event)
            continue
        if unreported is not None:
            # Written once the poll's events are handed on, so it reads "6 acked, 0 pending",
            # not "0 acked, 6 pending" a moment before the deliveries.
            progress.poll(unreported, await feed.store.outbox_size())
            unreported = None
        delay = next_poll - loop.time()
        if delay > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            continue
        if options.max_polls is not None and progress.stats.polls >= options.max_polls:
            return
        next_poll = loop.time() + feed.next_delay()
        try:
            unreported = await feed.poll()
        except StoreLockedError:
            raise  # the store stayed locked past --lock-timeout: a clear message, exit 2
        except IReferError as exc:  # the API failed past its retries: try at the next poll
            progress.failed(exc)
            continue
    if unreported is not None:  # stopped before delivering all of the last poll's events
        progress.poll(unreported, await feed.store.outbox_size())


def _lease(options: WatchOptions) -> float:
    if options.lease is not None:
        return options.lease
    return default_lease(options.attempts, options.max_backoff, options.exec_timeout)


async def run_watch(options: WatchOptions, console: Console, out: IO[str] | None = None) -> int:
    """Run ``irefer watch``; returns the exit code (0, or 1 if an event was dead-lettered)."""
    _check(options)
    sink: IO[str] = out if out is not None else sys.stdout
    deliver = _Deliverer(options, sink)
    dead_letter = options.dead_letter or options.store.with_name(
        options.store.name + ".dead-letter.jsonl"
    )
    client, _ = build_client(options.target, rate=options.rate)
    stats = _Stats()
    progress = _Progress(options.progress, console, stats)
    store = _make_store(options, progress.store_waiting)
    feed = RewardFeed(
        client, store=store, interval=options.interval, jitter=options.jitter,
        replay=options.replay, types=options.types or None, lease=_lease(options),
    )  # fmt: skip

    async def handle(event: FeedEvent[Any]) -> None:
        await _handle(feed, event, deliver, options, stats, sink, dead_letter)

    try:
        async with client, feed:
            if options.once:
                result = await feed.poll()
                while (event := await feed.next_event(poll=False)) is not None:
                    await handle(event)
                progress.poll(result, await feed.store.outbox_size())  # after the deliveries
            else:
                await _forever(feed, options, progress, handle)
            progress.summary(await feed.store.outbox_size())
            return 1 if stats.dead else 0
    finally:
        await deliver.aclose()
        if options.redis_url is not None:
            await store.redis.aclose()


@click.command("watch")
@target_options
@timeout_option
@click.option(
    "--store",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("irefer-feed.sqlite"),
    show_default=True,
    help="SQLite file keeping the snapshot and the events not yet acknowledged.",
)
@click.option(
    "--redis",
    "redis_url",
    envvar="IREFER_FEED_REDIS",
    help="Keep the state in Redis instead, shared by several watchers [env IREFER_FEED_REDIS].",
)
@click.option(
    "--feed-name",
    default="default",
    show_default=True,
    help="The feed's name in Redis (watchers of one feed share it).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds between polls.",
)
@click.option(
    "--jitter",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.1,
    show_default=True,
    help="Random spread of the interval, as a fraction.",
)
@click.option("--once", is_flag=True, help="Poll once, deliver what is pending, exit (for cron).")
@click.option(
    "--replay",
    is_flag=True,
    help="On a new store, deliver the rows already there as events (default: baseline).",
)
@click.option(
    "--type",
    "types",
    multiple=True,
    type=click.Choice(EVENT_TYPES),
    help="Only events of this type (repeatable; default: all).",
)
@click.option(
    "--exec",
    "exec_cmd",
    metavar="CMD",
    help="Run CMD per event, the event's JSON on stdin; exit 0 acknowledges.",
)
@click.option(
    "--exec-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds an --exec command may run.",
)
@click.option(
    "--forward",
    metavar="URL",
    help="POST each event to URL, signed as a Standard Webhook (webhook-signature: v1,...).",
)
@click.option(
    "--secret-env",
    default="IREFER_WEBHOOK_SECRET",
    show_default=True,
    help="Environment variable holding the --forward signing secret (whsec_<base64>).",
)
@click.option(
    "--attempts",
    type=click.IntRange(1, 100),
    default=8,
    show_default=True,
    help="Attempts per event before the dead-letter file.",
)
@click.option(
    "--max-backoff",
    type=click.FloatRange(0),
    default=60.0,
    show_default=True,
    help="Longest wait between two attempts, in seconds.",
)
@click.option(
    "--dead-letter",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Dead-letter file (JSON lines) [default: STORE.dead-letter.jsonl].",
)
@click.option(
    "--rate",
    type=click.FloatRange(0),
    default=None,
    help="Requests per second (0: unlimited) "
    "[default: 5; none with --emulator or a loopback --base-url].",
)
@click.option(
    "--lease",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds before an event handed out and not acknowledged is handed out again "
    "(with --redis: to another watcher). Keep it above the longest delivery, retries "
    "included [default: --attempts x (--max-backoff + --exec-timeout): 960 with the "
    "defaults].",
)
@click.option(
    "--poll-lock",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="With --redis: seconds a watcher that died while polling holds the poll.",
)
@click.option(
    "--lock-timeout",
    type=click.FloatRange(0),
    default=60.0,
    show_default=True,
    help="Seconds to wait out another process locking the SQLite --store before giving up.",
)
@click.option(
    "--progress",
    type=click.Choice(["auto", "bar", "json", "none"]),
    default="auto",
    show_default=True,
    help="Poll lines: text on a terminal, JSON lines on stderr.",
)
def watch(**kw: Any) -> None:
    """Poll the campaign and turn each change into an event: printed, --exec'd or --forward'ed.

    Events: reward.triggered, participant.joined, referral.credited, action.recorded,
    participant.unlisted. Delivery is at-least-once; receivers dedup by the event's "id".
    """
    rate: float | str | None = kw["rate"] or None
    # Like import: the default limit protects the real API, not an emulator on this machine.
    if kw["rate"] is None and not kw["emulator"] and not is_loopback(kw["base_url"]):
        rate = "default"
    options = WatchOptions(
        target=_make_target(kw["emulator"], kw["base_url"], kw["campaign_id"], kw["timeout"]),
        store=kw["store"], redis_url=kw["redis_url"], feed_name=kw["feed_name"],
        interval=kw["interval"], jitter=kw["jitter"], once=kw["once"], replay=kw["replay"],
        types=tuple(kw["types"]), exec_cmd=kw["exec_cmd"], exec_timeout=kw["exec_timeout"],
        forward=kw["forward"], secret_env=kw["secret_env"], attempts=kw["attempts"],
        max_backoff=kw["max_backoff"], dead_letter=kw["dead_letter"], rate=rate,
        progress=kw["progress"], lock_timeout=kw["lock_timeout"], lease=kw["lease"],
        poll_lock=kw["poll_lock"],
    )  # fmt: skip
    _exit(_run(run_watch(options, _console())))
