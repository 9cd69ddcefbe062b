"""Collecting a class's submissions of the exercise notebooks (notebooks/exercises/ex*.ipynb)
for :mod:`helpers.exercises.grading`: one folder or zip per student, or flat notebooks named
``STUDENT_exNN_….ipynb``.

Nothing is resolved silently. The same student twice (``alice/`` and ``alice.zip``), two
folders differing only in case, leftover copies (``ex02_gram-Copy1.ipynb``,
``ex02_gram (1).ipynb``), notebooks of no known exercise, symlinks leading out of a
submission, a student's folder that is a symlink leading out of the class folder, symlink
loops, folders named like notebooks, pipes and unsafe zip members are all reported
(:attr:`Submission.notes`): the handed-out notebook name wins over a copy, a folder over a
zip over flat files. Zips are read with bounds (members, sizes, names) and never extracted
outside the grader's own temporary folder. :func:`file_name` maps a student's name to a
unique, reversible file name (percent-encoding) for the feedback pages.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from helpers.errors import StyleTransferError
from helpers.files import check_input, write_bytes

#: exNN at the start of a name or after a separator (not inside "index01").
EXERCISE = re.compile(r"(?<![A-Za-z0-9])ex\d\d")
ZIP_BYTES = 500 * 2**20       # the largest zip file read
ZIP_MEMBERS = 2000            # the most entries a zip may list
MEMBER_BYTES = 50 * 2**20     # the largest notebook taken from a zip
UNZIPPED_BYTES = 200 * 2**20  # all notebooks of one zip together
MAX_DEPTH = 20                # folders deep searched in a submission
MAX_FILES = 100_000           # files listed in the class folder
#: Where submissions come from, best first: a folder beats a zip beats flat files.
_RANK = {"folder": 0, "zip": 1, "file": 2}


@dataclass
class Submission:
    """One student's hand-in: exercise key -> notebook, or ``problem`` (why nothing could
    be read), and ``notes`` for the instructor (copies, duplicates, refused files)."""

    student: str
    origin: str
    kind: str
    notebooks: dict[str, Path] = field(default_factory=dict)
    problem: str = ""
    notes: list[str] = field(default_factory=list)
    root: Path | None = None   # where the notebooks' names are relative to

    def shown(self, path: Path) -> str:
        """How the instructor knows this notebook: ``alice/ex01.ipynb``, ``alice.zip:
        ex01.ipynb`` or ``alice_ex01.ipynb``."""
        inner = str(path.relative_to(self.root)) if self.root else path.name
        return {"folder": f"{self.origin}{inner}", "zip": f"{self.origin}: {inner}"}.get(
            self.kind, inner)


def file_name(student: str, fold_case: bool = False) -> str:
    """A file name (no suffix) for ``student``, unique and reversible
    (``urllib.parse.unquote`` gives the name back): letters, digits, ``-``, ``_`` and ``.``
    stay, everything else is percent-encoded, so "a b", "a_b" and "a?b" get three names.
    ``fold_case`` also encodes capitals (for names differing only in case, which a
    case-insensitive disk would otherwise merge). Names over 200 bytes encoded are cut and
    given a hash of the whole name (unique, no longer reversible)."""
    safe = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")
    if not fold_case:
        safe |= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    name = "".join(ch if ch in safe else "".join(
        f"%{b:02X}" for b in ch.encode("utf-8", "surrogateescape")) for ch in student)
    if name.startswith("."):   # hidden file names stay visible
        name = "%2E" + name[1:]
    if len(name.encode()) > 200:
        import hashlib

        name = f"{name[:180]}~{hashlib.sha256(student.encode()).hexdigest()[:16]}"
    return name or "%00"


def fold(name: str) -> str:
    """``name`` as a case-insensitive, Unicode-normalising disk would see it."""
    return unicodedata.normalize("NFKC", name).casefold()


def _is_copy(path: Path, canonical: set[str]) -> bool:
    return path.name not in canonical


def _choose(paths: list[Path], canonical: set[str], where: Path) -> tuple[Path, list[str]]:
    """The notebook to grade among ``paths`` for one exercise, and notes on the others: the
    handed-out name wins over a copy, the shallowest over a deeper one."""
    paths = sorted(paths, key=lambda p: (_is_copy(p, canonical), len(p.parts), str(p)))
    chosen, notes = paths[0], []
    shown = chosen.relative_to(where)
    if len(paths) > 1:
        others = ", ".join(str(p.relative_to(where)) for p in paths[1:])
        notes.append(f"several notebooks for one exercise: graded {shown}, not {others}")
    elif _is_copy(chosen, canonical):
        notes.append(f"graded {shown} (not the handed-out name)")
    return chosen, notes


def sort_notebooks(paths: list[Path], where: Path, keys: set[str], canonical: set[str]
                   ) -> tuple[dict[str, Path], list[str]]:
    """exercise key -> notebook among ``paths`` (found under ``where``), and notes: copies,
    unknown exercises. ``keys``: the exercises graded; ``canonical``: the handed-out file
    names."""
    groups: dict[str, list[Path]] = {}
    notes = []
    for path in paths:
        match = EXERCISE.search(path.name)
        if match and match.group(0) in keys:
            groups.setdefault(match.group(0), []).append(path)
        else:
            notes.append(f"{path.relative_to(where)}: not a notebook of any exercise; ignored")
    found = {}
    for key in sorted(groups):
        found[key], more = _choose(groups[key], canonical, where)
        notes += more
    return found, notes


def walk(folder: Path, hidden: bool = True) -> tuple[list[Path], list[str]]:
    """Every file under ``folder`` (symlinks listed, symlinked folders not followed; hidden
    and ``__MACOSX`` folders skipped unless ``hidden``), breadth first, at most
    :data:`MAX_DEPTH` folders deep and :data:`MAX_FILES` files; notes on what was left out."""
    files, notes, queue = [], [], [(folder, 0)]
    while queue:
        top, depth = queue.pop(0)
        try:
            entries = sorted(os.scandir(top), key=lambda e: e.name)
        except OSError as exc:
            notes.append(f"{top.relative_to(folder)}: cannot be read ({exc.strerror}); skipped")
            continue
        for entry in entries:
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                if not hidden and (entry.name.startswith(".") or entry.name == "__MACOSX"):
                    continue
                if entry.name.endswith(".ipynb"):
                    notes.append(f"{path.relative_to(folder)}: a folder named like a notebook; "
                                 "not graded")
                if depth + 1 > MAX_DEPTH:
                    notes.append(f"{path.relative_to(folder)}: over {MAX_DEPTH} folders deep; "
                                 "skipped")
                    continue
                queue.append((path, depth + 1))
            else:
                files.append(path)
        if len(files) > MAX_FILES:
            notes.append(f"over {MAX_FILES} files; the rest skipped")
            break
    return files[:MAX_FILES], notes


def _walk(folder: Path) -> tuple[list[Path], list[str]]:
    """The ``*.ipynb`` files under ``folder`` (see :func:`walk`; checkpoints and hidden
    folders skipped), and notes on files refused (symlinks leading out of the folder,
    pipes, devices)."""
    found, root = [], folder.resolve()
    files, notes = walk(folder, hidden=False)
    for path in files:
        if not path.name.endswith(".ipynb") or path.name.startswith("."):
            continue
        shown = path.relative_to(folder)
        if path.is_symlink():
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError):  # a loop, or a link to nothing
                notes.append(f"{shown}: a symlink that leads nowhere (a loop or a missing "
                             "file); not graded")
                continue
            if not target.is_relative_to(root):
                notes.append(f"{shown}: a symlink to a file outside the submission; not graded")
                continue
        try:
            check_input(path, "notebook")
        except StyleTransferError as exc:
            notes.append(f"{shown}: {exc}; not graded")
            continue
        found.append(path)
    return found, notes


def _member_name(info: zipfile.ZipInfo) -> PurePosixPath | None:
    """The member's path if it is safe to extract (relative, no ``..``, no drive)."""
    text = info.filename.replace("\\", "/")
    name = PurePosixPath(text)
    if (name.is_absolute() or ".." in name.parts or re.match(r"^[A-Za-z]:", text)
            or "\0" in text or not name.parts):
        return None
    return name


