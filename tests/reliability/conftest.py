"""Fixtures of the reliability suites: a DEBUG log capture, an emulator process, the matrix summary.

Every test in this directory runs with the ``irefer_async``, ``httpx``, ``httpcore``, ``httpx2``,
``httpcore2``, ``aiohttp`` and ``asyncio`` loggers at DEBUG into a capturing handler; at teardown
no captured line may contain a secret the suites use. ``pytest_terminal_summary`` prints the fault matrix (cells passed / total). The helpers the
tests import live in `_support.py`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from _support import EmulatorProcess, leaks

_LOGGERS = ("irefer_async", "httpx", "httpcore", "httpx2", "httpcore2", "aiohttp", "asyncio")


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(autouse=True)
def debug_logs() -> Iterator[list[str]]:
    """Capture DEBUG logs of the SDK, httpx and httpcore; fail if any line holds a secret."""
    handler = _Capture()
    saved = []
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.propagate))
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
        logger.propagate = False  # pytest's own capture would format every record again
    try:
        yield handler.lines
    finally:
        for logger, level, propagate in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate
    found = {s for line in handler.lines for s in leaks(line)}
    assert not found, f"{len(found)} secret(s) found in DEBUG logs"


# -- the fault matrix summary ---------------------------------------------------------------

_MATRIX_FILE = "test_fault_matrix.py::"


def _cell_reports(terminalreporter: Any) -> dict[str, bool]:
    cells: dict[str, bool] = {}
    for outcome in ("passed", "failed", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            if _MATRIX_FILE in nodeid and "::test_cell" in nodeid and report.when == "call":
                cells[nodeid] = outcome == "passed"
            elif _MATRIX_FILE in nodeid and "::test_cell" in nodeid and outcome != "passed":
                cells[nodeid] = False
    return cells


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the fault matrix: one line per table, then ``fault matrix: N/M cells passed``."""
    cells = _cell_reports(terminalreporter)
    if not cells:
        return
    tables: dict[str, list[bool]] = {}
    for nodeid, ok in cells.items():
        table = nodeid.split("::test_cell_", 1)[1].split("[", 1)[0]
        tables.setdefault(table, []).append(ok)
    terminalreporter.section("fault matrix")
    for table, oks in sorted(tables.items()):
        terminalreporter.write_line(f"  {table:<12} {sum(oks):>4}/{len(oks)} cells passed")
    passed = sum(cells.values())
    terminalreporter.write_line(f"fault matrix: {passed}/{len(cells)} cells passed")


@pytest.fixture
def emulator_process() -> Iterator[EmulatorProcess]:
    """A fresh emulator process for one test; its output must hold no secret."""
    proc = EmulatorProcess()
    try:
        yield proc
    finally:
        output = proc.close()
        assert not leaks(output)
