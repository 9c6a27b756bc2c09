"""Shared fixtures for the project's own tests."""
import pytest
import torch

# Oracle tests run on every device this machine has: CPU always, CUDA when present.
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    if request.param == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # exact float32 comparisons
        torch.backends.cudnn.allow_tf32 = False
    return torch.device(request.param)


CHROMIUM = "/usr/bin/chromium"  # Debian's chromium: Playwright never downloads a browser here


@pytest.fixture(scope="module")
def chromium():
    """A headless Chromium driven by Playwright, shared by a module's browser tests.

    Without /usr/bin/chromium or the playwright package the test is skipped, except under
    CI=true, where it fails: CI must run the browser tests.
    """
    import os

    missing = [] if os.path.exists(CHROMIUM) else [f"{CHROMIUM} (apt-get install chromium)"]
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append("the playwright package (pip install -e '.[browser]')")
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()
