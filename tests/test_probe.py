"""probe_client(client) / irefer doctor's checks: against the emulator, its profiles, and broken setups.

Loopback only: the unreachable host is a ``.invalid`` name (never resolves) and a closed port.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fake_service import fake_service, proxy_error_page

from irefer_async import IReferClient
from irefer_async.doctor import CheckStatus, DriftRecorder, ProbeReport
from irefer_async.doctor._probe import check_configuration, check_network, probe_client
from irefer_async.testing import Emulator
from irefer_async.testing.__main__ import seed_demo

LICENSE = "W4qL9f8Qz2Xk7Lm3Np5Rt1Vw6Yb4Hc0J"
API_KEY = "k9XqT3vZ8pL2wR7m"
FAIL, WARN, PASS, SKIP = CheckStatus.FAIL, CheckStatus.WARN, CheckStatus.PASS, CheckStatus.SKIP


def _emulator(profile: str = "2018") -> Emulator:
    import attrs

    from irefer_async.testing import DEFAULT_CAMPAIGN

    spec = attrs.evolve(DEFAULT_CAMPAIGN, license_key=LICENSE, api_key=API_KEY)
    emulator = Emulator(seed=0, campaigns=[spec], profile=profile)
    seed_demo(emulator)
    return emulator


def _statuses(report: ProbeReport) -> dict[str, CheckStatus]:
    return {c.name: c.status for c in report.checks}


def _not_passing(report: ProbeReport) -> dict[str, CheckStatus]:
    return {c.name: c.status for c in report.checks if c.status in (FAIL, WARN)}


def assert_no_secret(report: ProbeReport) -> None:
    text = json.dumps(report.as_dict())
    for secret in (LICENSE, API_KEY):
        for i in range(len(secret) - 5):
            assert secret[i : i + 6] not in text, secret[i : i + 6]
    assert "ann@example.com" not in text and "friend1@example.com" not in text


async def test_every_check_passes_against_the_emulator() -> None:
    """The default emulator (the 2018 guide) passes everything; nothing is written."""
    emulator = _emulator()
    async with emulator.client(decode_observer=DriftRecorder()) as client:
        report = await probe_client(client)
    assert report.ok and report.exit_code == 0
    assert _not_passing(report) == {}
    names = {c.name for c in report.checks}
    for method in (
        "campaignStats",
        "referrerStats",
        "referrers",
        "rewards",
        "specificActionSignups",
    ):
        assert _statuses(report)[f"endpoint.{method}"] is PASS
    assert {"credentials", "drift", "timing.latency", "write.newSignup"} <= names
    assert _statuses(report)["write.newSignup"] is SKIP
    assert all(e.method != "newSignup" for e in emulator.journal)
    assert report.unexpected_drift == ()
    assert_no_secret(report)


async def test_the_clients_drift_counts_include_the_probes_reads() -> None:
    """client.decode_observer and the report come from the same recorder: the real decoding path."""
    emulator = _emulator()
    async with emulator.client(decode_observer=DriftRecorder()) as client:
        report = await probe_client(client)
        assert client.decode_observer is not None
        assert client.decode_observer.entries() == report.drift
        assert client.decode_observer.objects["Referrer"] == 8


async def test_the_2019_profile_fails_exactly_the_removed_endpoints() -> None:
    """specificActionSignups fails; with a write probe, newSignup fails as gone; nothing else."""
    emulator = _emulator("2019")
    async with emulator.client() as client:
        report = await probe_client(client, write_probe="probe@example.com")
    assert _not_passing(report) == {"endpoint.specificActionSignups": FAIL, "write.newSignup": FAIL}
    assert "although the same keys work" in report.check("endpoint.specificActionSignups").summary
    assert "404" in report.check("write.newSignup").summary
    assert report.exit_code == 1


async def test_the_drifted_profile_reports_exactly_its_three_drifts() -> None:
    """The extra, the renamed (unknown + missing) and the stringified field; nothing else."""
    emulator = _emulator("drifted")
    async with emulator.client() as client:
        report = await probe_client(client)
    found = {(e.path, e.kind.value, e.detail) for e in report.unexpected_drift}
    assert found == {
        ("CampaignStats.instagram_referrals", "unknown_field", ""),
        ("Referrer.referral_count", "unknown_field", ""),
        ("Referrer.referrals_count", "missing_field", ""),
        ("ReferrerStats.referrals_made", "quirk", "numeric string"),
    }
    assert _not_passing(report) == {"drift": WARN}
    examples = {e.path: e.example for e in report.unexpected_drift}
    assert examples["ReferrerStats.referrals_made"] == '"0"'
    assert_no_secret(report)


async def test_a_write_probe_is_announced_before_it_is_sent() -> None:
    """The announcement comes first, with the address redacted; then one signup."""
    emulator = _emulator()
    said: list[tuple[str, int]] = []
    async with emulator.client() as client:
        report = await probe_client(
            client,
            write_probe="probe.user@example.com",
            announce=lambda line: said.append((line, len(emulator.journal))),
        )
    ((line, journal_then),) = said
    assert "newSignup" in line and "probe.user@example.com" not in line and "pr***@ex***" in line
    signups = [e for e in emulator.journal if e.method == "newSignup"]
    assert len(signups) == 1 and signups[0].seq > journal_then
    assert report.check("write.newSignup").status is PASS


async def test_a_wrong_api_key_is_named_in_one_line_and_says_what_it_cannot_tell() -> None:
    """iRefer answers the same for each wrong credential: the report says so."""
    emulator = _emulator()
    async with emulator.client(api_key="wrong-key") as client:
        report = await probe_client(client)
    check = report.check("credentials")
    assert check.status is FAIL
    assert "\n" not in check.summary
    assert "license key, api key or campaign id is wrong" in check.summary
    assert "cannot say which" in check.summary
    assert report.first_failure is not None and report.first_failure.startswith("credentials")


async def test_an_api_key_that_is_a_license_key_is_named() -> None:
    """Where the configuration tells, the credentials line names the culprit."""
    config = check_configuration(
        license_key=LICENSE, api_key="W4qL" + "b" * 28, base_url=None, campaign_id=2605
    )
    emulator = _emulator()
    async with emulator.client(api_key="W4qL" + "b" * 28) as client:
        report = await probe_client(client, config=config, network=False)
    assert "looks like a license key" in report.check("credentials").summary


async def test_an_unresolvable_host_is_named_in_one_line() -> None:
    """DNS fails: the network check and every endpoint say so, without a traceback."""
    client = IReferClient(
        LICENSE,
        API_KEY,
        campaign_id=2605,
        retry=None,
        timeout=2,
        base_url="https://api.irefer.invalid/v1.0/",
    )
    async with client:
        report = await probe_client(client)
    dns = report.check("network.dns")
    assert dns.status is FAIL and "cannot resolve api.irefer.invalid" in dns.summary
    assert report.check("network.tcp").status is SKIP
    assert [c.name for c in report.failures] == ["network.dns", "endpoint.campaignStats"]
    assert "\n" not in report.check("endpoint.campaignStats").summary
    assert report.check("endpoint.referrers").status is SKIP  # one cause, named once
    assert_no_secret(report)


async def test_a_refused_port_is_named_in_one_line() -> None:
    """Nothing listens: TCP fails with the host and port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = IReferClient(
        LICENSE, API_KEY, campaign_id=2605, retry=None, base_url=f"http://127.0.0.1:{port}/v1.0/"
    )
    async with client:
        report = await probe_client(client)
    tcp = report.check("network.tcp")
    assert tcp.status is FAIL and f"cannot connect to 127.0.0.1:{port}" in tcp.summary
    assert report.check("network.dns").status is PASS
    assert [c.name for c in report.failures] == ["network.tcp", "endpoint.campaignStats"]
    assert_no_secret(report)


