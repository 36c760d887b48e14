"""``python -m irefer_async.testing`` and the package's public surface."""

from __future__ import annotations

import subprocess
import sys

import pytest

import irefer_async.testing as testing
from irefer_async.testing.__main__ import _parser, mask, seed_demo


@pytest.mark.system
def test_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "irefer_async.testing", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "--port" in result.stdout
    assert "--seed-demo" in result.stdout
    assert "IREFER_API_KEY" in result.stdout


def test_args() -> None:
    args = _parser().parse_args(["--port", "0", "--host", "127.0.0.1", "--seed-demo"])
    assert (args.port, args.host, args.seed_demo) == (0, "127.0.0.1", True)


def test_mask_never_shows_the_key() -> None:
    key = testing.DEFAULT_LICENSE_KEY
    assert mask(key) == f"W4qL…{key[-4:]}"
    assert mask("short") == "…"


def test_seed_demo() -> None:
    emulator = testing.Emulator()
    seed_demo(emulator)
    snap = emulator.snapshot()["campaigns"][0]
    assert len(snap["participants"]) == 8
    assert snap["total_views"] == 42
    assert len(snap["rewards"]) == 2


def test_all_is_sorted_and_complete() -> None:
    assert testing.__all__ == sorted(testing.__all__)
    # "@py_builtins"/"@pytest_ar": pytest rewrites the asserts of a pytest11 plugin package
    public = {n for n in dir(testing) if not n.startswith(("_", "@"))} - {"annotations", "plugin"}
    assert set(testing.__all__) == public


def test_public_names_have_docstrings() -> None:
    for name in testing.__all__:
        obj = getattr(testing, name)
        if callable(obj):
            assert obj.__doc__, name


@pytest.mark.system
def test_runs_standalone_and_stops_on_sigint() -> None:
    import os
    import signal

    import httpx
    import pytest

    pytest.importorskip("uvicorn")
    env = {**os.environ, "IREFER_API_KEY": "from-env-key"}
    env.pop("IREFER_LICENSE_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "irefer_async.testing", "--port", "0", "--seed-demo"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        url = first.rsplit(" ", 1)[1].strip()
        rest = [proc.stdout.readline() for _ in range(6)]
        output = first + "".join(rest)
        assert "from-env-key" not in output  # a key from the environment is never printed
        assert f"export IREFER_LICENSE_KEY={testing.DEFAULT_LICENSE_KEY}" in output  # demo key
        assert f"export IREFER_BASE_URL={url}" in output
        assert "$IREFER_API_KEY" in output
        response = httpx.get(
            f"{url}{testing.DEFAULT_LICENSE_KEY}.js/campaignStats",
            params={"campaign_id": 2605, "api_key": "from-env-key"},
        )
        assert response.json()["signups_total"] == 8
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
