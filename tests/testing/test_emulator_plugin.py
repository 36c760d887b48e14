"""The pytest plugin, run inside a nested pytest with ``pytester``.

The nested runs are in-process (a subprocess costs ~2 s of interpreter start each), except
where the plugin changes process-wide state (``--irefer-http-stack`` sets an environment
variable), which must not leak into this session.
"""

from __future__ import annotations

import ast
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


def _plugin_args() -> list[str]:
    installed = any(ep.name == "irefer_emulator" for ep in entry_points(group="pytest11"))
    # pytest-asyncio's advice (else its deprecation warning reaches this session's summary).
    scope = ["-o", "asyncio_default_fixture_loop_scope=function"]
    return scope if installed else [*scope, "-p", "irefer_async.testing.plugin"]


def test_fixture_in_a_user_suite(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(
        """
        import pytest

        async def test_signup(irefer_emulator):
            signup = await irefer_emulator.client.new_signup("ann@example.com")
            assert signup.email == "ann@example.com"
            assert irefer_emulator.campaign_id == 2605
            assert len(irefer_emulator.journal) == 1

        async def test_fresh_per_test(irefer_emulator):
            assert irefer_emulator.snapshot()["campaigns"][0]["participants"] == []
            assert len(irefer_emulator.journal) == 0

        @pytest.mark.irefer_emulator(seed=3)
        async def test_marker(irefer_emulator):
            assert irefer_emulator.emulator._seed == 3
        """
    )
    result = pytester.runpytest_inprocess(*_plugin_args(), "--strict-markers")
    result.assert_outcomes(passed=3)


def test_fixture_under_strict_asyncio_mode(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_mode = strict\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_stats(irefer_emulator):
            stats = await irefer_emulator.client.campaign_stats()
            assert stats.signups_total == 0
        """
    )
    result = pytester.runpytest_inprocess(*_plugin_args())
    result.assert_outcomes(passed=1)


def test_bare_async_tests_run_under_strict_mode(pytester: pytest.Pytester) -> None:
    """The documented examples (bare ``async def``) pass in strict mode; other async tests are
    left to pytest-asyncio (still not run without the marker)."""
    pytester.makeini("[pytest]\nasyncio_mode = strict\n")
    pytester.makepyfile(
        """
        import pytest

        async def test_bare(irefer_emulator):
            await irefer_emulator.client.new_signup("ann@example.com")
            assert len(irefer_emulator.journal) == 1

        @pytest.mark.parametrize("email", ["a@example.com", "b@example.com"])
        async def test_parametrized(irefer_emulator, email):
            assert (await irefer_emulator.client.new_signup(email)).email == email

        class TestInAClass:
            async def test_method(self, irefer_emulator):
                assert (await irefer_emulator.client.campaign_stats()).signups_total == 0

        async def test_without_the_fixture():
            raise AssertionError("strict mode does not run an unmarked async test")
        """
    )
    result = pytester.runpytest_inprocess(*_plugin_args(), "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 4, result.stdout.str()
    assert "test_without_the_fixture" in result.stdout.str()  # skipped or failed, never passed


def test_plugin_registers_its_marker(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess(*_plugin_args(), "--markers")
    result.stdout.fnmatch_lines(["*irefer_emulator(seed=0*"])


def test_plugin_imports_nothing_from_the_sdk_at_load() -> None:
    """The emulator and client are imported inside the fixture, so loading stays cheap."""
    import irefer_async.testing.plugin as plugin

    tree = ast.parse(Path(plugin.__file__).read_text())
    top_level = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    modules = {getattr(node, "module", None) or node.names[0].name for node in top_level}
    assert not any(m.startswith("irefer_async") for m in modules if m)


@pytest.mark.parametrize("stack", ["httpx", "httpx2"])
def test_http_stack_option_puts_every_emulator_client_on_that_stack(
    pytester: pytest.Pytester, stack: str
) -> None:
    """``--irefer-http-stack``: the fixture's client and ``Emulator.client()`` alike."""
    if stack == "httpx2":
        pytest.importorskip("httpx2")
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(
        f"""
        from irefer_async.testing import Emulator

        async def test_stack(irefer_emulator):
            await irefer_emulator.client.new_signup("ann@example.com")
            assert type(irefer_emulator.client._http).__module__.split(".")[0] == "{stack}"
            async with Emulator().client() as other:
                assert type(other._http).__module__.split(".")[0] == "{stack}"
        """
    )
    # In a subprocess: the option sets an environment variable for the whole process.
    result = pytester.runpytest_subprocess(*_plugin_args(), f"--irefer-http-stack={stack}")
    result.assert_outcomes(passed=1)
