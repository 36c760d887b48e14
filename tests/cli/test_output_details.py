"""Small output details of the CLI: the bar's categories, wrapping, line endings, wording."""

from __future__ import annotations

import io

from rich.console import Console

from irefer_async.cli._progress import Counts, RichProgress


def test_the_bar_counts_the_statuses_the_table_shows() -> None:
    """failed 3 / invalid 2 / unknown 1 on the bar as in the final table (not "failed 6")."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200, color_system=None)
    bar = RichProgress(Counts(10), console, "signups")
    for status in ["ok"] * 3 + ["failed"] * 3 + ["invalid"] * 2 + ["unknown", "duplicate"]:
        bar.advance(status)
    bar.close()
    last = [line for line in out.getvalue().splitlines() if "signups" in line][-1]
    assert "ok 3" in last and "failed 3" in last
    assert "invalid 2" in last and "unknown 1" in last and "duplicate 1" in last
