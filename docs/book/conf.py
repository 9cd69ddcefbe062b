"""Sphinx configuration of the tutorial's book (`make book`; docs/book/build.py lays out the
source tree it reads: the README, docs/*.md and the executed notebooks)."""

project = "Neural style transfer: the tutorial"
author = "the nst-helpers authors"
extensions = ["myst_nb"]
root_doc = "index"
# only the pages of the book: the rest of the tree is there for links to code and data
include_patterns = ["index.md", "README.md", "docs/*.md", "notebooks/*.ipynb", "data/README.md",
                    "notebooks/exercises/README.md"]
exclude_patterns = ["**/.ipynb_checkpoints", "docs/book/**"]
# the notebooks arrive executed (build.py), so the book never runs them
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3  # [text](glossary.md#term) as on GitHub
html_theme = "sphinx_book_theme"
html_title = "Neural style transfer"
html_theme_options = {
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    "use_download_button": True,
}
# links to code (helpers/*.py, bench/) become downloads; no pages of their own
suppress_warnings = ["misc.highlighting_failure", "myst.header"]
