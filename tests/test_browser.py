"""The tuning app in a real browser: Voila serves notebook 06, Chromium (via Playwright) uses it.

Needs Debian's Chromium at /usr/bin/chromium (Playwright's own browser download is not used).
Writes a 1280x800 screenshot to build/screenshots/.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "06_tuning.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "build" / "screenshots"

if not CHROMIUM.exists():
    pytest.skip("Chromium is not installed; install it with `apt-get install -y chromium` "
                "(as root) to run the browser test", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def voila(tmp_path_factory):
    """Voila serving notebook 06 on 127.0.0.1 with a token; yields (url, log file)."""
    port, token = free_port(), secrets.token_hex(16)
    log = tmp_path_factory.mktemp("voila") / "voila.log"
    env = {**os.environ, "NST_FAST": "1", "MPLBACKEND": "Agg"}
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "voila", str(NOTEBOOK), "--no-browser",
             "--Voila.ip=127.0.0.1", f"--port={port}", f"--Voila.token={token}"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"Voila exited:\n{log.read_text()[-3000:]}"
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, f"Voila did not start:\n{log.read_text()[-3000:]}"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/?token={token}", log
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()


def test_move_a_slider_run_watch_the_preview_stop_and_take_a_screenshot(voila):
    from playwright.sync_api import expect, sync_playwright

    url, log = voila
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        try:
            page.goto(url, timeout=120_000)
            run = page.locator(".nst-run")
            run.wait_for(timeout=180_000)  # Voila first runs the notebook's cells
            status = page.locator(".nst-status")
            expect(status).to_contain_text("Done", timeout=60_000)  # the notebook's own runs

            # Move the style-weight slider with the keyboard, as a user can.
            weight = page.locator(".nst-style-weight")
            readout = weight.locator(".widget-readout")
            before = readout.inner_text()
            weight.locator(".noUi-handle").focus()
            for _ in range(6):
                page.keyboard.press("ArrowRight")
            expect(readout).not_to_have_text(before)

            # A long run (iterations slider to its end) so that Stop has something to stop.
            page.get_by_role("tab", name="Run").click()
            page.locator(".nst-iterations .noUi-handle").focus()
            page.keyboard.press("End")
            expect(page.locator(".nst-iterations .widget-readout")).to_have_text("500")

            preview = page.locator(".nst-preview")
            src = preview.get_attribute("src")
            run.click()
            page.wait_for_function("old => document.querySelector('.nst-preview').src !== old",
                                   arg=src, timeout=60_000)
            expect(status).to_contain_text("Iteration", timeout=30_000)
            page.locator(".nst-stop").click()
            expect(status).to_contain_text("stopped by the callback", timeout=60_000)
            assert "500 iterations" not in status.inner_text()

            app = page.locator(".nst-app")
            for tab in ("Layers", "Images", "Run", "Weights"):
                page.get_by_role("tab", name=tab).click()
                app.screenshot(path=str(SCREENSHOTS / f"tuning_app_{tab.lower()}.png"))
            page.locator(".nst-history").evaluate("el => el.scrollIntoView({block: 'end'})")
            page.screenshot(path=str(SCREENSHOTS / "tuning_app_history.png"))
            app.evaluate("el => el.scrollIntoView({block: 'start'})")
            page.screenshot(path=str(SCREENSHOTS / "tuning_app.png"))  # 1280x800
        except Exception:
            page.screenshot(path=str(SCREENSHOTS / "tuning_failure.png"), full_page=True)
            print(log.read_text()[-5000:])
            raise
        finally:
            browser.close()
