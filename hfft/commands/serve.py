"""`hfft serve RUN_DIR|HUB_ID [--host H] [--port N]`: the Gradio demo app of space/app.py, here."""

from __future__ import annotations

import argparse

from hfft.errors import HfftError, first_line


def serve_command(args: argparse.Namespace) -> int:
    """Build the app for `args.model` and serve it on args.host:args.port until interrupted."""
    from hfft import serve

    serve.check_model(args.model)
    app = serve.load_app_module()
    try:
        demo = app.build_app(args.model)
    except (OSError, ValueError) as err:  # not a classifier / not found on the Hub / offline
        why = serve.load_failure(args.model, err)
        raise HfftError(f"cannot serve {args.model}: {why}") from None
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