def _members(zf: zipfile.ZipFile) -> tuple[list[tuple[zipfile.ZipInfo, PurePosixPath]],
                                            list[str]]:
    """The notebooks of the zip worth extracting, and notes on the members refused."""
    infos = zf.infolist()
    if len(infos) > ZIP_MEMBERS:
        raise StyleTransferError(f"it lists {len(infos)} entries (at most {ZIP_MEMBERS})")
    chosen, notes, total, seen = [], [], 0, set()
    for info in infos:
        if info.is_dir() or not info.filename.endswith(".ipynb") or "__MACOSX" in info.filename:
            continue
        name = _member_name(info)
        if name is None:
            notes.append(f"{info.filename[:80]!r}: an unsafe name in the zip; not extracted")
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            notes.append(f"{name}: a symlink in the zip; not extracted")
            continue
        if str(name).casefold() in seen:
            notes.append(f"{name}: listed twice in the zip; the first one was taken")
            continue
        seen.add(str(name).casefold())
        total += info.file_size
        if info.file_size > MEMBER_BYTES or total > UNZIPPED_BYTES:
            raise StyleTransferError(f"{name} unpacks to too much ({info.file_size} bytes; "
                                     f"at most {MEMBER_BYTES} per notebook, "
                                     f"{UNZIPPED_BYTES} in all)")
        chosen.append((info, name))
    return chosen, notes


