"""What `hfft serve` (hfft/commands/serve.py) needs: space/app.py, the Gradio demo app, loaded as a
module, and a check of the model it is given (a finished run directory, or a Hub id).

The app lives in space/ (not in the hfft package) because the very same file is uploaded to a Hub
Space, where hfft is not installed; here it is imported by file path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from hfft.errors import HfftError, first_line
from hfft.local_paths import absent_path, looks_like_local_path
from hfft.resources import space_dir
from hfft.run_files import open_finished

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
        open_finished(path, "serve", or_hub_id=True)  # an interrupted run: says how to finish it
        return
    if path.exists():
        raise HfftError(f"{model} is a file; pass a run directory or a Hub model id")
    if looks_like_local_path(model) or not model.strip():
        raise HfftError(
            f"no run directory at {model}; pass the training.output_dir of a finished "
            "`hfft train`, or a Hub model id like user/name"
        )


def load_failure(model: str, err: BaseException) -> str:
    """Why `model` could not be loaded, in one line. A value that is no path here was tried as a
    Hub id; say both, since `runs/nope` may well have been meant as a folder."""
    missing = absent_path(model)
    if missing is None:
        return first_line(err)
    return (
        f"there is no run directory {missing}, and as a Hub model id it could not be loaded "
        f"either ({first_line(err)})"
    )
