"""Run tutorial notebooks as a learner does: JupyterLab in Chromium, Run > Run All Cells.

Used by ``bench_notebooks.py --lab``. JupyterLab is configured as `make lab` starts it (etc/lab/
first on JUPYTER_CONFIG_PATH: no nbgrader) and serves a temporary copy of notebooks/ (its
autosave writes outputs there, never into the repository) beside links to the repository's
other top-level folders (so ``../bench/quality.py`` and ``../docs/`` resolve as in the
checkout), with throwaway workspace and user settings folders (no earlier layout restored, no
"Jupyter news?" toast over the figures).
Chromium (Debian's, at /usr/bin/chromium) is driven by Playwright, one fresh page per notebook.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from servers import free_port, lab_command, serving

CHROMIUM = Path("/usr/bin/chromium")
WINDOW = {"width": 1440, "height": 900}
#: Every figure (matplotlib's PNGs, and ipywidgets' Image previews) in the notebook's outputs.
FIGURES = ".jp-Notebook .jp-OutputArea-output img"
#: The notebook's scrolling viewport in JupyterLab 4.
SCROLLER = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer"
#: Code cell prompts: how many run ([*]), have run ([n]) and were left unrun ([ ]).
PROMPTS_JS = """() => {
  const texts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
    .map(p => p.textContent);
  return {running: texts.filter(t => t.includes('[*]')).length,
          done: texts.filter(t => /\\[\\d+\\]/.test(t)).length,
          unrun: texts.filter(t => /\\[\\s*\\]/.test(t)).length};
}"""
#: The last line naming the exception of every error output (JupyterLab renders errors, like
#: stderr, as application/vnd.jupyter.stderr).
ERRORS_JS = """() => [...document.querySelectorAll(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
  .map(e => e.textContent.trim())
  .filter(t => t.includes('Traceback') || /^\\w*(Error|Exception)\\b/m.test(t))
  .map(t => {
    const lines = t.split('\\n');
    const named = lines.filter(l => /^\\w*(Error|Exception|Interrupt)\\b/.test(l));
    return named.length ? named[named.length - 1] : lines[lines.length - 1];
  })"""


@dataclass
class Lab:
    """A running JupyterLab: base URL and token."""

    base: str
    token: str

    def api(self, path: str, method: str = "GET"):
        """Call the server's REST API (``/api/<path>``); the decoded JSON answer (or None)."""
        request = urllib.request.Request(f"{self.base}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            body = answer.read()
        return json.loads(body) if body else None

    def session(self, name: str) -> dict | None:
        """The session (notebook + kernel) of notebook ``name``, if it has one."""
        return next((s for s in self.api("sessions") if s.get("path") == name), None)

    def kernel_state(self, name: str) -> str | None:
        """'starting', 'busy', 'idle', ... for the kernel of notebook ``name`` (None: none)."""
        session = self.session(name)
        return session["kernel"].get("execution_state") if session else None


@contextlib.contextmanager
def jupyterlab(notebooks: Path, env: dict) -> Iterator[Lab]:
    """JupyterLab (as `make lab` starts it, on 127.0.0.1 with a token) serving a temporary copy
    of the ``notebooks`` folder, kernels started with ``env``; yields a Lab."""
    with tempfile.TemporaryDirectory(prefix="nst-lab-") as tmp:
        root = Path(tmp) / "notebooks"
        shutil.copytree(notebooks, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        for entry in notebooks.parent.iterdir():  # ../bench, ../docs, ../build as in the checkout
            if entry.name != "notebooks" and not entry.name.startswith("."):
                (Path(tmp) / entry.name).symlink_to(entry)
        config = str(notebooks.parent / "etc" / "lab")  # as `make lab`: no nbgrader
        env = {**env, "JUPYTER_CONFIG_PATH": os.pathsep.join(
            p for p in (config, env.get("JUPYTER_CONFIG_PATH", "")) if p)}
        settings = Path(tmp) / "settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
        port, token = free_port(), secrets.token_hex(16)
        command = lab_command(root, port, token, Path(tmp) / "workspaces")
        command.append(f"--LabApp.user_settings_dir={Path(tmp) / 'settings'}")
        with serving(command, root, env, port, Path(tmp) / "lab.log", seconds=120):
            yield Lab(f"http://127.0.0.1:{port}", token)


def open_notebook(browser, lab: Lab, name: str):
    """A fresh page at the window size showing notebook ``name`` with its kernel idle."""
    page = browser.new_page(viewport=WINDOW)
    # ?reset: a clean workspace, so that the notebook opened before is not opened again.
    page.goto(f"{lab.base}/lab/tree/{name}?reset&token={lab.token}", timeout=120_000)
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=120_000)
    deadline = time.monotonic() + 180
    while lab.kernel_state(name) != "idle":
        if time.monotonic() > deadline:
            raise TimeoutError(f"the kernel of {name} did not start (state "
                               f"{lab.kernel_state(name)})")
        page.wait_for_timeout(250)
    return page


def wait_finished(page, lab: Lab, name: str, start: float, timeout: float) -> float:
    """Wait until every cell has finished: no ``[*]`` prompt, at least one ``[n]`` and the
    kernel idle, twice a second apart (the kernel idles for an instant between queued cells).
    Return the time (perf_counter) when that was first seen; TimeoutError after ``timeout``."""
    seen = None
    while time.perf_counter() - start < timeout:
        cells = page.evaluate(PROMPTS_JS)
        if cells["running"] == 0 and cells["done"] > 0 and lab.kernel_state(name) == "idle":
            seen = seen or time.perf_counter()
            if time.perf_counter() - seen >= 1.0:
                return seen
        else:
            seen = None
        page.wait_for_timeout(250)
    raise TimeoutError(f"not finished after {timeout:.0f} s")


def screenshot_figure(page, figure, path: Path) -> None:
    """Scroll ``figure`` to the middle of the notebook's viewport and save it; a figure taller
    than that viewport gets a taller window for the shot, so that it is not cut off."""
    center = "img => img.scrollIntoView({block: 'center'})"
    figure.evaluate(center)
    figure.evaluate("img => img.decode ? img.decode().catch(() => null) : null")
    box, view = figure.bounding_box(), page.locator(SCROLLER).bounding_box()
    if box and view and box["height"] > view["height"] - 20:
        taller = WINDOW["height"] + int(box["height"] - view["height"]) + 60
        page.set_viewport_size({"width": WINDOW["width"], "height": taller})
        page.wait_for_function(  # JupyterLab lays its panels out again after a resize
            "([sel, h]) => document.querySelector(sel).clientHeight >= h",
            arg=[SCROLLER, box["height"] + 20], timeout=10_000)
        figure.evaluate(center)
        figure.screenshot(path=str(path))
        page.set_viewport_size(WINDOW)
    else:
        figure.screenshot(path=str(path))


def save_screenshots(page, out: Path) -> None:
    """The window scrolled to the notebook's top (``page.png``), then every figure
    (``fig_01.png``, ...) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    page.locator(SCROLLER).evaluate("el => { el.scrollTop = 0; }")
    page.wait_for_timeout(500)
    page.screenshot(path=str(out / "page.png"))
    figures = page.locator(FIGURES)
    for i in range(figures.count()):
        screenshot_figure(page, figures.nth(i), out / f"fig_{i + 1:02d}.png")


def verdict(page, timed_out: str) -> str:
    """'' when every cell ran without an error; else the errors, the unrun cells, a timeout."""
    errors = page.evaluate(ERRORS_JS)
    unrun = page.evaluate(PROMPTS_JS)["unrun"]
    parts = [timed_out] if timed_out else []
    if errors:
        parts.append(f"{len(errors)} error(s): {errors[0][:80]}")
    if unrun:
        parts.append(f"{unrun} cell(s) not run")
    return "; ".join(parts)


def run_in_lab(browser, lab: Lab, name: str, timeout: float,
               save: Path | None) -> tuple[float, int, str]:
    """Open notebook ``name``, Run > Run All Cells, wait until it has finished; (seconds from
    the click, figures shown, error or ''). The kernel is shut down after, nothing is saved."""
    page = open_notebook(browser, lab, name)
    try:
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        start = time.perf_counter()
        timed_out = ""
        try:
            seconds = wait_finished(page, lab, name, start, timeout) - start
        except TimeoutError as exc:
            seconds, timed_out = time.perf_counter() - start, str(exc)
        n_figures = page.locator(FIGURES).count()
        if save is not None:
            save_screenshots(page, save / Path(name).stem)
        return seconds, n_figures, verdict(page, timed_out)
    finally:
        session = lab.session(name)
        if session:  # shut its kernel down: a timed-out run must not go on in the background
            lab.api(f"sessions/{session['id']}", method="DELETE")
        page.close()  # without saving (and autosave only ever writes into the copy)


def walk_lab(paths: list[Path], timeout: float, save: Path | None,
             env: dict) -> Iterator[tuple[Path, float, int, str]]:
    """Run each notebook of ``paths`` (all in notebooks/) in JupyterLab in Chromium; yield
    (path, seconds, figures, error or '') as each finishes."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise SystemExit(f"--lab needs Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with jupyterlab(paths[0].parent, env) as lab, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            for path in paths:
                yield (path, *run_in_lab(browser, lab, path.name, timeout, save))
        finally:
            browser.close()
