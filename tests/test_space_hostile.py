"""The Space under attack: hostile uploads, each refused with its own message while the app keeps
answering good requests; files outside the app's folders never served; no share link, no
analytics.

The Space has no audio interface yet, so the audio cases (a WAV header lying about its length, a
10-minute clip) have nothing to test; they belong with the first audio entry of the table.
"""

from __future__ import annotations

import http.server
import io
import json
import os
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests import tiny
from tests.test_space import ROOT, expected_top, make_image_run, make_text_run, served


def png_declaring(width: int, height: int) -> bytes:
    """A ~100-byte PNG whose header declares width x height pixels (its data is a few bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def gif_declaring(width: int, height: int) -> bytes:
    """A 42-byte GIF whose screen descriptor declares width x height pixels."""
    buf = io.BytesIO()
    Image.new("P", (4, 4)).save(buf, "GIF")
    data = bytearray(buf.getvalue())
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def encoded(image: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt)
    return buf.getvalue()


RED = Image.new("RGB", (tiny.IMAGE_SIZE,) * 2, tiny.COLORS["red"])
PNG = encoded(RED, "PNG")
JPEG = encoded(Image.new("RGB", (64, 64), tiny.COLORS["red"]), "JPEG")
# Noise compresses badly: a JPEG of many KB, its headers whole when the data is cut short.
NOISE = encoded(Image.effect_noise((256, 256), 64).convert("RGB"), "JPEG")
FORMATS = (
    "upload a PNG, JPEG, WebP, GIF or BMP image (what counts is the file's content, not its name)."
)

# name -> (file content, the message the caller gets: exact, or a prefix ending in "...").
HOSTILE_IMAGES = {
    "bomb.png": (
        png_declaring(50_000, 50_000),
        "'bomb.png' declares 2,500 MP in a small file (a decompression bomb?); the limit is 50 "
        "MP. Downscale the image and upload it again.",
    ),
    "bomb.gif": (
        gif_declaring(65535, 65535),
        "'bomb.gif' declares 4,295 MP in a small file (a decompression bomb?); the limit is 50 MP. "
        "Downscale the image and upload it again.",
    ),
    "64mp.png": (
        png_declaring(8_000, 8_000),  # under PIL's own bomb limit, over the app's
        "The image is 8000x8000 pixels (64.0 MP); the limit is 50 MP. Downscale it and upload it "
        "again.",
    ),
    "strip.png": (
        encoded(Image.new("RGB", (100_000, 1)), "PNG"),
        "The image is 100000x1 pixels: one side is over 20 times the other, which leaves nothing "
        "to see once the model squeezes it into a square. Crop it and upload it again.",
    ),
    "logo.svg": (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="9" height="9">'
        b"<script>alert(document.cookie)</script></svg>",
        "'logo.svg' is an SVG (vector) image; this app reads pixels: export it as PNG and upload "
        "that.",
    ),
    "photo.png": (
        b"<html><body><script>alert(1)</script></body></html>",
        f"'photo.png' is an HTML or XML text, not an image: {FORMATS}",
    ),
    "invoice.jpg": (
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
        f"'invoice.jpg' is a PDF document, not an image: {FORMATS}",
    ),
    "cat.png": (
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00",
        f"'cat.png' is a ZIP archive (or an Office document), not an image: {FORMATS}",
    ),
    "setup.bmp": (
        b"MZ\x90\x00\x03\x00\x00\x00",
        f"'setup.bmp' is a Windows program, not an image: {FORMATS}",
    ),
    # PIL reads EPS by running Ghostscript: the app never hands it an EPS, whatever its name.
    "figure.png": (
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",
        f"'figure.png' is not an image this app can read: {FORMATS}",
    ),
    "cut.png": (PNG[: len(PNG) // 2], "'cut.png' is damaged or cut short (..."),
    "cut.jpg": (NOISE[: len(NOISE) * 2 // 3], "'cut.jpg' is damaged or cut short (..."),
    "empty.png": (b"", "'empty.png' is empty (0 bytes): upload the image file again."),
}


def matches(message: str, expected: str) -> bool:
    return message.startswith(expected[:-3]) if expected.endswith("...") else message == expected


@pytest.fixture(scope="module")
def app():
    from hfft.serve import load_app_module

    return load_app_module()


@pytest.fixture(scope="module")
def image_app(app, tmp_path_factory):
    with served(app, make_image_run(tmp_path_factory.mktemp("image") / "vit-colors")) as server:
        yield server


@pytest.fixture(scope="module")
def text_app(app, tmp_path_factory):
    with served(app, make_text_run(tmp_path_factory.mktemp("text") / "bert-reviews")) as server:
        yield server


@pytest.fixture(scope="module")
def good(image_app, tmp_path_factory):
    """A good request and its right answer: asked after every bad one."""
    from gradio_client import handle_file

    path = image_app.run / "examples" / "0.png"
    label = expected_top(image_app.run, "image-classification", Image.open(path).convert("RGB"))

    def ask() -> None:
        assert (
            image_app.client.predict(handle_file(str(path)), api_name="/predict")["label"] == label
        )

    return ask


def call(server, payload) -> tuple[str, str | None]:
    """POST one raw API call (what a client other than gradio_client sends); (event, message)."""
    posted = httpx.post(f"{server.url}gradio_api/call/predict", json={"data": [payload]})
    posted.raise_for_status()
    stream = httpx.get(f"{server.url}gradio_api/call/predict/{posted.json()['event_id']}").text
    event = stream.split("event: ", 1)[1].split("\n", 1)[0]
    data = json.loads(stream.split("data: ", 1)[1].split("\n", 1)[0])
    return event, data.get("error") if isinstance(data, dict) else None


@pytest.mark.parametrize("name", list(HOSTILE_IMAGES))
def test_hostile_upload_is_refused_with_its_message_and_the_app_keeps_answering(
    name, image_app, good, tmp_path
):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    content, expected = HOSTILE_IMAGES[name]
    path = tmp_path / name
    path.write_bytes(content)
    began = time.perf_counter()
    with pytest.raises(AppError) as err:
        image_app.client.predict(handle_file(str(path)), api_name="/predict")
    assert matches(str(err.value), expected), str(err.value)
    assert time.perf_counter() - began < 10  # refused from the header: nothing big was decoded
    good()


def test_an_image_whose_extension_lies_but_whose_content_is_good_is_read(image_app, tmp_path):
    """The content decides: a JPEG named .png, a WebP named .jpg, a phone's MPO are all read."""
    from gradio_client import handle_file

    blue = Image.new("RGB", (48, 48), tiny.COLORS["blue"])
    buf = io.BytesIO()
    blue.save(buf, "MPO", save_all=True, append_images=[RED.resize((48, 48))])
    for name, content in (
        ("really-a-jpeg.png", JPEG),
        ("really-a-webp.jpg", encoded(blue, "WEBP")),
        ("phone.jpg", buf.getvalue()),
    ):
        path = tmp_path / name
        path.write_bytes(content)
        result = image_app.client.predict(handle_file(str(path)), api_name="/predict")
        first_frame = Image.open(path).convert("RGB")
        assert result["label"] == expected_top(image_app.run, "image-classification", first_frame)


