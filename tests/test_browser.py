"""The Gradio app in a real browser: headless Debian Chromium driven by Playwright.

Needs /usr/bin/chromium (`make test` installs it with scripts/ensure-debian-package.sh); Playwright's own
browser downloads are never used.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from hfft.serve import load_app_module
from tests.test_space import (
    IMAGE_LABELS,
    TEXT_LABELS,
    expected_top,
    make_image_run,
    make_text_run,
    served,
)

CHROMIUM = Path("/usr/bin/chromium")
# Playwright adds --headless itself; the user data dir is the persistent context's own folder.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RENDER_TIMEOUT_MS = 30_000  # a Gradio page builds itself in JavaScript after loading: wait for it

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.is_file(),
        reason=f"{CHROMIUM} is missing: run `make test` or apt-get install chromium",
    ),
]


@pytest.fixture
def page(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a new, empty --user-data-dir
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1200, "height": 1000},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def _upload_and_classify(page, image: Path) -> None:
    page.locator('input[type="file"]').first.set_input_files(str(image))
    page.get_by_role("button", name="Classify").click()


def test_upload_an_example_image_and_read_the_prediction(page, tmp_path):
    from playwright.sync_api import expect

    app = load_app_module()
    run = make_image_run(tmp_path / "vit-colors")
    example = run / "examples" / "1.png"  # the blue square
    expected = expected_top(run, "image-classification", Image.open(example))
    with served(app, run) as server:
        page.goto(server.url)
        page.get_by_role("button", name="Classify").wait_for(timeout=RENDER_TIMEOUT_MS)
        expect(page.get_by_text("accuracy 0.875")).to_be_visible()

        # Clicking an example row classifies it and shows its true label.
        page.locator("tr", has_text="blue").last.click()
        expect(page.get_by_label("True label")).to_have_value("blue")
        prediction = page.get_by_test_id("label-output-value")
        expect(prediction).to_have_text(expected, timeout=RENDER_TIMEOUT_MS)

        # Uploading the example image and pressing Classify gives the same prediction.
        page.get_by_role("button", name="Clear").click()
        expect(prediction).to_have_count(0)
        _upload_and_classify(page, example)
        expect(prediction).to_have_text(expected, timeout=RENDER_TIMEOUT_MS)
        assert prediction.inner_text() in IMAGE_LABELS
        page.screenshot(path=str(tmp_path / "prediction.png"), full_page=True)

        # A file that is not an image: a clear message on the page...
        fake = tmp_path / "fake.png"
        fake.write_text("this is not an image")
        page.get_by_role("button", name="Clear").click()
        _upload_and_classify(page, fake)
        toast = page.get_by_test_id("toast-body").filter(has_text="not an image")
        expect(toast).to_contain_text("'fake.png' is not an image this app can read")
        page.wait_for_timeout(500)  # the message slides in from the right
        page.screenshot(path=str(tmp_path / "not-an-image.png"))

        # ... and the app still classifies; a wide image is downscaled, with a warning (one over
        # 20 times wider than high would be refused: tests/test_space_hostile.py).
        wide = tmp_path / "wide.png"
        Image.new("RGB", (3000, 600), "red").save(wide)
        page.get_by_role("button", name="Clear").click()
        _upload_and_classify(page, wide)
        expect(page.get_by_test_id("toast-body").filter(has_text="downscaled")).to_contain_text(
            "Large image (3000x600) downscaled to 2048x410."
        )
        expect(prediction).to_have_text(
            expected_top(run, "image-classification", Image.open(wide)),
            timeout=RENDER_TIMEOUT_MS,
        )
    assert (tmp_path / "prediction.png").stat().st_size > 10_000


def test_text_app_classifies_on_enter_and_forgets_an_examples_true_label(page, tmp_path):
    """The text interface's own events: Enter in the textbox classifies, typing clears the true
    label an example brought."""
    from playwright.sync_api import expect

    run = make_text_run(tmp_path / "bert-reviews")
    with served(load_app_module(), run) as server:
        page.goto(server.url)
        page.get_by_role("button", name="Classify").wait_for(timeout=RENDER_TIMEOUT_MS)
        prediction = page.get_by_test_id("label-output-value")

        page.locator("tr", has_text="a boring film").last.click()
        expect(page.get_by_label("True label")).to_have_value("negative")
        expect(prediction).to_have_text(
            expected_top(run, "text-classification", "a boring film"), timeout=RENDER_TIMEOUT_MS
        )

        box = page.get_by_label("Text")
        text = "the plot was really fun"
        box.fill("")  # fill() sets the value without the keystrokes Gradio's `input` listens to
        box.press_sequentially(text)
        expect(page.get_by_label("True label")).to_have_value("")
        box.press("Enter")
        expected = expected_top(run, "text-classification", text)
        expect(prediction).to_have_text(expected, timeout=RENDER_TIMEOUT_MS)
        assert prediction.inner_text() in TEXT_LABELS
