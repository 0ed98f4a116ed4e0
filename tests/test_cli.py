"""The CLI front: every command reaches a real function, and `--help` loads no torch."""

from __future__ import annotations

import importlib
import re
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
    assert set(targets) == set(commands)  # every command is lazy: `--help` imports none
    # Handlers live in the commands layer, one module per command.
    modules = {f"hfft.commands.{n.replace('-', '_')}" for n in commands}  # zero-shot: zero_shot
    assert {module for module, _ in targets.values()} == modules


def test_help_imports_no_torch():
    code = "import sys; from hfft.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("False")


def test_a_bad_recipe_fails_before_torch_is_imported(tmp_path):
    code = (
        "import sys; from hfft.cli import main\n"
        f"print(main(['train', {str(tmp_path / 'missing.yaml')!r}]), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2 False"
    assert "recipe file not found" in out.stderr


def test_core_modules_never_import_the_commands_layer():
    from tests.test_architecture import imports_of, modules

    mods = modules()
    core = {n: p for n, p in mods.items() if n != "hfft.cli" and not n.startswith("hfft.commands")}
    offenders = {
        name: sorted(t for t in imports_of(name, path, set(mods)) if t.startswith("hfft.commands"))
        for name, path in core.items()
    }
    assert not {k: v for k, v in offenders.items() if v}, offenders
    # and no command handler (`*_command(args)`) is left in a core module
    left = [
        n for n, p in core.items() if re.search(r"^def \w+_command\(args\b", p.read_text(), re.M)
    ]
    assert not left, left
