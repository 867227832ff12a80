"""Layering: the Telegram side never imports torch, transformers or diffusers."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "diffusers")


def test_bot_and_handlers_import_no_ml_framework():
    code = (
        "import sys, bot.app, bot.__main__, bot.queue.local, bot.queue.remote, models.remote_vlm, handlers;"
        "from bot.app import build_application;"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_handlers_do_not_import_models_or_pil_heavy_modules():
    import ast
    from pathlib import Path

    for path in (Path(__file__).parent.parent / "handlers").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("models", "torch", "transformers", "diffusers")), path
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith(("models", "torch", "transformers", "diffusers")), path
