"""The sync client under many threads, inside a running loop, and across a fork."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
from _sync_served import in_thread, served
from _sync_support import emulator_options, sync_client

import irefer_async
import irefer_async.hooks
from irefer_async import correlation_scope
from irefer_async.sync import IReferClient
from irefer_async.testing import Emulator, WriteEffect


def test_eight_threads_times_a_hundred_calls(emulator: Emulator) -> None:
    """8 threads x 100 calls (writes and reads) on one client: every result right, no warning,
    one loop thread for all of them."""
    before = threading.active_count()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with sync_client(emulator, max_concurrency=4) as client:
            assert threading.active_count() == before  # the loop starts on the first call
            client.campaign_stats()
            assert threading.active_count() == before + 1

            def work(thread: int) -> list[tuple[str, int]]:
                seen = []
                for n in range(50):
                    email = f"t{thread}-{n}@example.com"
                    signup = client.new_signup(email)
                    stats = client.referrer_stats(email)
                    seen.append((signup.email, stats.referrals_made))
                    assert stats.email == email
                return seen

            with ThreadPoolExecutor(8) as pool:
                results = list(pool.map(work, range(8)))
    assert [len(r) for r in results] == [50] * 8
    assert all(made == 0 for r in results for _, made in r)
    assert emulator.journal.count(WriteEffect.PARTICIPANT_CREATED) == 400
    assert len(emulator.journal) == 801
    assert caught == []
    assert threading.active_count() == before  # close() stopped the loop's thread


async def test_inside_a_running_loop(emulator: Emulator) -> None:
    """Called from a coroutine (as in a Jupyter cell), the client works: it never uses the
    caller's loop, where ``asyncio.run`` would fail."""
    asyncio.get_running_loop()
    with sync_client(emulator) as client:
        assert client.new_signup("ann@example.com").email == "ann@example.com"
        assert [r.email for r in client.iter_referrers()] == ["ann@example.com"]


def test_context_variables_follow_the_call(emulator: Emulator) -> None:
    """A correlation id set around a sync call reaches the call's events."""
    events: list[irefer_async.CallEvent] = []
    hooks: irefer_async.EventHooks = {"request": [events.append]}
    with sync_client(emulator, event_hooks=hooks) as client, correlation_scope("req-42"):
        client.campaign_stats()
    assert [e.correlation_id for e in events] == ["req-42"]


def test_calling_from_its_own_loop_is_refused(emulator: Emulator) -> None:
    """A sync call from the client's own loop (an event hook) raises instead of deadlocking."""
    errors: list[BaseException] = []
    client: IReferClient | None = None

    def hook(event: irefer_async.CallEvent) -> None:
        assert client is not None
        try:
            client.campaign_stats()
        except irefer_async.ClientStateError as exc:
            errors.append(exc)

    client = sync_client(emulator, event_hooks={"request": [hook]}, share_reads=False)
    with client:
        client.campaign_stats()
    assert len(errors) == 1


def test_close_waits_for_calls_in_flight_and_then_refuses(emulator: Emulator) -> None:
    """close() lets a call in flight finish; later calls raise `ClientStateError`."""
    emulator.inject_fault(irefer_async.testing.Fault("latency", delay=0.2), method="newSignup")
    client = sync_client(emulator)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(client.new_signup, "ann@example.com")
        while not len(emulator.journal):
            pass
        client.close()
        assert pending.result().email == "ann@example.com"
    assert client.is_closed
    with pytest.raises(irefer_async.ClientStateError):
        client.campaign_stats()
    client.close()  # idempotent


def test_abandoned_stream_is_closed_on_its_loop(emulator: Emulator) -> None:
    """A stream dropped half-read releases its concurrency slot (finaliser on the loop)."""
    emulator.seed_participants(10)
    with sync_client(emulator, max_concurrency=1) as client:
        stream = client.iter_referrers()
        next(stream)
        del stream
        # The one slot is free again: this call would wait for its deadline otherwise.
        assert client.campaign_stats().signups_total == 10


