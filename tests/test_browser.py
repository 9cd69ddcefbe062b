"""In a real browser (Chromium via Playwright): the tuning app as `make app` serves it (Voila on
notebooks/app.ipynb: its first screen, a run stopped, idle kernels culled), and a tutorial
notebook run in JupyterLab as `make lab` serves it.

Needs Debian's Chromium at /usr/bin/chromium (Playwright's own browser download is not used).
Writes screenshots to build/screenshots/.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import secrets
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "notebooks" / "app.ipynb"
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


@contextlib.contextmanager
def voila_server(cwd: Path, log: Path):
    """Voila serving notebooks/app.ipynb on 127.0.0.1 with a token, started in ``cwd`` (Voila
    reads voila.json from there; `make app` starts it in the repository's root); yields the
    page's URL and the port."""
    port, token = free_port(), secrets.token_hex(16)
    with serving([sys.executable, "-m", "voila", str(APP), "--no-browser",
                  "--Voila.ip=127.0.0.1", f"--port={port}", f"--Voila.token={token}"],
                 cwd, dict(os.environ), port, log):
        yield f"http://127.0.0.1:{port}/?token={token}", port


@pytest.fixture(scope="module")
def voila(tmp_path_factory):
    """The app as `make app` serves it; yields (url, log file)."""
    log = tmp_path_factory.mktemp("voila") / "voila.log"
    with voila_server(ROOT, log) as (url, _):
        yield url, log


#: Visible elements of the app whose text is cut: clipped (overflow not visible) and wider
#: inside than the box that shows them (sliders, pictures and the tab bar left out), and
#: drop-downs whose chosen label is wider than their box.
CUT_LABELS = """() => [...document.querySelectorAll('.nst-app *')].filter(e => {
  if (e.offsetParent === null || !e.textContent.trim()) return false;
  if (getComputedStyle(e).overflowX === 'visible') return false;
  if (e.querySelector('textarea, img, .widget-slider, .lm-TabBar, .widget-tab')) return false;
  return e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1;
}).map(e => e.textContent.trim().slice(0, 80)).concat(
  [...document.querySelectorAll('.nst-app select')].filter(s => {
    // a drop-down's chosen label wider than its box (less the arrow): the text is cut
    if (s.offsetParent === null || s.selectedIndex < 0) return false;
    const ctx = document.createElement('canvas').getContext('2d');
    ctx.font = getComputedStyle(s).font;
    return ctx.measureText(s.options[s.selectedIndex].text).width > s.clientWidth - 28;
  }).map(s => s.options[s.selectedIndex].text))"""


def d3_exponent(value: float) -> str:
    """``value`` as the sliders' readout (d3-format ".2e") writes it: 5.00e+1, 1.00e-4."""
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa}e{int(exponent):+d}"


