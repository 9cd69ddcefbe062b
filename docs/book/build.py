"""Build the tutorial's book (``make book``): a static site of the executed notebooks, the
README and the docs/ pages with Sphinx and MyST-NB, in ``OUT/html``. No notebook here.

    python docs/book/build.py --executed build/executed -o build/book notebooks/*.ipynb

The notebooks are read from ``--executed`` (executed copies with their outputs: the Makefile
runs a notebook there only when its copy is missing or older than the notebook), never run
here. The source tree Sphinx reads, ``OUT/src``, mirrors the repository (links such as
``../docs/glossary.md`` from a notebook keep working): the README and docs/ copied, the rest
of the repository linked in (so links to code become downloads), ``notebooks/`` holding the
executed copies.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
#: Not linked into the source tree: the build itself, tools' folders, the notebooks (copied).
SKIP = {"build", "notebooks", ".venv", ".git", ".pytest_cache", ".ruff_cache"}
#: Copied, not linked: the pages themselves.
COPIED = {"README.md", "docs", "data"}


def lay_out(src: Path, executed: Path, notebooks: list[Path]) -> None:
    """Fill ``src`` with links to the repository's top-level entries, ``index.md`` and the
    executed copy of every notebook in ``notebooks`` (a missing copy stops the build)."""
    missing = [nb.name for nb in notebooks if not (executed / nb.name).is_file()]
    if missing:
        print(f"error: no executed copy of {', '.join(missing)} in {executed}; run `make book`, "
              "which executes them", file=sys.stderr)
        raise SystemExit(2)
    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    for entry in ROOT.iterdir():  # pages copied (Sphinx names a linked page by its target)
        if entry.name in COPIED:
            copy = shutil.copytree if entry.is_dir() else shutil.copy
            copy(entry, src / entry.name)
        elif entry.name not in SKIP and not entry.name.startswith("."):
            (src / entry.name).symlink_to(entry)
    shutil.copy(HERE / "index.md", src / "index.md")
    for nb in notebooks:
        shutil.copy(executed / nb.name, src / "notebooks" / nb.name)
    shutil.copytree(ROOT / "notebooks" / "exercises", src / "notebooks" / "exercises")


def main(argv: list[str] | None = None) -> int:
    """Lay out the source tree and run Sphinx; return its exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--executed", type=Path, required=True,
                        help="folder of the executed notebooks")
    parser.add_argument("-o", "--out", type=Path, default=ROOT / "build" / "book")
    args = parser.parse_args(argv)
    lay_out(args.out / "src", args.executed, args.notebooks)
    from sphinx.cmd.build import build_main

    return build_main(["-q", "-b", "html", "-c", str(HERE), "-d", str(args.out / "doctrees"),
                       str(args.out / "src"), str(args.out / "html")])


if __name__ == "__main__":
    raise SystemExit(main())
