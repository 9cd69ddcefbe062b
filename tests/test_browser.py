"""In a real browser (Chromium via Playwright): the tuning app as Voila serves notebook 06, and a
tutorial notebook run in JupyterLab as `make lab` serves it.

Needs Debian's Chromium at /usr/bin/chromium (Playwright's own browser download is not used).
Writes screenshots to build/screenshots/.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "06_tuning.ipynb"
NOTEBOOK_00 = ROOT / "notebooks" / "00_quickstart.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "build" / "screenshots"

pytestmark = pytest.mark.notebooks  # runs notebooks (left out by make test-fast)

if not CHROMIUM.exists():
    pytest.skip("Chromium is not installed; install it with `apt-get install -y chromium` "
                "(as root) to run the browser test", allow_module_level=True)


def _servers():
    """bench/servers.py as a module (bench/ is not a package): serving(), free_port(), ..."""
    spec = importlib.util.spec_from_file_location("bench_servers", ROOT / "bench" / "servers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


servers = _servers()
serving, free_port = servers.serving, servers.free_port


@pytest.fixture(scope="module")
def voila(tmp_path_factory):
    """Voila serving notebook 06 on 127.0.0.1 with a token, started from the repository's root
    as `make app` starts it (so that it reads voila.json); yields (url, log file)."""
    port, token = free_port(), secrets.token_hex(16)
    log = tmp_path_factory.mktemp("voila") / "voila.log"
    env = {**os.environ, "NST_FAST": "1"}
    with serving([sys.executable, "-m", "voila", str(NOTEBOOK), "--no-browser",
                  "--Voila.ip=127.0.0.1", f"--port={port}", f"--Voila.token={token}"],
                 ROOT, env, port, log):
        yield f"http://127.0.0.1:{port}/?token={token}", log


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

            # The cells tagged not-in-app (the run by hand) are left out by voila.json.
            expect(page.get_by_role("heading", name="The app")).to_have_count(1)
            for text in ("A background run by hand", "That is the whole mechanism",
                         "The app works like the run by hand", "of 200 iterations"):
                expect(page.get_by_text(text)).to_have_count(0)

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


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 with a token, serving a copy of notebook 00 (so that autosave
    never writes outputs into the repository), with the environment `make lab` gives a kernel
    (no MPLBACKEND) plus NST_FAST=1; yields (url of the notebook, log file)."""
    root = tmp_path_factory.mktemp("lab")
    (root / NOTEBOOK_00.name).write_bytes(NOTEBOOK_00.read_bytes())
    port, token = free_port(), secrets.token_hex(16)
    log = root / "lab.log"
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "PYTHONPATH")}
    env["NST_FAST"] = "1"
    with serving(servers.lab_command(root, port, token, root / "workspaces"),
                 root, env, port, log):
        yield f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK_00.name}?token={token}", log


def test_jupyterlab_runs_a_tutorial_notebook_and_shows_its_figures(lab):
    """A learner's path: `make lab`, open 00_quickstart, Run > Run All Cells, see figures."""
    from playwright.sync_api import expect, sync_playwright

    url, log = lab
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        try:
            page.goto(url, timeout=120_000)
            page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=120_000)
            kernel = page.locator(".jp-NotebookPanel-toolbar .jp-KernelName")
            expect(kernel).to_contain_text("Python", timeout=120_000)  # the kernel has started
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            figures = page.locator(".jp-OutputArea-output img")
            expect(figures.first).to_be_visible(timeout=300_000)
            expect(page.locator(".jp-InputPrompt", has_text="[*]")).to_have_count(
                0, timeout=300_000)  # every cell has run
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/"
                                  "vnd.jupyter.stderr']", has_text="Error")
            assert errors.count() == 0, errors.first.inner_text()
            assert figures.count() >= 3  # the pair, the result, the loss curves
            box = figures.first.bounding_box()
            assert box and box["width"] > 200 and box["height"] > 100  # really drawn
            figures.first.scroll_into_view_if_needed()
            page.screenshot(path=str(SCREENSHOTS / "jupyterlab_00_quickstart.png"))
        except Exception:
            page.screenshot(path=str(SCREENSHOTS / "jupyterlab_failure.png"), full_page=True)
            print(log.read_text()[-5000:])
            raise
        finally:
            browser.close()