def unzip(archive: Path, into: Path) -> list[str]:
    """Extract the notebooks of ``archive`` into ``into`` (bounded: see the module); return
    notes on members refused. Raises StyleTransferError saying why the zip cannot be read."""
    check_input(archive, "zip")
    if archive.stat().st_size > ZIP_BYTES:
        raise StyleTransferError(f"the zip is larger than {ZIP_BYTES // 2**20} MB")
    try:
        with zipfile.ZipFile(archive) as zf:
            chosen, notes = _members(zf)
            for info, name in chosen:
                target = into.joinpath(*name.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as member:
                    data = member.read(MEMBER_BYTES + 1)
                if len(data) > MEMBER_BYTES:
                    raise StyleTransferError(f"{name} unpacks to more than {MEMBER_BYTES} bytes")
                write_bytes(target, data)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, RuntimeError, NotImplementedError,
            EOFError, ValueError, OSError) as exc:  # encrypted, damaged, odd compression
        raise StyleTransferError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                                 ) from None
    return notes


def _link_out(entry: Path) -> str:
    """Why the class folder's symlinked folder ``entry`` is not graded ("" if it stays inside
    the class folder): it leads outside, where the grader must not look."""
    try:
        target = entry.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # changed since is_dir()
        return f"a symlink that cannot be followed ({exc}); not graded"
    if not target.is_relative_to(entry.parent.resolve()):
        return f"a symlink to {target}, outside the submissions folder; not graded"
    return ""


def _entry(entry: Path, unpack: Path, canonical: dict[str, str]) -> Submission | None:
    """The submission of one entry of the class folder (None: not a submission)."""
    if entry.is_dir() and entry.is_symlink() and (problem := _link_out(entry)):
        return Submission(entry.name, f"{entry.name}/", "folder", problem=problem)
    if entry.is_dir():
        sub = Submission(entry.name, f"{entry.name}/", "folder", root=entry)
        paths, sub.notes = _walk(entry)
        sub.notebooks, more = sort_notebooks(paths, entry, set(canonical),
                                             set(canonical.values()))
        sub.notes += more
        return sub
    if entry.suffix.lower() == ".zip":
        into = unpack / file_name(entry.name, fold_case=True)
        sub = Submission(entry.stem, entry.name, "zip", root=into)
        try:
            sub.notes = unzip(entry, into)
        except StyleTransferError as exc:
            sub.problem = f"could not read {entry.name}: {exc}"
            return sub
        paths, more = _walk(into) if into.is_dir() else ([], [])
        sub.notebooks, more2 = sort_notebooks(paths, into, set(canonical),
                                              set(canonical.values()))
        sub.notes += more + more2
        if not paths:
            sub.notes.append(f"{entry.name} holds no notebooks")
        return sub
    return None