def test_a_path_on_the_server_is_never_read(image_app, good, tmp_path):
    """A raw API call can name any path; the app reads only files it received as uploads."""
    secret = tmp_path / "secret.png"
    secret.write_bytes(PNG)
    for path in (str(secret), str(image_app.run / "examples" / "0.png"), "/etc/passwd", "../../../etc/passwd"):  # fmt: skip
        name = Path(path).name
        assert call(image_app, {"path": path}) == (
            "error",
            f"'{name}' was not uploaded to this app: send the file itself (gradio_client: "
            "handle_file(path)), not a path on the server.",
        )
        # Marked as a Gradio file, or sent as a bare string, the path is refused by Gradio
        # itself (its file check, its input validation), before the app.
        for payload in ({"path": path, "meta": {"_type": "gradio.FileData"}}, path):
            assert call(image_app, payload) == ("error", None), payload
    good()


def test_a_url_is_never_fetched(image_app, good):
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(PNG)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/red.png"
        for payload in ({"url": url}, {"url": "file:///etc/passwd"}):
            assert call(image_app, payload) == ("error", "No image received; upload a file.")
    finally:
        server.shutdown()
    assert hits == []  # no request on a visitor's behalf
    good()


def test_an_uploaded_svg_is_served_back_only_as_a_download(image_app):
    """Gradio keeps uploads in its cache and serves them; an SVG with a script must not run as a
    page of the app's origin."""
    upload = httpx.post(
        f"{image_app.url}gradio_api/upload",
        files={"files": ("logo.svg", HOSTILE_IMAGES["logo.svg"][0], "image/svg+xml")},
    )
    (path,) = upload.json()
    served_back = httpx.get(f"{image_app.url}gradio_api/file={path}")
    assert served_back.status_code == 200
    assert served_back.headers["content-type"] == "application/octet-stream"
    assert served_back.headers["content-disposition"].startswith("attachment")


