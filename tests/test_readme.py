"""The README's two set-up commands stay the ones that work: CI runs the test command verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bash_blocks(markdown: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", markdown, flags=re.S)]


def test_ci_runs_the_readme_test_command():
    blocks = bash_blocks((ROOT / "README.md").read_text())
    test_command = next(b for b in blocks if "pytest" in b)
    assert "torch==2.13.0" in test_command  # the CPU wheel first, so no CUDA build is resolved
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_readme_run_command_starts_the_bot():
    blocks = bash_blocks((ROOT / "README.md").read_text())
    run_command = next(b for b in blocks if "python -m bot" in b and "pytest" not in b)
    assert run_command.endswith("python -m bot")
