"""What a grading kernel may use beyond its address space (issue 32, review findings B and C):
memory no ``RLIMIT_AS`` counts (a ``memfd``'s pages, System V shared memory), processes
(a fork bomb), the size of one file, the memory of many processes together (where a cgroup
can be made), and what it sees of ``/sys`` and ``/etc``; each tried from a real kernel
started the grader's way (a notebook cell), every attack bounded so that on a machine
without the limits it still ends (this machine is shared). Skipped only where the system
refuses the namespaces a kernel hides in (then the grader says so, and which)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from helpers.exercises.grading import GradeRun, run_settings
from helpers.exercises.hiding import hiding_works
from helpers.exercises.kernel_sockets import TRACEBACK_CHARS
from helpers.exercises.runner import new_token, run_notebook

ROOT = Path(__file__).resolve().parent.parent
needs_hiding = pytest.mark.skipif(not hiding_works(), reason="this machine refuses user "
                                  "namespaces: kernels cannot hide anything (the grader says so)")


def _limits():
    """helpers/exercises/limits.py, loaded as the kernel loads it."""
    spec = importlib.util.spec_from_file_location(
        "nst_test_limits", ROOT / "helpers" / "exercises" / "limits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _graded(work: Path, *codes: str, memory_mb: int = 3000) -> tuple[Any, Any]:
    """The notebook of ``codes`` run the grader's way in ``work`` (kernel capped at
    ``memory_mb``), and the outcome."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code, id=f"c{n}")
                                         for n, code in enumerate(codes)])
    work.mkdir(parents=True)
    settings = run_settings(GradeRun(timeout=120, memory_mb=memory_mb, cell_timeout=60),
                            new_token(), [])
    return nb, run_notebook(nb, work, [], settings)


def _cells(tmp_path: Path, *codes: str, memory_mb: int = 600) -> list[list[str]]:
    """Run ``codes`` as the cells of a notebook graded the grader's way (kernel capped at
    ``memory_mb``); each cell's error messages."""
    nb, outcome = _graded(tmp_path / "work" / "ex01", *codes, memory_mb=memory_mb)
    assert all(c.metadata.get("nst_ran") for c in nb.cells), outcome.status
    return [[f"{o.get('ename')}: {o.get('evalue')}" for o in c.get("outputs", [])
             if o.get("output_type") == "error"] for c in nb.cells]


@needs_hiding
@pytest.mark.notebooks
def test_memfd_memory_beyond_the_budget_is_refused(tmp_path):
    """Finding B: pages written to a memfd (never mapped) were outside RLIMIT_AS: a cell held
    3.2 GB under a 3000 MiB cap. Now memfd_create fails (ENOSYS, as on a kernel without
    it) and the cell's error is what the grader reports; the next cell still runs."""
    hog = ("import os\nfd = os.memfd_create('hog')\nchunk = b'x' * (16 << 20)\n"
           "for _ in range(50):  # 800 MiB, beyond the kernel's 600\n    os.write(fd, chunk)\n")
    errors = _cells(tmp_path, hog, "open('after.txt', 'w').write('ran')")
    assert len(errors[0]) == 1 and "[Errno 38]" in errors[0][0], errors
    assert errors[1] == [] and (tmp_path / "work" / "ex01" / "after.txt").exists()


@needs_hiding
@pytest.mark.notebooks
def test_system_v_shared_memory_beyond_the_budget_is_refused(tmp_path):
    """Finding B: System V segments (shmget) are counted by no RLIMIT_AS while unattached.
    Now a kernel's IPC namespace holds at most an eighth of its budget (or System V IPC
    is refused, where its limits cannot be set): asking for 700 MiB in 32 MiB segments
    under a 600 MiB cap stops at 75 MiB; one segment over it is refused at once."""
    cap = _limits().shm_mb(600) << 20
    code = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nheld = 0\n"
            "for _ in range(22):\n    if libc.shmget(0, 32 << 20, 0o1600) < 0:\n        break\n"
            "    held += 32 << 20\n"
            f"big = libc.shmget(0, {cap + (1 << 20)}, 0o1600)\n"
            f"assert held <= {cap} and big < 0, (held, big)")
    assert _cells(tmp_path, code) == [[]]