async def test_a_404_base_url_is_named_in_one_line() -> None:
    """Every endpoint 404s: one check says the base URL is not the API root."""
    emulator = _emulator()
    async with emulator.serve() as url:
        wrong = url.replace("/v1.0/", "/api/v2/")
        async with emulator.client(base_url=wrong, transport=None, retry=None) as client:
            report = await probe_client(client)
    check = report.check("config.base_url_answers")
    assert check.status is FAIL
    assert "every endpoint answered HTTP 404" in check.summary and "/api/v2/" in check.summary
    assert report.check("network.tcp").status is PASS
    assert report.check("timing.clock").status is PASS  # uvicorn sends Date
    assert_no_secret(report)


async def test_a_proxy_error_page_is_named_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """An HTML 502 from the proxy in HTTP_PROXY, quoting the request (keys and all)."""
    async with fake_service(proxy_error_page) as port:
        monkeypatch.setenv("HTTP_PROXY", f"http://user:pw@127.0.0.1:{port}")
        client = IReferClient(
            LICENSE,
            API_KEY,
            campaign_id=2605,
            retry=None,
            base_url="http://api.irefer.example/v1.0/",
        )
        async with client:
            report = await probe_client(client)
    stats = report.check("endpoint.campaignStats")
    assert stats.status is FAIL
    assert "an HTML page (HTTP 502, '502 Bad Gateway')" in stats.summary
    assert "a proxy or gateway answered (requests go through HTTP_PROXY)" in stats.summary
    proxy = report.check("config.proxy")
    assert "127.0.0.1" in proxy.summary and "pw" not in proxy.summary
    assert "the proxy in HTTP_PROXY" in report.check("network.tcp").summary
    assert report.check("credentials").status is SKIP
    assert_no_secret(report)


