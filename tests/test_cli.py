"""The CLI front: every command reaches a real function, and `--help` loads no torch."""

from __future__ import annotations

import importlib
import subprocess
import sys

from hfft.cli import build_parser


def test_every_lazy_command_resolves_to_a_function():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    targets = {}
    for name, sub in commands.items():
        handler = sub.get_default("func")
        if hasattr(handler, "target"):
            module, function = handler.target
            assert callable(getattr(importlib.import_module(module), function)), name
            targets[name] = handler.target
    assert set(targets) == {"eval", "predict", "push", "serve", "demo", "tune"}


def test_help_imports_no_torch():
    code = "import sys; from hfft.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("False")