def _flat(entries: list[Path], canonical: dict[str, str]) -> list[Submission]:
    """Submissions from notebooks named ``STUDENT_exNN_….ipynb`` lying in the class folder."""
    by_student: dict[str, list[Path]] = {}
    notes: dict[str, list[str]] = {}
    for entry in entries:
        match = EXERCISE.search(entry.name)
        name = entry.stem[: match.start()].strip("_- .") if match else ""
        if not match or not name:
            continue
        try:
            check_input(entry, "notebook")
        except StyleTransferError as exc:
            notes.setdefault(name, []).append(f"{entry.name}: {exc}; not graded")
            continue
        by_student.setdefault(name, []).append(entry)
    subs = []
    for name in sorted(set(by_student) | set(notes)):
        sub = Submission(name, f"{name}_ex….ipynb", "file", notes=notes.get(name, []),
                         root=entries[0].parent)
        names = {f"{name}{sep}{v}" for v in canonical.values() for sep in "_- ."}
        sub.notebooks, more = sort_notebooks(by_student.get(name, []), entries[0].parent,
                                             set(canonical), names)
        sub.notes += more
        subs.append(sub)
    return subs


def _merge(subs: list[Submission]) -> list[Submission]:
    """One submission per student: the same name twice keeps the best origin (a folder, then
    a zip, then flat files) and says so; names differing only in case are both kept and
    flagged."""
    by_name: dict[str, list[Submission]] = {}
    for sub in subs:
        by_name.setdefault(sub.student, []).append(sub)
    kept = []
    for name, same in by_name.items():
        same.sort(key=lambda s: _RANK[s.kind])
        best = same[0]
        if len(same) > 1:
            others = ", ".join(s.origin for s in same[1:])
            best.notes.insert(0, f"handed in more than once: graded {best.origin}, not "
                                 f"{others}; check which one {name} meant")
        kept.append(best)
    folded: dict[str, list[str]] = {}
    for sub in kept:
        folded.setdefault(fold(sub.student), []).append(sub.student)
    for sub in kept:
        twins = [n for n in folded[fold(sub.student)] if n != sub.student]
        if twins:
            sub.notes.insert(0, f"names differing only in case or accents' encoding: "
                                f"{sub.student!r} and "
                                f"{', '.join(map(repr, twins))}; both graded, check they are "
                                "two students")
    return sorted(kept, key=lambda s: (s.student.casefold(), s.student))


def collect(submissions: Path, unpack: Path, canonical: dict[str, str]
            ) -> tuple[list[Submission], list[str]]:
    """Every student's submission in the class folder ``submissions`` (zips extracted into
    ``unpack``), and notes on entries that are no submission. ``canonical``: exercise key ->
    handed-out notebook name."""
    if not submissions.is_dir():
        raise StyleTransferError(f"submissions folder not found: {submissions}")
    entries = sorted(e for e in submissions.iterdir() if not e.name.startswith("."))
    subs, notes, flat = [], [], []
    for entry in entries:
        if entry.suffix == ".ipynb" and not entry.is_dir():
            flat.append(entry)
        elif (sub := _entry(entry, unpack, canonical)) is not None:
            subs.append(sub)
        elif entry.is_symlink() and not entry.exists():
            notes.append(f"{entry.name}: a symlink that leads nowhere (a loop or a missing "
                         "file); ignored")
        else:
            notes.append(f"{entry.name}: not a folder, zip or notebook; ignored")
    if flat:
        subs += _flat(flat, canonical)
        notes += [f"{e.name}: no STUDENT_exNN_ in its name; ignored" for e in flat
                  if not (m := EXERCISE.search(e.name)) or not e.stem[: m.start()].strip("_- .")]
    if not subs:
        raise StyleTransferError(f"no submissions in {submissions}: expected one folder or zip "
                                 "per student, or notebooks named STUDENT_exNN_….ipynb")
    return _merge(subs), notes
