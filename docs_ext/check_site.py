"""Check the built docs site's API reference reads as intended (run by ``nox -s docs``).

Usage: ``python docs_ext/check_site.py SITE_DIR``. Exits 1 naming each problem:

* every ``>>>`` example is inside a code block (not a blockquote), without doctest flags;
* signatures are formatted (one parameter per line) and show constant defaults' values;
* types from other libraries name their library (``httpx2.AsyncClient``).
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path


def problems(site: Path) -> list[str]:
    """Return what is wrong with the reference pages of *site* (empty: all good)."""
    found: list[str] = []
    for page in ("reference/client/index.html", "reference/testing/index.html"):
        doc = (site / page).read_text(encoding="utf-8")
        text = html.unescape(re.sub(r"<[^>]+>", "", doc))
        outside = re.sub(r"<pre>.*?</pre>", "", doc, flags=re.S)
        if "&gt;&gt;&gt;" in outside or "<blockquote>" in doc:
            found.append(f"{page}: a >>> example outside a code block")
        if "doctest:" in text:
            found.append(f"{page}: a doctest flag is shown")
        if re.search(r"=\s*DEFAULT_(TIMEOUT|RETRY|RATE_LIMIT|MAX_CONCURRENCY)\b", text):
            found.append(f"{page}: a default shows a constant's name, not its value")
    client = html.unescape(
        re.sub(r"<[^>]+>", "", (site / "reference/client/index.html").read_text("utf-8"))
    )
    for expected in (
        "http_client: httpx.AsyncClient | httpx2.AsyncClient | None = None,\n",
        "timeout: float | httpx.Timeout | httpx2.Timeout | None = httpx.Timeout(",
        "retry: RetryConfig | None = RetryConfig(),\n",
    ):
        if expected not in client:
            found.append(f"reference/client: the IReferClient signature lacks {expected!r}")
    return found


if __name__ == "__main__":
    issues = problems(Path(sys.argv[1]))
    for issue in issues:
        print(issue, file=sys.stderr)
    print(f"API reference check: {len(issues)} problem(s)")
    sys.exit(1 if issues else 0)
