"""Every file the project writes goes through the one atomic writer (helpers.files): no module
of helpers/ but files.py opens a file for writing, writes a Path's text or bytes, or saves a
figure or a picture straight to its final path (a kill or a full disk would leave it half
written). Writing into a temporary path that ``atomic_write`` yielded is fine: those calls take
the name the ``with`` statement bound."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HELPERS = Path(__file__).resolve().parent.parent / "helpers"
MODULES = sorted(p for p in HELPERS.rglob("*.py") if p.name != "files.py")
WRITING_MODES = set("wx+?")  # appending a line to a log ("a") is not replacing a file
#: shutil's calls that write a whole file to a path.
COPIES = {"copyfile", "copy", "copy2", "move"}
#: Calls that write a whole file to the path they are given.
WRITERS = {"write_text", "write_bytes", "savefig", "savez", "savez_compressed", "to_csv"}


def _atomic_names(tree: ast.AST) -> set[str]:
    """Names bound by ``with atomic_write(...) as NAME`` or ``atomic_together(...) as (A, B)``
    (the temporary paths)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.With):
            for item in node.items:
                call = item.context_expr
                if (isinstance(call, ast.Call) and getattr(call.func, "id", getattr(
                        call.func, "attr", "")) in ("atomic_write", "atomic_together")
                        and item.optional_vars is not None):
                    out |= {n.id for n in ast.walk(item.optional_vars)
                            if isinstance(n, ast.Name)}
    return out


def _ours(call: ast.Call) -> bool:
    """A call of helpers.files' own writers (``write_text(path, ...)``,
    ``files.write_bytes(...)``): a Path's methods are always called on the path."""
    return isinstance(call.func, ast.Name) or (
        isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name)
        and call.func.value.id == "files")


def _bound_to(tree: ast.AST, text: str) -> set[str]:
    """Names assigned anywhere in the module from an expression whose source contains
    ``text`` (``io.BytesIO(``: in-memory buffers; ``Image.``: Pillow images)."""
    return {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
            and text in ast.unparse(node.value) for t in node.targets if isinstance(t, ast.Name)}


def _mentions(node: ast.AST, names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(node))


def _open_mode(call: ast.Call) -> str:
    """The mode of ``open(path, mode)`` or ``path.open(mode)``; ``"?"`` (counted as writing)
    when it is not written out."""
    method = isinstance(call.func, ast.Attribute)
    args = call.args[0:1] if method else call.args[1:2]
    args += [k.value for k in call.keywords if k.arg == "mode"]
    if not args:
        return "r"
    if isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
        return args[0].value
    # a method's first argument that is no mode: another open (Image.open(path),
    # zipfile's open(member), os.open(path, flags)), which reads
    return "r" if method else "?"


def _opened(call: ast.Call) -> ast.AST:
    """What ``open`` opens: its first argument, or the path ``path.open()`` is called on."""
    if isinstance(call.func, ast.Attribute):
        return call.func.value
    return call.args[0] if call.args else call


def direct_writes(path: Path) -> list[str]:
    """``line: call`` of every write to a final path in the module at ``path``."""
    tree = ast.parse(path.read_text())
    temporary = _atomic_names(tree) | _bound_to(tree, "BytesIO(")
    pillow = _bound_to(tree, "Image.")
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        target = node.func.value if isinstance(node.func, ast.Attribute) else None
        if name == "open" and WRITING_MODES & set(_open_mode(node)):
            if not _mentions(_opened(node), temporary):
                found.append(f"{node.lineno}: open(..., {_open_mode(node)!r})")
        elif _ours(node):
            continue
        elif name in WRITERS or name in COPIES and ast.unparse(target or node) == "shutil" or (
                name == "save" and target is not None and (
                    ast.unparse(target) == "np" or "Image." in ast.unparse(target)
                    or _mentions(target, pillow))):
            inside = _mentions(target, temporary) if target is not None else False
            if not inside and not any(_mentions(a, temporary) for a in node.args):
                found.append(f"{node.lineno}: {ast.unparse(node.func)}(...)")
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(HELPERS)))
def test_every_write_goes_through_the_atomic_writer(path):
    assert not direct_writes(path), (
        f"{path.relative_to(HELPERS)} writes a final path directly (use helpers.files."
        f"atomic_write, write_text, write_bytes or save_figure): {direct_writes(path)}")


def test_the_check_sees_a_direct_write(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(p, fig, m):\n    p.write_text('x')\n    fig.savefig(p)\n"
                   "    open(p, 'w').write('y')\n    Image.fromarray(p).save(p)\n"
                   "    p.open('w')\n    open(p, m)\n    np.save(p, 1)\n"
                   "    shutil.copyfile(p, p)\n")
    good = tmp_path / "good.py"
    good.write_text("def f(p, fig):\n    with atomic_write(p) as tmp:\n"
                    "        fig.savefig(tmp)\n        open(tmp, 'wb').write(b'y')\n")
    assert len(direct_writes(bad)) == 8 and direct_writes(good) == []
