"""`hfft serve`: run the Gradio demo app of space/app.py locally for a run directory or Hub id.

The app lives in space/ (not in the hfft package) because the very same file is uploaded to a Hub
Space, where hfft is not installed; here it is imported by file path.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from hfft.errors import HfftError, first_line
from hfft.local_paths import absent_path, looks_like_local_path
from hfft.resources import space_dir
from hfft.run_dir import require_finished

APP_PATH = space_dir() / "app.py"


def load_app_module(path: Path = APP_PATH) -> ModuleType:
    """Import space/app.py as the module `hfft_space_app` (it is not part of the package)."""
    if not path.is_file():
        raise HfftError(
            f"the Gradio app is not at {path}; `hfft serve` needs the space/ folder next to the "
            "hfft package (install hfft from a source checkout: pip install -e .)"
        )
    spec = importlib.util.spec_from_file_location("hfft_space_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered before running it: dataclasses look their module up in sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def check_model(model: str) -> None:
    """Fail early, with a clear message, on a local path that is not a servable run directory.

    Anything that is not an existing path and looks like `owner/name` is left to the Hub.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        require_finished(path, "serve")  # an interrupted run: say so, and how to finish it
        if not (path / "config.json").is_file():
            raise HfftError(
                f"{model} has no config.json, so it is not a trained run directory; pass the "
                "training.output_dir of a finished `hfft train` (or a Hub model id)"
            )
        return
    if path.exists():
        raise HfftError(f"{model} is a file; pass a run directory or a Hub model id")
    if looks_like_local_path(model) or not model.strip():
        raise HfftError(
            f"no run directory at {model}; pass the training.output_dir of a finished "
            "`hfft train`, or a Hub model id like user/name"
        )


def serve_command(args: argparse.Namespace) -> int:
    """Build the app for `args.model` and serve it on args.host:args.port until interrupted."""
    check_model(args.model)
    app = load_app_module()
    try:
        demo = app.build_app(args.model)
    except (OSError, ValueError) as err:  # not a classifier / not found on the Hub / offline
        raise HfftError(f"cannot serve {args.model}: {_load_failure(args.model, err)}") from None
    try:
        # Started without blocking, so that hfft speaks only once the port is really taken;
        # quiet: Gradio's own banner suggests `share=True`, which hfft deliberately does not offer.
        app.launch_app(demo, host=args.host, port=args.port, prevent_thread_lock=True, quiet=True)
    except OSError as err:  # Gradio: "Cannot find empty port in range: 7860-7860. ..."
        why = "the port is in use" if "empty port" in str(err) else first_line(err)
        raise HfftError(
            f"cannot listen on {args.host}:{args.port}: {why}; pass a free --port"
        ) from None
    print(f"hfft: serving {args.model} on {demo.local_url} (Ctrl+C to stop)", flush=True)
    demo.block_thread()  # until Ctrl+C, which closes the server
    return 0


def _load_failure(model: str, err: BaseException) -> str:
    """Why `model` could not be loaded, in one line. A value that is no path here was tried as a
    Hub id; say both, since `runs/nope` may well have been meant as a folder."""
    missing = absent_path(model)
    if missing is None:
        return first_line(err)
    return (
        f"there is no run directory {missing}, and as a Hub model id it could not be loaded "
        f"either ({first_line(err)})"
    )