@needs_hiding
@pytest.mark.notebooks
def test_a_fork_bomb_stops_at_the_cap_and_the_kernel_goes_on(tmp_path):
    """Finding C: the processes a kernel starts were not limited (RLIMIT_NPROC does not bind
    a kernel mapped to root). Now at most limits.processes() (256 on a small machine) run
    at once (PID namespace, pids cgroup or RLIMIT_NPROC): a cell starting up to 2000
    sleeping processes is stopped near the cap, and the next cell still runs. The bomb is
    bounded (2000, each killed at the end of its cell) should a limit be missing."""
    cap = _limits().processes()
    bomb = ("import subprocess\nkids = []\ntry:\n    for _ in range(2000):\n"
            "        kids.append(subprocess.Popen(['sleep', '120']))\nexcept OSError:\n"
            "    pass\nfinally:\n    for kid in kids:\n        kid.kill()\n        kid.wait()\n"
            f"assert 0 < len(kids) <= {cap}, len(kids)\nopen('started.txt', 'w').write("
            "str(len(kids)))")
    errors = _cells(tmp_path, bomb, "import subprocess\nsubprocess.run(['true'], check=True)")
    assert errors == [[], []], errors
    started = int((tmp_path / "work" / "ex01" / "started.txt").read_text())
    assert cap // 2 < started <= cap, started


@needs_hiding
@pytest.mark.notebooks
def test_files_cores_and_open_files_are_limited(tmp_path):
    """Finding C: RLIMIT_FSIZE was unlimited. Now one file holds at most a quarter of the
    kernel's budget (150 MiB under 600, at least 128): writing a (sparse) byte at 200 MiB
    fails with EFBIG; no core files; 1024 open files; the cell sees the same limits."""
    limit = _limits().file_mb(600) << 20
    code = ("import errno, os, resource\nfd = os.open('big.bin', os.O_WRONLY | os.O_CREAT)\n"
            "try:\n    wrote = os.pwrite(fd, b'x', 200 << 20) > 0\nexcept OSError as exc:\n"
            "    wrote = exc.errno != errno.EFBIG\n"
            "got = [resource.getrlimit(r) for r in (resource.RLIMIT_FSIZE, "
            "resource.RLIMIT_CORE, resource.RLIMIT_NOFILE)]\n"
            f"assert not wrote and got == [({limit}, {limit}), (0, 0), (1024, 1024)], "
            "(wrote, got)")
    assert _cells(tmp_path, code) == [[]]


@needs_hiding
@pytest.mark.notebooks
def test_a_kernel_sees_no_network_interface_and_little_of_etc(tmp_path):
    """Minor findings: the host's whole /sys (its network interfaces, devices) and /etc
    (shadow, private keys, every account) were shown. Now /sys holds only the CPUs and
    memory nodes, /etc only what Python and its libraries read, passwd and group only the
    kernel's own user (who still has a name and HOME); NumPy still finds its CPUs."""
    code = ("import getpass, os, pwd, numpy\nnet = os.listdir('/sys/class/net') if "
            "os.path.isdir('/sys/class/net') else []\n"
            "seen = [p for p in ('/etc/shadow', '/etc/ssl/private', '/etc/machine-id', "
            "'/sys/block', '/sys/fs/cgroup') if os.path.exists(p)]\n"
            "users = [p.pw_name for p in pwd.getpwall()]\n"
            "me = pwd.getpwuid(os.getuid())\n"
            "assert set(net) <= {'lo'} and not seen and len(users) <= 2, (net, seen, users)\n"
            "assert me.pw_dir == '/tmp/home' and os.cpu_count() >= 1\n"
            "assert os.path.exists('/sys/devices/system/cpu/online')\n"
            "numpy.dot(numpy.ones((64, 64)), numpy.ones((64, 64)))")
    assert _cells(tmp_path, code) == [[]]


def _groups_left() -> list[str]:
    """The kernels' cgroups in the places a kernel's group is made here."""
    return [os.path.join(base, name) for base, _, _ in _limits()._places()
            for name in os.listdir(base) if name.startswith("nst-kernel-")]


