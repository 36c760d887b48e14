"""Benchmarks 1, 2 and 6: the SDK's speed per transport against hand-written code, and bulk.

Calls (``referrerStats``, 64 in flight, rate limiter off, against the fast loopback responder
on its own CPU). Every contender runs in the same event loop, is warmed to its steady state
(`_harness.warm`), then all run in interleaved rounds (`_harness.interleaved`);
each ratio is the median of its per-round ratios, with the spread. Contenders:

* ``raw_aiohttp``: aiohttp alone, no httpx, no SDK (the baseline of (a));
* ``raw_pyreqwest`` / ``httpx_pyreqwest``: pyreqwest alone, and an httpx client on pyreqwest's
  ``HttpxTransport`` (references, when pyreqwest is installed);
* ``sdk_aiohttp``: the SDK with ``transport="aiohttp"`` (a native aiohttp sender since issue
  21: there is no httpx client under it to drive by hand, so raw aiohttp is its hand-written
  loop and the old (1b) is (a));
* ``sdk_httpx``: the SDK on the httpx client it builds; ``sdk_httpx_given`` / ``hand_httpx``:
  the SDK given ``http_client=`` an ``httpx.AsyncClient`` built the same way, and a
  hand-written ``await http.get(url)`` + ``response.json()`` loop on that same client;
* ``sdk_httpx2``: the SDK on the httpx2 stack (httpcore2), when httpx2 is installed;
* ``sdk_pyreqwest``: the SDK on pyreqwest's transport (reads only: its errors are not trusted
  for writes, see ``irefer_async/_transport.py``).

Every call asks about another participant (`PARTICIPANTS`): identical reads in flight share
one request, which would flatter the SDK.

Targets: (a) fastest SDK / raw aiohttp >= 0.5; (c) ``sdk_httpx_given`` / ``hand_httpx``
>= 1.0; (d) fastest SDK / ``sdk_httpx`` >= 5.0.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import quote, urlencode

from irefer_async import IReferClient
from irefer_async.testing import DEFAULT_API_KEY, DEFAULT_CAMPAIGN_ID, DEFAULT_LICENSE_KEY

from . import _harness
from ._harness import CONCURRENCY
from ._servers import emulator_server, fast_server

TRANSPORTS = ("httpx", "aiohttp")


def sdk_client(base_url: str, transport: Any, **options: Any) -> IReferClient:
    """The SDK as a user would build it: 64 in flight, no rate limit, default retries.

    Read sharing stays on (the default): the calls ask about distinct participants, so none
    is shared and each call is one request, priced with sharing's bookkeeping included.
    """
    return IReferClient(
        DEFAULT_LICENSE_KEY,
        DEFAULT_API_KEY,
        campaign_id=DEFAULT_CAMPAIGN_ID,
        base_url=base_url,
        rate_limit=None,
        max_concurrency=CONCURRENCY,
        transport=None if transport in ("httpx", None) else transport,
        **options,
    )


def api_url(base_url: str, method: str, **params: str) -> str:
    """The URL the SDK sends for ``method`` (keys included), built by hand."""
    query = urlencode(
        {"campaign_id": str(DEFAULT_CAMPAIGN_ID), **params, "api_key": DEFAULT_API_KEY},
        quote_via=quote,
        safe="",
    )
    return f"{base_url}{quote(DEFAULT_LICENSE_KEY, safe='')}.js/{method}?{query}"


async def pool(total: int, call: Callable[[], Awaitable[Any]]) -> float:
    """Run ``call`` ``total`` times on 64 workers; return the seconds taken."""
    return total / await _harness.pool(total, call)


def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


#: Distinct participants the calls cycle through: identical reads in flight at once share one
#: request (``share_reads``, on by default), so every call in flight asks about another one.
PARTICIPANTS = 4096


def _emails_cycle() -> list[str]:
    return [f"p{i}@example.com" for i in range(PARTICIPANTS)]


def httpx_client() -> Any:
    """An ``httpx.AsyncClient`` configured as the SDK builds its own (pool of 64, keep-alive 64)."""
    import httpx  # noqa: PLC0415

    return httpx.AsyncClient(
        timeout=httpx.Timeout(10.0, connect=5.0),
        limits=httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY),
    )


async def _contenders(base_url: str, stack: AsyncExitStack) -> dict[str, Any]:
    """Build every contender's one-request callable (clients entered on ``stack``).

    Every contender asks about the next of `PARTICIPANTS` distinct participants: the SDK
    builds the URL itself; the hand-written and raw loops get it pre-built (their cheapest
    path, so the ratios are conservative).
    """
    emails = _emails_cycle()
    urls = [api_url(base_url, "referrerStats", email=email) for email in emails]
    found: dict[str, Any] = {}

    def sdk(client: IReferClient) -> Any:
        turn = itertools.cycle(emails).__next__

        async def call() -> Any:
            return await client.referrer_stats(turn())

        return call

    def hand(http: Any) -> Any:
        turn = itertools.cycle(urls).__next__

        async def call() -> Any:
            response = await http.get(turn())
            response.raise_for_status()
            return response.json()

        return call

    if _available("aiohttp"):
        import aiohttp  # noqa: PLC0415 - optional

        session = await stack.enter_async_context(
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY))
        )
        raw_turn = itertools.cycle(urls).__next__

        async def raw_aiohttp() -> Any:
            async with session.get(raw_turn()) as response:
                return await response.json()

        found["raw_aiohttp"] = raw_aiohttp
        client = await stack.enter_async_context(sdk_client(base_url, "aiohttp"))
        found["sdk_aiohttp"] = sdk(client)
    if _available("pyreqwest"):
        from pyreqwest.client import ClientBuilder  # noqa: PLC0415 - optional
        from pyreqwest.compatibility.httpx import HttpxTransport  # noqa: PLC0415

        reqwest = await stack.enter_async_context(
            ClientBuilder().max_connections(CONCURRENCY).build()
        )
        reqwest_turn = itertools.cycle(urls).__next__

        async def raw_pyreqwest() -> Any:
            response = await reqwest.get(reqwest_turn()).build().send()
            return await response.json()

        found["raw_pyreqwest"] = raw_pyreqwest
        import httpx  # noqa: PLC0415

        over = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=HttpxTransport(ClientBuilder().max_connections(CONCURRENCY).build())
            )
        )
        found["httpx_pyreqwest"] = hand(over)
        sdk_reqwest = await stack.enter_async_context(
            sdk_client(base_url, HttpxTransport(ClientBuilder().max_connections(64).build()))
        )
        found["sdk_pyreqwest"] = sdk(sdk_reqwest)
    # The SDK on the client it builds, and on a client the benchmark built the same way and
    # passes as http_client=, which the hand-written loop drives too (the same client).
    client = await stack.enter_async_context(sdk_client(base_url, "httpx"))
    found["sdk_httpx"] = sdk(client)
    shared_http = await stack.enter_async_context(httpx_client())
    given = await stack.enter_async_context(sdk_client(base_url, None, http_client=shared_http))
    found["sdk_httpx_given"] = sdk(given)
    found["hand_httpx"] = hand(shared_http)
    if _available("httpx2"):
        client = await stack.enter_async_context(sdk_client(base_url, "httpx", http_stack="httpx2"))
        found["sdk_httpx2"] = sdk(client)
    return found


#: The SDK contenders whose "never sent" verdicts are trusted: candidates for "fastest".
_SDK_TRUSTED = ("sdk_aiohttp", "sdk_httpx", "sdk_httpx2")


async def _measure_calls(base_url: str, rounds: int, seconds: float, limit: int) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        contenders = await _contenders(base_url, stack)
        warmed = {name: await _harness.warm(call, limit=limit) for name, call in contenders.items()}
        cpu: dict[str, list[float]] = {}
        rates = await _harness.interleaved(
            contenders, rounds=rounds, seconds=seconds, warmed=warmed, cpu=cpu
        )
    return {"warmed": warmed, "rates": rates, "cpu": cpu}


async def _measure_uvloop(base_url: str, rounds: int, seconds: float, limit: int) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        found = await _contenders(base_url, stack)
        contenders = {k: found[k] for k in ("raw_aiohttp", "sdk_aiohttp") if k in found}
        warmed = {name: await _harness.warm(call, limit=limit) for name, call in contenders.items()}
        rates = await _harness.interleaved(
            contenders, rounds=rounds, seconds=seconds, warmed=warmed
        )
    return {"warmed": warmed, "rates": rates}


_LABELS = {
    "raw_aiohttp": "reference: raw aiohttp, no httpx, no SDK",
    "raw_pyreqwest": "reference: raw pyreqwest, no httpx, no SDK",
    "httpx_pyreqwest": "reference: hand-written loop, httpx over pyreqwest",
    "sdk_aiohttp": 'SDK, transport="aiohttp"',
    "sdk_httpx": "SDK on plain httpx (the client it builds)",
    "sdk_httpx_given": "SDK on plain httpx, given the hand-written loop's client",
    "hand_httpx": "hand-written get()+json(), same client (httpx) (baseline)",
    "sdk_httpx2": 'SDK, http_stack="httpx2"',
    "sdk_pyreqwest": "SDK on pyreqwest HttpxTransport (reads only)",
}


def _result(
    name: str,
    title: str,
    target: float,
    found: dict[str, Any],
    rows: list[str],
    over: tuple[str, str],
    label: str,
) -> dict[str, Any]:
    rates = found["rates"]
    r = _harness.ratio(rates[over[0]], rates[over[1]])
    # The same ratio from the client's CPU per call (inverse), per round: what the client
    # spends, whatever share of the CPU the shared machine gave it during the round.
    cpu = _harness.ratio(found["cpu"][over[1]], found["cpu"][over[0]])
    return {
        "name": name,
        "title": title,
        "unit": "req/s",
        "rows": [{"label": _LABELS.get(k, k), "value": _harness.median(rates[k])} for k in rows],
        "ratio": r["median"],
        "spread": [r["min"], r["max"]],
        "rounds": r["rounds"],
        "ratio_label": label,
        "target": f">= {target}",
        "met": r["median"] >= target,
        "cpu_ratio": cpu,
    }


def run_calls(*, quick: bool = False) -> list[dict[str, Any]]:
    """Benchmarks 1 and 2 against the fast loopback responder."""
    rounds, seconds, limit = (3, 0.4, 4000) if quick else (5, 1.5, 12_000)
    with fast_server() as base_url:
        found = asyncio.run(_measure_calls(base_url, rounds, seconds, limit))
        uvloop = None
        if _available("uvloop"):
            import uvloop as uv  # noqa: PLC0415 - optional

            uvloop = uv.run(_measure_uvloop(base_url, rounds, seconds, limit))
    rates = found["rates"]
    trusted = [k for k in _SDK_TRUSTED if k in rates]
    fastest = max(trusted, key=lambda k: _harness.median(rates[k]))
    references = [k for k in ("raw_aiohttp", "raw_pyreqwest", "httpx_pyreqwest") if k in rates]
    results: list[dict[str, Any]] = []
    if "raw_aiohttp" in rates:
        results.append(_result(
            "fastest_vs_raw_aiohttp", "a. Fastest SDK transport vs raw aiohttp, 64 in flight",
            0.5, found, [*references, *trusted, *(["sdk_pyreqwest"] if "sdk_pyreqwest" in rates
                                                 else [])],
            (fastest, "raw_aiohttp"), f"{fastest} / raw aiohttp"))  # fmt: skip
    results.append(_result(
        "overhead_httpx", "1c. SDK vs a hand-written loop, same client, default httpx transport",
        1.0, found, ["hand_httpx", "sdk_httpx_given", "sdk_httpx"],
        ("sdk_httpx_given", "hand_httpx"),
        "SDK throughput / hand-written"))  # fmt: skip
    results.append(_result(
        "fastest_transport", "2. SDK on its fastest transport vs the SDK on plain httpx",
        5.0, found, ["sdk_httpx", fastest], (fastest, "sdk_httpx"),
        f"throughput {fastest} / sdk_httpx"))  # fmt: skip
    cpu = {k: _harness.median(v) for k, v in found["cpu"].items()}
    for result in results:
        result["warmup"] = dict(found["warmed"])
        result["client_cpu_us_per_call"] = cpu
    if {"raw_aiohttp", "sdk_aiohttp"} <= cpu.keys():
        # Where the CPU of one call goes on the aiohttp transport (µs, client process).
        results[0]["layers_us"] = {
            "aiohttp itself (raw GET + parse)": cpu["raw_aiohttp"],
            "the SDK's aiohttp sender and request loop over raw": (
                cpu["sdk_aiohttp"] - cpu["raw_aiohttp"]
            ),
        }
    if uvloop is not None and "sdk_aiohttp" in uvloop["rates"]:
        r = _harness.ratio(uvloop["rates"]["sdk_aiohttp"], uvloop["rates"]["raw_aiohttp"])
        results[0]["uvloop"] = {
            "sdk_aiohttp": _harness.median(uvloop["rates"]["sdk_aiohttp"]),
            "raw_aiohttp": _harness.median(uvloop["rates"]["raw_aiohttp"]),
            "ratio": r,
        }
    return results


# -- 6. bulk ---------------------------------------------------------------------------


def _emails(prefix: str, count: int) -> Iterator[str]:
    return (f"{prefix}{i}@example.com" for i in range(count))


async def _bulk(base_url: str, transport: str, total: int, rounds: int) -> dict[str, Any]:
    client = sdk_client(base_url, transport)
    # The bare pool's own client, configured as the SDK configures its own.
    if transport == "aiohttp":
        import aiohttp  # noqa: PLC0415 - optional

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY))

        async def get_json(url: str) -> Any:
            async with session.get(url) as response:
                return await response.json(content_type=None)

        close: Callable[[], Awaitable[None]] = session.close
    else:
        http = httpx_client()

        async def get_json(url: str) -> Any:
            return (await http.get(url)).json()

        close = http.aclose
    serial = itertools.count()
    cpu_used = {"hand": float("inf"), "sdk": float("inf")}

    async def hand(count: int) -> float:
        emails = _emails(f"{transport}-hand{next(serial)}-", count)
        failures = 0

        async def worker() -> None:
            nonlocal failures
            for email in emails:
                answer = await get_json(api_url(base_url, "newSignup", email=email))
                if "error" in answer:
                    failures += 1

        started, cpu = time.perf_counter(), time.thread_time()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
        assert failures == 0, failures
        cpu_used["hand"] = min(cpu_used["hand"], time.thread_time() - cpu)
        return elapsed

    async def sdk(count: int) -> float:
        rows = ({"email": email} for email in _emails(f"{transport}-sdk{next(serial)}-", count))
        started, cpu = time.perf_counter(), time.thread_time()
        async with client.bulk_new_signups(rows, concurrency=CONCURRENCY) as run:
            async for _ in run:
                pass
        elapsed = time.perf_counter() - started
        assert run.summary.ok == count, run.summary
        cpu_used["sdk"] = min(cpu_used["sdk"], time.thread_time() - cpu)
        return elapsed

    async with client, contextlib.AsyncExitStack() as closing:
        closing.push_async_callback(close)
        await hand(CONCURRENCY * 4)
        await sdk(CONCURRENCY * 4)
        per_round: dict[str, list[float]] = {"hand": [], "sdk": []}
        cpu_used.update(hand=float("inf"), sdk=float("inf"))
        for number in range(rounds):
            # Interleaved, the order alternating: a disturbance hits both alike.
            order = ("hand", "sdk") if number % 2 == 0 else ("sdk", "hand")
            for key in order:
                per_round[key].append(total / await (hand if key == "hand" else sdk)(total))
    found = _harness.ratio(per_round["sdk"], per_round["hand"])
    rates: dict[str, Any] = {key: _harness.median(v) for key, v in per_round.items()}
    rates["ratio"] = found
    # The client's own CPU per row: what the SDK adds, free of the server's share of the time.
    rates.update({f"cpu_us_{key}": used / total * 1e6 for key, used in cpu_used.items()})
    return rates


def run_bulk(*, quick: bool = False) -> list[dict[str, Any]]:
    """Benchmark 6 against the emulator served by uvicorn in its own process."""
    rounds = 3 if quick else 5
    total = 500 if quick else 1500
    results = []
    with emulator_server() as base_url:
        for name in TRANSPORTS:
            rates = asyncio.run(_bulk(base_url, name, total, rounds))
            ratio = rates["ratio"]["median"]
            results.append(
                {
                    "name": f"bulk_{name}",
                    "title": f"6. Bulk newSignup vs a bare worker pool, emulator, {name}",
                    "unit": "rows/s",
                    "rows": [
                        {"label": "hand-written 64-worker pool (baseline)", "value": rates["hand"]},
                        {"label": "SDK bulk_new_signups(concurrency=64)", "value": rates["sdk"]},
                    ],
                    "ratio": ratio,
                    "spread": [rates["ratio"]["min"], rates["ratio"]["max"]],
                    "rounds": rates["ratio"]["rounds"],
                    "ratio_label": "SDK throughput / bare pool",
                    "target": ">= 0.9",
                    "met": ratio >= 0.9,
                    "client_cpu_us_per_row": {
                        "hand": rates["cpu_us_hand"],
                        "sdk": rates["cpu_us_sdk"],
                    },
                }
            )
    return results