def test_a_very_long_text_is_truncated_and_answered_in_bounded_time(app, text_app):
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(text_app.run))
    for repeat in (200_000, 2_000_000):  # 1 MB and 10 MB of text
        text = "the movie was great fun " * (repeat // 5)
        began = time.perf_counter()
        result = text_app.client.predict(text, api_name="/predict")
        assert time.perf_counter() - began < 20, len(text)
        # The model reads its first 64 positions, as transformers' pipeline does.
        cut = app.interfaces.inputs.text_truncation(
            classify
        )  # max_length: the model's 64 positions
        assert result["label"] == classify(text[:2000], **cut)[0]["label"]


def test_text_that_is_no_valid_unicode_or_no_text_gets_a_message(text_app):
    # A lone surrogate travels in JSON ("\ud800") but no tokenizer can encode it.
    body = '{"data": ["\\ud800 the movie was great fun"]}'
    posted = httpx.post(
        f"{text_app.url}gradio_api/call/predict",
        content=body,
        headers={"content-type": "application/json"},
    )
    stream = httpx.get(f"{text_app.url}gradio_api/call/predict/{posted.json()['event_id']}").text
    assert stream.startswith("event: complete")
    labels = json.loads(stream.split("data: ", 1)[1].split("\n", 1)[0])[0]["confidences"]
    assert {c["label"] for c in labels} == set(tiny.WORDS)
    for payload, message in (
        ({"a": 1}, "Expected a text, got dict: send a string."),
        (12, "Expected a text, got int: send a string."),
        (None, "The text is empty: type or paste a sentence to classify."),
        ("\x00\x00", "The text is empty: type or paste a sentence to classify."),
    ):
        assert call(text_app, payload) == ("error", message), payload
    assert text_app.client.predict("a boring film", api_name="/predict")["label"] in tiny.WORDS


# ---------------------------------------------------------------- what the server serves


def test_no_file_outside_the_apps_folders_is_served(image_app):
    cache = json.dumps(httpx.get(f"{image_app.url}config").json())
    cached = next(p for p in cache.split('"') if p.endswith("/0.png"))
    run = image_app.run
    for url in (
        "gradio_api/file=/etc/passwd",
        "gradio_api/file=//etc/passwd",
        "gradio_api/file=%2Fetc%2Fpasswd",
        "gradio_api/file=../../../../etc/passwd",
        "gradio_api/file=%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        f"gradio_api/file={cached}/../../../../../../etc/passwd",
        f"gradio_api/file={Path(cached).parent}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        f"gradio_api/file={run / 'config.json'}",
        f"gradio_api/file={run / 'recipe.yaml'}",
        "static/../../../../etc/passwd",
        "assets/..%2f..%2f..%2f..%2fetc/passwd",
        "file=/etc/passwd",
    ):
        answer = httpx.get(f"{image_app.url}{url}")
        assert answer.status_code in (403, 404), (url, answer.status_code)
        assert b"root:" not in answer.content and b"model_type" not in answer.content, url
    assert httpx.get(f"{image_app.url}gradio_api/file={cached}").status_code == 200


def test_symlinks_in_examples_pointing_outside_are_not_served(app, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    Image.new("RGB", (8, 8), "blue").save(outside / "private.png")
    run = make_image_run(tmp_path / "run")
    examples = run / "examples"
    (examples / "link.png").symlink_to(outside / "private.png")
    (examples / "passwd.png").symlink_to("/etc/passwd")
    (examples / "inside.png").symlink_to(examples / "1.png")  # a link that stays inside is fine
    entries = [{"input": n, "label": "blue"} for n in ("link.png", "passwd.png", "inside.png")]
    (examples / "examples.json").write_text(json.dumps(entries))
    assert app.load_info(str(run)).examples == [[str(examples / "inside.png"), "blue"]]

    # examples/ itself a link to a folder elsewhere: none of its files qualify.
    linked = make_image_run(tmp_path / "linked", extras=False)
    (linked / "examples").symlink_to(outside, target_is_directory=True)
    (outside / "examples.json").write_text(json.dumps([{"input": "private.png", "label": "x"}]))
    assert app.load_info(str(linked)).examples == []

    with served(app, run) as server:
        config = json.dumps(httpx.get(f"{server.url}config").json())
        assert "private.png" not in config and "passwd" not in config
        for path in (outside / "private.png", examples / "link.png"):
            assert httpx.get(f"{server.url}gradio_api/file={path}").status_code == 403


def test_hub_snapshot_links_into_blobs_are_the_models_own_examples(app, tmp_path):
    """huggingface_hub lays a snapshot out as links into the repo's blobs/ folder: those examples
    are served; a link out of the cache is not."""
    import hashlib

    from huggingface_hub import constants

    run = make_image_run(tmp_path / "run")
    repo = Path(constants.HF_HUB_CACHE) / "models--hfft-tests--linked"
    snapshot = repo / "snapshots" / ("1" * 40)
    (repo / "blobs").mkdir(parents=True)
    for path in sorted(p for p in run.rglob("*") if p.is_file()):
        blob = repo / "blobs" / hashlib.sha256(path.read_bytes()).hexdigest()
        blob.write_bytes(path.read_bytes())
        link = snapshot / path.relative_to(run)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (snapshot / "examples" / "2.png").symlink_to("/etc/passwd")
    entries = json.loads((run / "examples" / "examples.json").read_text())
    entries.append({"input": "2.png", "label": "red"})
    (snapshot / "examples" / "examples.json").unlink()
    (snapshot / "examples" / "examples.json").write_text(json.dumps(entries))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("1" * 40)

    info = app.load_info("hfft-tests/linked")
    assert info.examples == [
        [str(snapshot / "examples" / "0.png"), "red"],
        [str(snapshot / "examples" / "1.png"), "blue"],
    ]


def test_no_share_link_and_no_analytics(app, image_app, monkeypatch):
    import gradio.analytics

    assert image_app.demo.share is False and image_app.demo.share_url is None
    assert image_app.demo.analytics_enabled is False
    with pytest.raises(TypeError, match="share"):  # the launch settings cannot be overridden
        app.launch_app(image_app.demo, share=True)
    # No request to Gradio's analytics or version server while building, launching, serving.
    sent = []
    for name in ("_do_analytics_request", "_do_normal_analytics_request", "version_check"):
        monkeypatch.setattr(gradio.analytics, name, lambda *a, **k: sent.append(a))
    from gradio_client import handle_file

    with served(app, image_app.run) as server:
        example = handle_file(str(image_app.run / "examples" / "0.png"))
        assert server.client.predict(example, api_name="/predict")["label"] in tiny.COLORS
    assert sent == []
    # The app turns analytics off before gradio is imported, whatever the environment says.
    env = {k: v for k, v in os.environ.items() if k != "GRADIO_ANALYTICS_ENABLED"}
    env["PYTHONPATH"] = str(ROOT)
    probe = (
        "from hfft.serve import load_app_module; import os, gradio.analytics as a; "
        "load_app_module(); print(os.environ['GRADIO_ANALYTICS_ENABLED'], a.analytics_enabled())"
    )
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["False", "False"], out.stderr[-2000:]