@pytest.mark.system
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_starts_afresh(emulator: Emulator) -> None:
    """After a fork, the child's calls run on a new loop and pool (the parent's are never
    touched: the parent keeps using its connection afterwards); no warning in either."""
    with in_thread(served(emulator)) as url:
        options = emulator_options(emulator, base_url=url)
        del options["transport"]  # the SDK's own pool: real sockets, shared by a fork
        client = IReferClient(**options)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.filterwarnings(
                "ignore", "This process .* is multi-threaded", DeprecationWarning
            )
            assert client.new_signup("parent@example.com").email == "parent@example.com"
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: report, never return into pytest
                code = 1
                try:
                    with warnings.catch_warnings(record=True) as child_caught:
                        warnings.simplefilter("always")
                        signup = client.new_signup("child@example.com")
                        stats = client.referrer_stats("parent@example.com")
                        client.close()
                    report = {
                        "email": signup.email,
                        "parent_seen": stats.email,
                        "warnings": [str(w.message) for w in child_caught],
                    }
                    os.write(write, json.dumps(report).encode())
                    code = 0
                finally:
                    os._exit(code)
            os.close(write)
            _, status = os.waitpid(pid, 0)
            report = json.loads(os.read(read, 65536) or b"{}")
            os.close(read)
            assert os.waitstatus_to_exitcode(status) == 0, report
            assert report == {
                "email": "child@example.com",
                "parent_seen": "parent@example.com",
                "warnings": [],
            }
            # The parent's client, pool and loop still work after the child used its own.
            assert client.referrer_stats("child@example.com").email == "child@example.com"
            client.close()
        assert [str(w.message) for w in caught] == []
    assert emulator.journal.count(WriteEffect.PARTICIPANT_CREATED) == 2
    assert sys.platform != "win32"


def test_streams_and_runs_after_close(emulator: Emulator) -> None:
    """After the client's close, a stream's next raises `ClientStateError` (no hang, no
    CancelledError), its close does nothing, and a bulk run's summary is still readable."""
    emulator.seed_participants(5)
    client = sync_client(emulator)
    stream = client.iter_referrers()
    next(stream)
    with client.bulk_new_signups([{"email": "a@example.com"}]) as run:
        outcomes = list(run)
    client.close()
    with pytest.raises(irefer_async.ClientStateError):
        next(stream)
    stream.close()
    run.close()
    assert (len(outcomes), run.summary.ok) == (1, 1)


def test_bad_arguments_raise_at_construction_and_no_thread_starts(emulator: Emulator) -> None:
    before = threading.active_count()
    with pytest.raises(irefer_async.IReferError):
        sync_client(emulator, max_concurrency=0)
    client = sync_client(emulator)
    assert threading.active_count() == before
    assert client.campaign_id == 2605 and "sync IReferClient" in repr(client)
    client.close()  # never used: closes without a call
    assert threading.active_count() == before


@pytest.mark.system
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
# 3.12+ warns on fork in a threaded process: the threads are pytest-timeout's watchdog (the
# test itself checks the client started none before the fork).
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_client_never_used_before_the_fork_works_in_the_child(emulator: Emulator) -> None:
    """Created at import, first used in the worker (Celery's pattern): the child uses the
    client as built (even an injected transport), and the parent forked with no loop thread."""
    client = sync_client(emulator)
    before = threading.active_count()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.write(write, client.new_signup("child@example.com").email.encode())
            client.close()
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    answer = os.read(read, 1024)
    os.close(read)
    assert (os.waitstatus_to_exitcode(status), answer) == (0, b"child@example.com")
    assert threading.active_count() == before
    client.close()


def test_streams_from_many_threads_share_the_cap(emulator: Emulator) -> None:
    """Four threads stream the list at once through a client capped at 2 in flight: each
    gets every row (a stream holds its slot until it ends, the others wait their turn)."""
    emulator.seed_participants(30)
    with sync_client(emulator, max_concurrency=2) as client:

        def read(_: int) -> int:
            return sum(1 for _ in client.iter_referrers())

        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(read, range(4))) == [30] * 4
        assert client.waiting == 0


def test_bulk_without_with(emulator: Emulator) -> None:
    """A bulk run iterated without ``with`` starts on the first ``next`` and ends by itself."""
    with sync_client(emulator) as client:
        run = client.bulk_new_signups({"email": f"r{n}@example.com"} for n in range(5))
        assert sorted(outcome.index for outcome in run) == [0, 1, 2, 3, 4]
        assert run.summary.ok == 5


@pytest.mark.system
@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
def test_ctrl_c_cancels_the_call_on_the_loop(emulator: Emulator) -> None:
    """Ctrl-C while a call waits: KeyboardInterrupt reaches the caller at once, the call's task
    is cancelled on the loop (nothing left running), and the client stays usable."""
    emulator.inject_fault(irefer_async.testing.Fault("latency", delay=30.0), method="campaignStats")
    with sync_client(emulator) as client:
        main = threading.get_ident()
        timer = threading.Timer(0.3, signal.pthread_kill, (main, signal.SIGINT))
        timer.start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            client.campaign_stats()
        assert time.monotonic() - started < 10
        timer.join()
        emulator.clear_faults()
        assert client.new_signup("ann@example.com").email == "ann@example.com"