async def test_rate_limit_headers_clock_skew_and_latency_are_reported() -> None:
    """A service whose Date is an hour off and that announces 60 requests a minute."""
    emulator = _emulator()

    def respond(request_line: str) -> tuple[int, dict[str, str], bytes]:
        body = (
            b'{"campaign_name":"c","total_views":"1","signups_total":1,"signups_today":0,'
            b'"conversion":"100.0%","referrals":0}'
        )
        headers = {
            "content-type": "application/json",
            "date": "Mon, 01 Jan 2018 00:00:00 GMT",
            "ratelimit-policy": "60;w=60",
            "x-ratelimit-remaining": "59",
        }
        return 200, headers, body

    del emulator
    async with fake_service(respond, hold=0.02) as port:
        client = IReferClient(
            LICENSE,
            API_KEY,
            campaign_id=2605,
            retry=None,
            rate_limit=None,
            base_url=f"http://127.0.0.1:{port}/v1.0/",
        )
        async with client:
            report = await probe_client(client)
    latency = report.check("timing.latency")
    assert latency.data["suggested_rate"] == 1.0
    assert latency.data["p50_ms"] >= 20.0
    assert latency.data["suggested_concurrency"] == 1
    seen = report.check("timing.rate_limits").data["headers"]
    assert seen == {"ratelimit-policy": "60;w=60", "x-ratelimit-remaining": "59"}
    clock = report.check("timing.clock")
    assert clock.status is WARN and "clock is" in clock.summary


def test_configuration_checks_name_each_problem_without_a_secret() -> None:
    """Missing, malformed or suspicious settings: one failed check each, no request."""
    checks = check_configuration(
        license_key="W4qLshort",
        api_key=" key with space",
        base_url="http://api.irefer.io/v1.0/",
        campaign_id="abc",
        environ={"HTTP_PROXY": "not a url at all"},
    )
    status = {c.name: c.status for c in checks}
    assert status == {
        "config.license_key": FAIL,
        "config.api_key": FAIL,
        "config.base_url": FAIL,
        "config.campaign_id": FAIL,
        "config.proxy": FAIL,
    }
    assert "W4qLshort" not in json.dumps([c.as_dict() for c in checks])
    missing = check_configuration(
        license_key=None, api_key=None, base_url=None, campaign_id=None, environ={}
    )
    assert [c.summary for c in missing][:4] == [
        "no license key",
        "no api key",
        "https://api.irefer.io/v1.0/",
        "no campaign id",
    ]


