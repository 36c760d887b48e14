"""The README's code blocks run as written (marked with a README-TEST comment)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parent.parent / "README.md"


def marked_blocks() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    pattern = r"<!-- README-TEST: (\w+) -->\n```python\n(.*?)```"
    return {name: code for name, code in re.findall(pattern, text, flags=re.S)}


def test_readme_has_marked_blocks() -> None:
    assert "emulator" in marked_blocks()


def test_readme_emulator_example_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\nasyncio_mode = "auto"\n')
    pytester.makepyfile(test_readme_example=marked_blocks()["emulator"])
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
