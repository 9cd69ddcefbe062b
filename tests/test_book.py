"""The book (`make book`): the notebooks with their outputs, the README and docs/ as a static
site. Built here in fast mode (NST_FAST=1) from two notebooks, then read in Chromium: every
notebook page renders with as many figures as its executed notebook has, every image loads,
the sidebar, "next" and the glossary links lead to their pages, and a second `make book`
executes nothing. Needs Debian's Chromium at /usr/bin/chromium, as tests/test_browser.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
#: The notebooks the test builds: the first a learner opens and the bridge, which links most.
BOOK_NOTEBOOKS = [ROOT / "notebooks" / "00_quickstart.ipynb",
                  ROOT / "notebooks" / "10_gatys_to_defaults.ipynb"]
DOCS_PAGES = ["README", "docs/glossary", "docs/choosing_defaults", "docs/performance"]

pytestmark = pytest.mark.notebooks  # runs notebooks and a browser (left out by make test-fast)

if not CHROMIUM.exists():
    pytest.skip("Chromium is not installed; install it with `apt-get install -y chromium` "
                "(as root) to run the book test", allow_module_level=True)


def make_book(out: Path, *flags: str) -> subprocess.CompletedProcess:
    """`make book` on BOOK_NOTEBOOKS in fast mode into ``out``, as a learner's shell runs it."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MPLBACKEND", "PYTHONPATH", "MAKEFLAGS", "MFLAGS", "TF_CPP_MIN_LOG_LEVEL")}
    env["NST_FAST"] = "1"
    notebooks = " ".join(str(p) for p in BOOK_NOTEBOOKS)
    return subprocess.run(
        ["make", "-s", "-o", ".venv/.installed", *flags, "book", f"NOTEBOOKS={notebooks}",
         f"BOOK_OUT={out / 'book'}",
         f"BOOK_EXECUTED={out / 'executed'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)


def figures_in(path: Path) -> int:
    """How many images the executed notebook at ``path`` holds in its outputs."""
    nb = nbformat.read(path, as_version=4)
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
               for o in c.outputs)


def broken_images(page) -> list[str]:
    """The src of every <img> on ``page`` that did not load (naturalWidth 0)."""
    page.wait_for_load_state("load")
    return page.eval_on_selector_all(
        "img", "els => els.filter(e => !(e.complete && e.naturalWidth > 0)).map(e => e.src)")


def test_book_builds_and_reads_in_a_browser(tmp_path, server):
    proc = make_book(tmp_path)
    assert proc.returncode == 0, f"make book failed:\n{proc.stderr[-4000:]}"
    html = tmp_path / "book" / "html"
    for nb in BOOK_NOTEBOOKS:
        assert (html / "notebooks" / f"{nb.stem}.html").is_file(), f"no page for {nb.name}"
    again = make_book(tmp_path, "-n")  # what a second `make book` would run
    assert "nbconvert" not in again.stdout, f"a second build re-executes:\n{again.stdout}"

    from playwright.sync_api import expect, sync_playwright

    base = f"{server}/book/html"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page()
        for nb in BOOK_NOTEBOOKS:
            page.goto(f"{base}/notebooks/{nb.stem}.html")
            expect(page.locator("article h1").first).to_contain_text(nb.stem[:2])
            shown = page.locator(".cell_output img").count()
            expected = figures_in(tmp_path / "executed" / nb.name)
            assert expected > 0 and shown == expected, \
                f"{nb.name}: {shown} figures on the page, {expected} in the notebook"
            assert not broken_images(page), f"{nb.name}: images not loaded"
            assert "Traceback" not in page.content(), f"{nb.name}: an error in its outputs"
        for doc in DOCS_PAGES:
            page.goto(f"{base}/{doc}.html")
            expect(page.locator("article h1").first).to_be_visible()
            assert not broken_images(page), f"{doc}: images not loaded"

        # navigation: the sidebar from the start page, "next", and a glossary link
        page.goto(f"{base}/index.html")
        page.locator("nav.bd-links a", has_text="00 · Quick start").first.click()
        expect(page).to_have_url(f"{base}/notebooks/00_quickstart.html")
        page.locator("a.right-next").click()
        expect(page).to_have_url(f"{base}/notebooks/10_gatys_to_defaults.html")
        page.locator("article a", has_text="glossary").first.click()
        expect(page).to_have_url(f"{base}/docs/glossary.html")
        expect(page.locator("article h1").first).to_contain_text("Glossary")
        browser.close()