@needs_hiding
@pytest.mark.notebooks
def test_many_processes_share_one_memory_budget_where_a_cgroup_can_be_made(tmp_path):
    """Finding B/C: RLIMIT_AS caps each process, so four children of a cell could hold four
    budgets. Where a cgroup can be made, a kernel's processes share one: four children each
    touching 300 MiB (each well under its own 600 MiB address space) under a 600 MiB kernel
    do not all live (its group is out of memory: a child is SIGKILLed). Its group is gone
    once the kernel is and the next kernel started (the grader kills kernels with SIGKILL:
    their keeper cannot remove it)."""
    if not [place for place in _limits()._places() if "memory" in place[2]]:
        pytest.skip("no cgroup can be made here (not root, no delegated cgroup v2 subtree): "
                    "the instructor's notes say kernels then share no memory budget")
    code = ("import os\nkids = []\nfor _ in range(4):\n    pid = os.fork()\n    if pid == 0:\n"
            "        try:\n            block = bytearray(300 << 20)\n"
            "            for i in range(0, len(block), 4096):\n                block[i] = 1\n"
            "        except MemoryError:\n            os._exit(4)\n        finally:\n"
            "            os._exit(0)\n    kids.append(pid)\n"
            "codes = [os.waitstatus_to_exitcode(os.waitpid(k, 0)[1]) for k in kids]\n"
            "groups = open('/proc/self/cgroup').read()\n"
            "open('groups.txt', 'w').write(groups)\nassert 'nst-kernel-' in groups, groups\n"
            "assert -9 in codes and 4 not in codes, codes  # killed for the group, not by AS")
    assert _cells(tmp_path / "a", code) == [[]]
    text = (tmp_path / "a" / "work" / "ex01" / "groups.txt").read_text()
    first = set(re.findall(r"nst-kernel-[0-9a-f-]+", text))
    assert first, text
    assert _cells(tmp_path / "b", "pass") == [[]]
    assert not first & {Path(p).name for p in _groups_left()}


def test_the_filter_refuses_only_what_it_names():
    """The seccomp filter, in a process of its own: memfd_create fails with ENOSYS, System V
    shared memory only when told (its limits could not be set); the rest works."""
    code = ("import ctypes, errno, importlib.util, os, sys\n"
            "spec = importlib.util.spec_from_file_location('l', sys.argv[2])\n"
            "lim = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(lim)\n"
            "assert lim.refuse_calls(sys.argv[1] == 'keep')\n"
            "try:\n    os.memfd_create('x')\n    memfd = 0\nexcept OSError as exc:\n"
            "    memfd = exc.errno\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "shm = libc.shmget(0, 4096, 0o1600)\nif shm >= 0:\n    libc.shmctl(shm, 0, None)\n"
            "os.pipe()\nprint(memfd, shm >= 0 or ctypes.get_errno())")
    said = {}
    for sysv in ("keep", "refuse"):
        proc = subprocess.run([sys.executable, "-c", code, sysv,
                               str(ROOT / "helpers" / "exercises" / "limits.py")],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        said[sysv] = proc.stdout.split()
    assert said == {"keep": ["38", "True"], "refuse": ["38", "38"]}, said


def _can_unshare() -> bool:
    import shutil

    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "--user", "--map-current-user", "true"], capture_output=True).returncode == 0


@pytest.mark.parametrize("limit,said", [
    ("max_user_namespaces", "user namespaces (max_user_namespaces is 0 or used up)"),
    ("max_net_namespaces", "network namespaces (max_net_namespaces is 0 or used up)")])