def open_app(browser, url: str, log: Path):
    """A 1280x800 page on the app, once its Run button shows; the seconds that took."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    start = time.monotonic()
    page.goto(url, timeout=120_000)
    page.locator(".nst-run").wait_for(state="visible", timeout=180_000)
    return page, time.monotonic() - start


def test_the_first_screen_is_the_app_at_its_defaults_with_no_label_cut(voila):
    from playwright.sync_api import expect, sync_playwright

    from helpers.backbone import resolve_name as resolve_backbone
    from helpers.settings import DEFAULTS, STYLE_WEIGHTS

    url, log = voila
    defaults = DEFAULTS[resolve_backbone("auto")]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page, seconds = open_app(browser, url, log)
        try:
            print(f"first paint of the app: {seconds:.1f} s after the request")  # not a test
            page.screenshot(path=str(SCREENSHOTS / "tuning_app.png"))  # the first screen
            box = page.locator(".nst-app").bounding_box()
            assert box and box["y"] < 150 and box["y"] + 300 < 800  # at the top, in view
            body = page.locator("body").inner_text()
            for text in ("cache hits", "import", "Driving it from code", "Setup"):
                assert text not in body, text  # no notebook prose, code or demo output
            assert "notebook 06" in body
            expect(page.locator(".nst-status")).to_contain_text("Ready")
            readouts = {key: page.locator(f".nst-{key} .widget-readout").inner_text()
                        for key in ("content-weight", "style-weight", "tv-weight")}
            assert readouts == {
                "content-weight": d3_exponent(defaults["content_weight"]),
                "style-weight": d3_exponent(STYLE_WEIGHTS[defaults["style_loss"]]),
                "tv-weight": d3_exponent(defaults["tv_weight"])}
            for tab in ("Layers", "Images", "Run", "Weights"):
                page.get_by_role("tab", name=tab).click()
                page.wait_for_timeout(300)
                assert page.evaluate(CUT_LABELS) == [], f"labels cut on the {tab} tab"
                page.locator(".nst-app").screenshot(
                    path=str(SCREENSHOTS / f"tuning_app_{tab.lower()}.png"))
                if tab == "Run":
                    shown = {key: page.locator(f".nst-{key} .widget-readout").inner_text()
                             for key in ("pyramid-levels", "iterations", "size")}
                    assert shown == {"pyramid-levels": str(defaults["pyramid_levels"]),
                                     "iterations": "100", "size": "256"}
                if tab == "Images":
                    readout = page.locator(".nst-style-scale .widget-readout").inner_text()
                    assert readout == f"{defaults['style_scale']:.2f}"
        except Exception:
            page.screenshot(path=str(SCREENSHOTS / "tuning_failure.png"), full_page=True)
            print(log.read_text()[-5000:])
            raise
        finally:
            browser.close()


def test_move_a_slider_run_watch_the_preview_and_stop(voila):
    from playwright.sync_api import expect, sync_playwright

    url, log = voila
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page, _ = open_app(browser, url, log)
        try:
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

            status = page.locator(".nst-status")
            src = page.locator(".nst-preview").get_attribute("src")
            page.locator(".nst-run").click()
            page.wait_for_function("old => document.querySelector('.nst-preview').src !== old",
                                   arg=src, timeout=180_000)
            expect(status).to_contain_text("Iteration", timeout=60_000)
            page.locator(".nst-stop").click()
            expect(status).to_contain_text("Stopped after", timeout=120_000)
            assert "callback" not in status.inner_text()
            assert re.search(r"Stopped after \d+ iterations? \(\d+\.\d s\)\.",
                             status.inner_text()), status.inner_text()
            page.locator(".nst-history").evaluate("el => el.scrollIntoView({block: 'end'})")
            page.screenshot(path=str(SCREENSHOTS / "tuning_app_history.png"))
            assert page.evaluate(CUT_LABELS) == []  # the status, the history cards
        except Exception:
            page.screenshot(path=str(SCREENSHOTS / "tuning_failure.png"), full_page=True)
            print(log.read_text()[-5000:])
            raise
        finally:
            browser.close()


def test_uploads_through_the_browser_a_bad_file_then_a_good_one(voila, tmp_path):
    """The real upload path (the browser's file chooser, ipywidgets' FileUpload): a text file
    named .png gets one line and changes nothing; so does a 12 MB one (over tornado's 10 MiB
    websocket message default, which dropped it without a word; voila.json raises it); a
    PNG becomes the chosen painting."""
    from playwright.sync_api import expect, sync_playwright

    from helpers.images import save_image

    url, log = voila
    fake = tmp_path / "notes.png"
    fake.write_text("not a picture")
    good = save_image(np.full((48, 64, 3), (200, 40, 40), np.uint8), tmp_path / "red.png")
    large = tmp_path / "large.png"
    large.write_bytes(np.random.default_rng(0).bytes(12 * 2**20))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page, _ = open_app(browser, url, log)
        try:
            page.get_by_role("tab", name="Images").click()
            status = page.locator(".nst-status")
            for path, says in ((fake, "Upload 'notes.png' not used"),
                               (large, "Upload 'large.png' not used"),
                               (good, "Using red.png as the style image.")):
                with page.expect_file_chooser() as chooser:
                    page.locator(".nst-upload-style").click()
                chooser.value.set_files(str(path))
                expect(status).to_contain_text(says, timeout=60_000)
            picked = page.locator(".nst-style select").input_value()
            assert picked.endswith("red.png") or "red.png" in page.locator(
                ".nst-style select option:checked").inner_text()
            assert page.evaluate(CUT_LABELS) == []
            page.locator(".nst-app").screenshot(path=str(SCREENSHOTS / "tuning_app_upload.png"))
        except Exception:
            page.screenshot(path=str(SCREENSHOTS / "tuning_failure.png"), full_page=True)
            print(log.read_text()[-5000:])
            raise
        finally:
            browser.close()


def _kernels(port: int) -> list:
    """The kernel processes of the Voila server listening on ``port``."""
    import psutil

    server = next(p for p in psutil.process_iter(["cmdline"])
                  if f"--port={port}" in (p.info["cmdline"] or []))
    return [c for c in server.children(recursive=True)
            if "ipykernel" in " ".join(c.cmdline())]


def test_a_closed_tab_frees_its_kernel_and_an_open_one_keeps_it(tmp_path):
    """voila.json's culling, with its times shortened (a copy of it in a folder of its own):
    a kernel idle past the timeout is kept while its tab is open and shut down once the tab
    is closed."""
    from playwright.sync_api import sync_playwright

    config = json.loads((ROOT / "voila.json").read_text())
    cull = config["MappingKernelManager"]
    assert 60 <= cull["cull_idle_timeout"] <= 600 and cull["cull_interval"] <= 60
    assert cull["cull_connected"] is False  # an open tab is never culled
    from helpers.app.uploads import MAX_UPLOAD_BYTES

    # an upload a little over the app's limit still reaches the kernel, which says so
    limit = config["Voila"]["tornado_settings"]["websocket_max_message_size"]
    assert limit >= 1.5 * MAX_UPLOAD_BYTES
    config["MappingKernelManager"].update(cull_idle_timeout=4, cull_interval=1)
    (tmp_path / "voila.json").write_text(json.dumps(config))
    log = tmp_path / "voila.log"
    with voila_server(tmp_path, log) as (url, port), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page, _ = open_app(browser, url, log)
            (kernel,) = _kernels(port)
            time.sleep(8)  # twice the idle timeout, the tab open
            assert kernel.is_running(), "the kernel of an open tab was culled"
            page.close()
            kernel.wait(60)  # psutil: raises TimeoutExpired if it is still running
            assert not _kernels(port) and "Culling 'idle' kernel" in log.read_text()
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