def test_no_proxy_exempts_the_host() -> None:
    """NO_PROXY covering the host means the proxy is not used."""
    checks = check_configuration(
        license_key=LICENSE,
        api_key=API_KEY,
        base_url=None,
        campaign_id=1,
        environ={"HTTPS_PROXY": "http://p:3128", "NO_PROXY": ".irefer.io"},
    )
    assert (
        checks[-1].summary
        == "no proxy for this host (HTTPS_PROXY, NO_PROXY set, not for this host)"
    )


# -- TLS, against a loopback server with a self-signed certificate -------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost (openssl)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
async def tls_port(certificate: tuple[Path, Path]) -> AsyncIterator[int]:
    """A loopback TLS server that completes handshakes and closes."""
    import asyncio

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    async with server:
        yield server.sockets[0].getsockname()[1]


@pytest.mark.system
async def test_tls_handshake_time_is_measured(
    tls_port: int, certificate: tuple[Path, Path]
) -> None:
    """A trusted certificate: DNS, TCP and TLS pass with their times."""
    trusted = ssl.create_default_context(cafile=str(certificate[0]))
    checks = await check_network(
        f"https://localhost:{tls_port}/v1.0/", environ={}, ssl_context=trusted
    )
    assert [c.status for c in checks] == [PASS, PASS, PASS]
    assert checks[2].summary.startswith("handshake in") and checks[2].data["ms"] >= 0


@pytest.mark.system
async def test_an_untrusted_certificate_fails_the_tls_check(tls_port: int) -> None:
    """The system's CAs do not know the certificate: named, with the likely cause."""
    checks = await check_network(f"https://localhost:{tls_port}/v1.0/", environ={})
    assert checks[2].status is FAIL
    assert "TLS handshake with localhost failed" in checks[2].summary
    assert "certificate" in checks[2].summary.lower() or "certificate" in checks[2].fix


async def test_probe_without_network_skips_nothing_else(irefer_emulator: Any) -> None:
    """network=False leaves out only the network checks."""
    report = await probe_client(irefer_emulator.client, network=False)
    assert not any(c.name.startswith("network.") for c in report.checks)
    assert report.check("endpoint.referrerStats").status is SKIP  # no participant to ask about
    assert report.ok


async def test_a_dropped_connection_is_named_and_the_rest_skipped() -> None:
    """A server that reads the request and hangs up: one line, no traceback, no secret."""
    async with fake_service(lambda line: None) as port:
        client = IReferClient(
            LICENSE, API_KEY, campaign_id=2605, retry=None,
            base_url=f"http://127.0.0.1:{port}/v1.0/",
        )  # fmt: skip
        async with client:
            report = await probe_client(client)
    assert [c.name for c in report.failures] == ["endpoint.campaignStats"]
    assert report.check("endpoint.campaignStats").summary.startswith("no answer: campaignStats:")
    assert report.check("network.tcp").status is PASS
    assert_no_secret(report)


async def test_the_row_count_is_singular_for_one_row() -> None:
    """A list of one row "decodes (1 row)", of two "decodes (2 rows)", of none "(0 rows)"."""
    emulator = Emulator(seed=0)
    emulator.add_participant("ann@example.com")
    emulator.add_participant("bob@example.com")
    emulator.seed_actions(1)
    async with emulator.client(decode_observer=DriftRecorder()) as client:
        report = await probe_client(client)
    summaries = {c.name: c.summary for c in report.checks}
    assert "decodes (2 rows)" in summaries["endpoint.referrers"]
    assert "decodes (0 rows)" in summaries["endpoint.rewards"]
    assert "decodes (1 row)" in summaries["endpoint.specificActionSignups"]