def test_the_grader_names_what_the_system_refused(limit, said):
    """Minor finding: the warning said "user namespaces are not available" whatever the
    system refused. Now the grader's probe names it: run where no further user namespace,
    or no network namespace, may be made (a user namespace whose limit is 0), it says
    which."""
    if not _can_unshare():
        pytest.skip("no unshare(1) here to refuse namespaces to one process")
    script = ("from helpers.exercises.hiding import hiding_works, not_hidden\n"
              "print(hiding_works())\nprint(not_hidden())")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(["unshare", "--user", "--map-current-user", "sh", "-c",
                           f'echo 0 > /proc/sys/user/{limit} && exec "$@"', "sh",
                           sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == [
        "False", f"kernels could see the instructor's folder: this system refuses {said}; "
                 "run the grader in the nst-grader container"], proc.stdout


@needs_hiding
def test_the_grader_says_what_limits_a_kernel_here():
    """The instructor's line: what limits each kernel on this machine (the probe's kernel
    says what applied): at least the process cap, file size and memfd here."""
    from helpers.exercises.hiding import kernel_limits

    line = kernel_limits()
    assert line.startswith("kernel limits: address space (--memory-mb), "), line
    assert "memfd_create refused" in line and "files of at most" in line, line
    assert f"{_limits().processes()} processes and threads" in line, line


I386_MEMFD = ("import ctypes, mmap\n"  # memfd_create(NULL, 0) through int 0x80 (i386 calls)
              "code = bytes([0x53, 0xB8, 0x64, 0x01, 0, 0, 0x31, 0xDB, 0x31, 0xC9, 0xCD, 0x80, "
              "0x5B, 0xC3])  # push rbx; mov eax, 356; xor ebx/ecx; int 0x80; pop rbx; ret\n"
              "buf = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | "
              "mmap.PROT_EXEC)\nbuf.write(code)\n"
              "call = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof("
              "ctypes.c_char.from_buffer(buf)))\nprint(call())\n")


def test_the_filter_also_refuses_the_32_bit_calls():
    """A hostile cell may make the i386 system call (int 0x80) instead, whose number differs:
    memfd_create(NULL) through it fails with EFAULT unfiltered (it ran), ENOSYS filtered."""
    import platform

    if platform.machine() != "x86_64":
        pytest.skip("the i386 calls of an x86_64 kernel only")
    plain = subprocess.run([sys.executable, "-c", I386_MEMFD], capture_output=True, text=True,
                           timeout=60)
    if plain.returncode != 0:
        pytest.skip("this kernel makes no i386 system calls: nothing to refuse")
    load = ("import importlib.util\nspec = importlib.util.spec_from_file_location('l', "
            f"{str(ROOT / 'helpers' / 'exercises' / 'limits.py')!r})\n"
            "lim = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(lim)\n"
            "assert lim.refuse_calls(True)\n")
    filtered = subprocess.run([sys.executable, "-c", load + I386_MEMFD], capture_output=True,
                              text=True, timeout=60)
    assert (plain.stdout.strip(), filtered.stdout.strip()) == ("-14", "-38"), filtered.stderr


@needs_hiding
@pytest.mark.notebooks
def test_a_cell_cannot_raise_its_limits(tmp_path):
    """A hostile cell tries to undo its limits: raise its rlimits, rewrite its namespaces'
    System V and pid_max settings, leave its cgroup, or make a memfd through the i386 call.
    Each fails."""
    code = ("import errno, os, resource\nraised = []\n"
            "for r in (resource.RLIMIT_FSIZE, resource.RLIMIT_NOFILE, resource.RLIMIT_NPROC, "
            "resource.RLIMIT_AS):\n    try:\n"
            "        resource.setrlimit(r, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n"
            "        raised.append(r)\n    except (OSError, ValueError):\n        pass\n"
            "for name in ('kernel/shmall', 'kernel/msgmni', 'kernel/pid_max'):\n    try:\n"
            "        open('/proc/sys/' + name, 'w').write('99999999')\n"
            "        raised.append(name)\n    except OSError:\n        pass\n"
            "seen = [p for p in ('/sys/fs/cgroup',) if os.path.exists(p)]\n"
            "assert not raised and not seen, (raised, seen)\n" + I386_MEMFD.replace(
                "print(call())", "result = call()\nassert result in (-38, -14), result"))
    assert _cells(tmp_path, code) == [[]]


@needs_hiding
@pytest.mark.notebooks
def test_no_socket_buffers_beyond_the_budget(tmp_path):
    """A review held 3.7 GB of TCP and UDP buffers under a 3000 MiB cap (through the
    loopback of the kernel's own network namespace; cgroup v1 does not count them). The
    loopback now stays down: nothing can be sent, so nothing is queued."""
    code = ("import errno, socket\nudp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "try:\n    udp.sendto(b'x' * 60000, ('127.0.0.1', 9))\n    got = 'sent'\n"
            "except OSError as exc:\n    got = errno.errorcode.get(exc.errno)\n"
            "tcp = socket.socket()\ntry:\n    tcp.connect(('127.0.0.1', 9))\n"
            "    got2 = 'connected'\nexcept OSError as exc:\n"
            "    got2 = errno.errorcode.get(exc.errno)\n"
            "assert got == got2 == 'ENETUNREACH', (got, got2)")
    assert _cells(tmp_path, code) == [[]]


FLOOD = ("k = get_ipython().kernel\nparent = k.get_parent('shell')\n"
         "for i in range(200):  # 200 errors of 420 kB: 84 MB the grader kept before\n"
         "    k.session.send(k.iopub_socket, 'error', {'ename': 'E', 'evalue': 'v' * 20000,\n"
         "        'traceback': ['x' * 20000] * 20}, parent=parent)\n"
         "for i in range(20):  # records under names the grader never asked for\n"
         "    k.session.send(k.iopub_socket, 'display_data', {'data': {'application/json': {\n"
         "        'nst_answer': 'n%d' % i, 'record': {'pad': 'p' * 2**20}}}, 'metadata': {}},\n"
         "        parent=parent)\n")
MALFORMED = ("k = get_ipython().kernel\nparent = k.get_parent('shell')\n"
             "k.session.send(k.iopub_socket, 'error', {'ename': 'E', 'evalue': 'v', "
             "'traceback': 5}, parent=parent)\n"
             "k.session.send(k.iopub_socket, 'display_data', {'data': [1, 2], 'metadata': {}},"
             " parent=parent)\n")
REPLAYED = ("k = get_ipython().kernel\nframes = k.session.serialize(k.session.msg('stream', "
            "{'name': 'stdout', 'text': 'twice'}, parent=k.get_parent('shell')))\n"
            "k.iopub_socket.send_multipart(frames)\nk.iopub_socket.send_multipart(frames)\n")


@pytest.mark.notebooks
def test_what_a_kernel_sends_cannot_balloon_the_grader(tmp_path):
    """A review grew the grader's worker to 1 GB in a second: every error message of a cell
    was kept, and every answer record under any name. Now a cell keeps its first error
    (tracebacks cut) and the grader only the records it asked for."""
    nb, outcome = _graded(tmp_path / "work" / "ex01", FLOOD)
    errors = [o for o in nb.cells[0].outputs if o.get("output_type") == "error"]
    assert len(errors) == 1 and len(errors[0]["evalue"]) <= TRACEBACK_CHARS, len(errors)
    assert outcome.sent == {} and outcome.status == "", (list(outcome.sent), outcome.status)


@pytest.mark.notebooks
def test_a_malformed_or_replayed_message_is_not_the_graders_failure(tmp_path):
    """One error whose traceback is not a list, data that is not a mapping, or the same
    signed frames sent twice ("Duplicate Signature") ended the review's worker, the
    student's earned results lost. Now a malformed output is dropped and the cells after it
    run; a message the grader cannot read at all ends the notebook with that reason."""
    after = "open('after.txt', 'w').write('ran')"
    assert _cells(tmp_path, MALFORMED, after, memory_mb=3000) == [["E: v"], []]
    _, outcome = _graded(tmp_path / "again" / "ex01", REPLAYED)
    assert outcome.status.startswith(
        "the kernel sent a message the grader could not read, or too large (ValueError: "
        "Duplicate Signature"), outcome.status


WIDGETS = ("k = get_ipython().kernel\nparent = k.get_parent('shell')\n"
           "for i in range(8):  # widget state nbclient kept for ever (4.7 GB in a review)\n"
           "    k.session.send(k.iopub_socket, 'comm_open', {'comm_id': 'c%d' % i,\n"
           "        'target_name': 'jupyter.widget', 'data': {'state': {'pad': 'p' * 2**20}}},\n"
           "        parent=parent)\n")


@pytest.mark.notebooks
def test_widget_messages_are_not_kept_and_a_huge_output_does_not_cut_the_kernel_off(tmp_path):
    """A kernel's widget states are not kept by the grader (the review's 4.7 GB); an honest
    output larger than the grader takes (a 40 MB display; ZeroMQ drops such a message and
    with it the kernel's output channel: every later cell waited 4 s, its errors lost) is
    sent as a note, and the next cell's error still arrives."""
    cells = [WIDGETS, "from IPython.display import display\n"
             "display({'text/plain': 'x' * (40 << 20)}, raw=True)", "raise ValueError('after')"]
    nb, outcome = _graded(tmp_path / "work" / "ex01", *cells)
    assert "widgets" not in nb.metadata, list(nb.metadata.get("widgets", {}))
    errors = [[o.get("evalue") for o in c.outputs if o.get("output_type") == "error"]
              for c in nb.cells]
    assert errors == [[], [], ["after"]] and outcome.status == "", (errors, outcome.status)


@pytest.mark.notebooks
def test_a_huge_error_message_neither_hangs_the_grader_nor_cuts_the_kernel_off(tmp_path):
    """An error of 18 MiB (its value and traceback; the grader takes 16) dropped the shell
    channel and the grader's next send waited for ever, past every time limit (a review).
    The kernel now cuts an error's value and traceback; the cells after it run."""
    errors = _cells(tmp_path, "raise ValueError('e' * (9 << 20))", "raise ValueError('after')",
                    memory_mb=3000)
    assert len(errors[0]) == 1 and errors[0][0].startswith("ValueError: eee"), errors[0][:1]
    assert errors[1] == ["ValueError: after"], errors
