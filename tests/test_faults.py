"""Faults and hostile input: nothing destroyed, nothing lost, no false failure.

Real signals, real concurrent processes, real device nodes (made with mknod in
a temporary folder, never the machine's own /dev).
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CASES, ROOT, TEST_CASES, racekit, wait_for_marks
from test_cli import AS_FROM_A_TERMINAL, _stuck

FAULTS = TEST_CASES / "faults"
CHECK = str(CASES / "check_then_act.yaml")


def run_json(*args: str, env: dict | None = None, cwd: Path = ROOT) -> tuple[subprocess.CompletedProcess, dict | None]:
    proc = racekit("run", *args, "-f", "json", env=env, cwd=cwd)
    try:
        return proc, json.loads(proc.stdout)
    except ValueError:
        return proc, None


# -- 1. the schedule database replaces nothing that is not its own ------------------------

def _device(path: Path) -> bool:
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # what /dev/null is
        return True
    except (PermissionError, OSError):
        return False


@pytest.mark.once  # racekit's own files and input: the same on every interpreter
def test_the_database_refuses_a_device_node_and_leaves_it_alone(tmp_path):
    node = tmp_path / "null"
    if not _device(node):
        pytest.skip("mknod needs root")
    proc = racekit("run", CHECK, "-n", "2", env={"RACEKIT_DATABASE": str(node)})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"RACEKIT_DATABASE={node} is a device or special file" in proc.stderr
    assert stat.S_ISCHR(os.lstat(node).st_mode)


@pytest.mark.once  # racekit's own files and input: the same on every interpreter
@pytest.mark.parametrize("kind", ["symlink", "json file", "someone's folder"])
def test_the_database_refuses_what_racekit_did_not_make(tmp_path, kind):
    precious = tmp_path / "precious.json"
    precious.write_text('{"mine": true}\n')
    if kind == "symlink":
        target = tmp_path / "link"
        target.symlink_to(precious)
        expected = "is a symbolic link"
    elif kind == "json file":
        target = precious
        expected = "is a regular file, not racekit's database folder"
    else:
        target = tmp_path / "folder"
        target.mkdir()
        (target / "notes.txt").write_text("keep")
        expected = "is a folder racekit did not make"
    proc = racekit("run", CHECK, "-n", "2", env={"RACEKIT_DATABASE": str(target)})
    assert proc.returncode == 2 and expected in proc.stderr and "Traceback" not in proc.stderr
    assert precious.read_text() == '{"mine": true}\n'
    if kind == "someone's folder":
        assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]


# -- 2. a damaged or stale database costs a warning, never a verdict -----------------------

def _entries(db: Path) -> list[Path]:
    return [p for p in db.rglob("*") if p.is_file() and not p.name.startswith(".")]


@pytest.mark.once  # racekit's own files and input: the same on every interpreter
def test_damaged_and_stale_entries_are_skipped_with_a_warning(tmp_path):
    db = tmp_path / "db"
    env = {"RACEKIT_DATABASE": str(db)}
    proc, doc = run_json(CHECK, "-V", "unlocked", "-n", "30", "--seed", "1", env=env)
    assert doc["cases"][0]["variants"][0]["verdict"] == "race"
    (entry,) = _entries(db)
    folder = entry.parent
    (folder / "truncated").write_text('{"variant": "check_then_act[unl')
    (folder / "binary").write_bytes(b"\xff\xfe\x00garbage")
    (folder / "shape").write_text('["not", "a", "mapping"]')
    stale = folder / ("2" * 20)  # named as racekit names its entries: racekit may remove it
    stale.write_text(json.dumps({"variant": "check_then_act[unlocked]", "schedule": "3:abc"}))
    proc, doc = run_json(CHECK, "-V", "unlocked", "-n", "10", "--seed", "2", env=env)
    variant = doc["cases"][0]["variants"][0]
    assert proc.returncode == 0 and variant["verdict"] == "race" and variant["ok"]
    assert "error" not in " ".join(variant["outcomes"])
    assert proc.stderr.count("warning: skipped a damaged saved schedule") == 3
    assert "warning: skipped a saved schedule of check_then_act[unlocked] that no longer fits it" in proc.stderr
    assert not stale.exists()  # its own stale entry is forgotten
    assert {p.name for p in folder.iterdir()} >= {"truncated", "binary", "shape"}  # not its names: left alone


@pytest.mark.once  # racekit's own files and input: the same on every interpreter
def test_an_entry_whose_schedule_racekit_cannot_read_is_skipped_forgotten_and_never_graded(tmp_path):
    db = tmp_path / "db"
    env = {"RACEKIT_DATABASE": str(db)}
    run_json(CHECK, "-V", "unlocked", "-n", "30", "--seed", "1", env=env)
    (entry,) = _entries(db)
    folder = entry.parent
    for name, schedule in (("0" * 20, "zzz"), ("1" * 20, "2:c5")):  # well-formed entries, unusable schedules
        (folder / name).write_text(json.dumps({"variant": "check_then_act[unlocked]", "schedule": schedule}))
    for seed in ("2", "3"):
        proc, doc = run_json(CHECK, "-V", "unlocked", "-n", "10", "--seed", seed, env=env)
        variant = doc["cases"][0]["variants"][0]
        assert proc.returncode == 0 and variant["verdict"] == "race" and variant["ok"], proc.stderr
        assert not any("error" in outcome for outcome in variant["outcomes"])
        if seed == "2":
            assert proc.stderr.count("that no longer fits it (not a racekit schedule: 'zzz'") == 1
            assert "names thread 3, but declares 2 threads" in proc.stderr
        else:
            assert "no longer fits" not in proc.stderr  # forgotten: warned about once
    assert not (folder / ("0" * 20)).exists() and not (folder / ("1" * 20)).exists()


@pytest.mark.once  # racekit's own files and input: the same on every interpreter
def test_saved_schedules_replay_in_addition_to_the_runs_asked_for_and_a_stale_one_never_stands_in(tmp_path):
    db = tmp_path / "db"
    env = {"RACEKIT_DATABASE": str(db)}
    run_json(CHECK, "-V", "unlocked", "-n", "30", "--seed", "1", "-m", "controlled", env=env)
    (entry,) = _entries(db)
    entry.unlink()  # only stale entries left: well-formed schedules that no longer fit
    stale = [entry.parent / hashlib.blake2b(s.encode(), digest_size=10).hexdigest() for s in ("3:abc", "3:cba")]
    for path, schedule in zip(stale, ("3:abc", "3:cba")):
        path.write_text(json.dumps({"variant": "check_then_act[unlocked]", "schedule": schedule}))
    proc, doc = run_json(CHECK, "-V", "unlocked", "-n", "2", "--seed", "3", "-m", "controlled", env=env)
    variant = doc["cases"][0]["variants"][0]
    assert variant["runs"] == 2 and variant["verdict"] == "race", proc.stderr  # both runs asked for ran
    assert "that no longer fits it" in proc.stderr and not any(p.exists() for p in stale)  # forgotten (said once)
    # A fresh saved failure replays first, on top of the 2 runs asked for.
    proc, doc = run_json(CHECK, "-V", "unlocked", "-n", "2", "--seed", "4", "-m", "controlled", env=env)
    assert doc["cases"][0]["variants"][0]["runs"] == 3


@pytest.mark.once  # racekit's own files and input: the same on every interpreter
@pytest.mark.parametrize("planted", ["variant folder", "entry"])
def test_a_link_planted_in_the_database_is_neither_followed_nor_trimmed(tmp_path, planted):
    # Folder and entry names are deterministic: a link committed to a repository
    # or restored from a CI cache must not let a run write into, or trim, what it points to.
    db = tmp_path / "db"
    env = {"RACEKIT_DATABASE": str(db)}
    run_json(CHECK, "-V", "unlocked", "-n", "30", "--seed", "1", env=env)
    (entry,) = _entries(db)
    precious = tmp_path / "precious"
    precious.mkdir()
    for i in range(8):
        (precious / f"{i:020x}").write_text(f"keep {i}\n")  # even named as racekit names its entries
    if planted == "variant folder":
        folder = entry.parent
        shutil.rmtree(folder)
        folder.symlink_to(precious, target_is_directory=True)
    else:
        victim = precious / ("0" * 20)
        entry.unlink()
        entry.symlink_to(victim)
    said = ""
    for seed in ("2", "3", "4"):
        proc, doc = run_json(CHECK, "-V", "unlocked", "-n", "30", "--seed", seed, env=env)
        assert proc.returncode == 0 and doc["cases"][0]["variants"][0]["verdict"] == "race", proc.stderr
        said += proc.stderr
    assert "a symbolic link or special file racekit did not make" in said
    assert sorted(p.name for p in precious.iterdir()) == [f"{i:020x}" for i in range(8)]
    assert all((precious / f"{i:020x}").read_text() == f"keep {i}\n" for i in range(8))


@pytest.mark.once  # racekit's own start-up: the same on every interpreter
@pytest.mark.parametrize("name, said", [("collections", "racekit itself uses collections"),
                                        ("racekit.engine", "racekit's own code is never rewritten")])
def test_instrumenting_a_module_racekit_itself_uses_is_refused_before_any_trial(name, said):
    proc = racekit("run", CHECK, "-n", "2", "--instrument", name, env={"RACEKIT_DATABASE": "off"})
    assert proc.returncode == 2 and said in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


# -- workers start whatever the working folder holds -------------------------------------

SHADOWS = ("threading", "random", "signal", "types", "enum", "racekit")


@pytest.mark.once  # racekit's own start-up: the same on every interpreter
def test_a_students_threading_py_in_the_working_folder_shadows_nothing(tmp_path):
    # A first experiment is called threading.py; racekit's workers must not import it.
    script = Path(sys.executable).with_name("racekit")
    if not script.exists():
        pytest.skip("racekit's console script is not installed beside this interpreter")
    for name in SHADOWS:
        (tmp_path / f"{name}.py").write_text("raise SystemExit('shadowed: ' + __name__)\n")
    shutil.copy(CASES / "balance.yaml", tmp_path)
    proc = subprocess.run([str(script), "run", "balance.yaml", "-V", "unlocked", "-n", "3", "-f", "json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "RACEKIT_DATABASE": "off"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["cases"][0]["variants"][0]["verdict"] == "race"


@pytest.mark.once  # racekit's own start-up: the same on every interpreter
def test_workers_that_die_before_their_first_word_end_the_run_with_exit_2_and_their_words(tmp_path):
    # A sitecustomize that exits in racekit's workers only: before, racekit started new ones for ever.
    (tmp_path / "sitecustomize.py").write_text(
        "import os, sys\n"
        "if 'racekit-worker-' in os.environ.get('TMPDIR', ''):\n"
        "    sys.stderr.write('broken site: cannot start\\n')\n"
        "    os._exit(3)\n")
    started = time.monotonic()
    proc = racekit("run", CHECK, "-n", "2", env={"PYTHONPATH": str(tmp_path), "RACEKIT_DATABASE": "off"}, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "racekit's worker process could not start (exited with code 3)" in proc.stderr
    assert "broken site: cannot start" in proc.stderr
    assert time.monotonic() - started < 30


# -- 3. concurrent runs keep every schedule; readers never see half a file -----------------

@pytest.mark.slow
def test_concurrent_runs_keep_every_schedule(tmp_path):
    db = tmp_path / "db"
    env = {**os.environ, "RACEKIT_DATABASE": str(db), "NO_COLOR": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "racekit", "run", CHECK, "-V", "unlocked", "-n", "40",
                               "--seed", str(seed), "-f", "json"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for seed in range(4)]
    seen_partial = []
    while any(p.poll() is None for p in procs):  # a reader, all the while
        for entry in _entries(db) if db.exists() else []:
            try:
                json.loads(entry.read_text())
            except FileNotFoundError:
                pass  # trimmed meanwhile
            except ValueError:
                seen_partial.append(entry)
        time.sleep(0.01)
    schedules = set()
    for p in procs:
        out, err = p.communicate()
        assert p.returncode == 0, err
        schedules.add(json.loads(out)["cases"][0]["variants"][0]["schedule"])
    kept = {json.loads(e.read_text())["schedule"] for e in _entries(db)}
    assert seen_partial == []
    assert schedules <= kept and len(kept) <= 5


# -- 4. --output is checked before the first trial --------------------------------------

@pytest.mark.once  # racekit's own files and input: the same on every interpreter
@pytest.mark.parametrize("form", ["text", "json"])
def test_standard_output_that_refuses_the_report_is_exit_2_in_one_line(tmp_path, form):
    full = tmp_path / "full"
    try:
        os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))  # what /dev/full is: every write fails with ENOSPC
    except (PermissionError, OSError):
        pytest.skip("mknod needs root")
    with open(full, "w") as sink:
        proc = subprocess.run([sys.executable, "-m", "racekit", "run", CHECK, "-V", "locked", "-n", "2", "-f", form],
                              stdout=sink, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=120,
                              env={**os.environ, "RACEKIT_DATABASE": "off"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: could not write the report to standard output: No space left on device (use --output FILE to keep it)"]


@pytest.mark.once  # racekit's own files and input: the same on every interpreter
def test_a_text_report_racekit_wrote_may_be_written_again(tmp_path):
    out = tmp_path / "report.txt"
    for _ in range(2):
        proc = racekit("run", CHECK, "-V", "locked", "-n", "2", "-o", str(out), env={"RACEKIT_DATABASE": "off"})
        assert proc.returncode == 0, proc.stderr
    assert out.read_text().startswith("racekit ")  # as the terminal's report begins
    results = tmp_path / "r.json"
    racekit("run", CHECK, "-V", "locked", "-n", "2", "-f", "json", "-o", str(results), env={"RACEKIT_DATABASE": "off"})
    merged = tmp_path / "merged.txt"
    for _ in range(2):
        proc = racekit("merge", str(results), "-o", str(merged))
        assert proc.returncode == 0, proc.stderr

@pytest.mark.parametrize("name, expected", [
    ("missing/x.json", "the folder"),
    (".", "is a folder"),
    ("mine.txt", "exists and is not a report racekit wrote"),
    ("/proc/self/status", "exists and is not a report racekit wrote"),
])
@pytest.mark.once  # racekit's own files and input: the same on every interpreter
def test_an_output_racekit_cannot_or_must_not_write_is_refused_before_any_trial(tmp_path, name, expected):
    (tmp_path / "mine.txt").write_text("my notes\n")
    started = time.monotonic()
    proc = racekit("run", str(TEST_CASES / "slow.yaml"), "-o", name, cwd=tmp_path)
    assert proc.returncode == 2 and expected in proc.stderr and "Traceback" not in proc.stderr
    assert time.monotonic() - started < 20  # slow.yaml's trials never ran
    assert (tmp_path / "mine.txt").read_text() == "my notes\n"


@pytest.mark.once  # racekit's own files and input: the same on every interpreter
def test_an_output_onto_the_case_file_or_a_device_is_refused(tmp_path):
    case = tmp_path / "case.yaml"
    shutil.copy(CASES / "balance.yaml", case)
    before = case.read_bytes()
    proc = racekit("run", str(case), "-n", "2", "-f", "json", "-o", str(case))
    assert proc.returncode == 2 and "is a case file this run reads" in proc.stderr
    assert case.read_bytes() == before
    node = tmp_path / "dev"
    if _device(node):
        proc = racekit("run", str(case), "-n", "2", "-o", str(node))
        assert proc.returncode == 2 and "is a device or special file" in proc.stderr


@pytest.mark.once  # racekit's own files and input: the same on every interpreter
def test_an_earlier_report_of_racekit_may_be_replaced(tmp_path):
    target = tmp_path / "report.json"
    for _ in range(2):
        proc = racekit("run", "cases/balance.yaml", "-V", "locked", "-n", "2", "-f", "json", "-o", str(target))
        assert proc.returncode == 0, proc.stderr
    assert json.loads(target.read_text())["racekit"]


@pytest.mark.once  # racekit's own files and input: the same on every interpreter
def test_a_full_disk_prints_the_report_and_says_where_it_could_not_go(tmp_path):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare for a tiny private tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    script = (f"mount -t tmpfs -o size=4k tmpfs {disk} && head -c 4096 /dev/zero > {disk}/filler; "
              f"{sys.executable} -m racekit run cases/balance.yaml -V locked -n 2 -f json -o {disk}/r.json; "
              "echo rc=$?")
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"}, timeout=120)
    if "rc=" not in proc.stdout:
        pytest.skip(f"no private tmpfs here: {proc.stderr[-200:]}")
    assert "rc=2" in proc.stdout
    assert "error: could not write --output" in proc.stderr and "(the JSON is printed above)" in proc.stderr
    assert '"racekit":' in proc.stdout  # the results are not lost
    assert not (disk / "r.json").exists()


# -- 5. SIGTERM, SIGHUP, a second Ctrl-C, an early Ctrl-C -----------------------------------

def _start(*args: str, tmp: Path) -> subprocess.Popen:
    env = {**os.environ, "NO_COLOR": "1", "PYTHONFAULTHANDLER": "1", "TMPDIR": str(tmp)}
    return subprocess.Popen([sys.executable, "-c", AS_FROM_A_TERMINAL, *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_workers_of_a_racekit_killed_outright_remove_their_own_folders(tmp_path):
    # SIGKILL (or pytest stopped with SIGTERM) leaves no parent to clean up: the
    # workers see their channel close, and leave nothing behind.
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    marks = tmp_path / "marks"
    proc = _start("run", str(TEST_CASES / "slow.yaml"), "-j", "2", "-m", "native", "-p", f"marks={marks}", tmp=tmp)
    wait_for_marks(marks)
    assert [p.name for p in tmp.iterdir() if p.name.startswith("racekit-worker-")]
    proc.kill()
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 30
    while any(p.name.startswith("racekit-worker-") for p in tmp.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p.name for p in tmp.iterdir() if p.name.startswith("racekit-worker-")]


@pytest.mark.slow
@pytest.mark.parametrize("signum, code, twice", [(signal.SIGTERM, 143, False), (signal.SIGHUP, 129, False),
                                                 (signal.SIGINT, 130, True)])
def test_a_stopping_signal_keeps_the_results_and_leaves_nothing_behind(tmp_path, signum, code, twice):
    if signal.getsignal(signum) is signal.SIG_IGN:  # under nohup: racekit rightly keeps ignoring SIGHUP
        pytest.skip(f"{signal.Signals(signum).name} is ignored by the process running the tests")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    target = tmp_path / "partial.json"
    marks = tmp_path / "marks"
    proc = _start("run", str(TEST_CASES / "slow.yaml"), "-f", "json", "-o", str(target), "-j", "1",
                  "-p", f"marks={marks}", tmp=tmp)
    assert select.select([proc.stdout], [], [], 60)[0], "racekit printed nothing in 60 s"
    assert proc.stdout.readline().startswith("racekit ")
    wait_for_marks(marks)  # some trials have run, however slow the machine
    proc.send_signal(signum)
    if twice:
        time.sleep(0.05)
        proc.send_signal(signum)
    try:
        _out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"racekit did not stop within 30 s\n{_stuck(proc)}")
    assert proc.returncode == code, err
    assert "Traceback" not in err
    doc = json.loads(target.read_text())
    assert doc["interrupted"] is True and doc["cases"][0]["variants"][0]["runs"] > 0
    assert list(tmp.iterdir()) == []


@pytest.mark.slow
def test_a_ctrl_c_during_start_up_ends_quietly(tmp_path):
    proc = _start("run", str(TEST_CASES / "slow.yaml"), tmp=tmp_path)
    # As soon as racekit's handlers are in place (SIGTERM is then caught, which
    # Python alone does not do), and long before its first trial: a Ctrl-C
    # while it still imports and loads. Earlier than that is the interpreter's
    # own start-up, before any racekit code runs.
    deadline = time.monotonic() + 30
    while not _catches(proc.pid, signal.SIGTERM) and time.monotonic() < deadline:
        time.sleep(0.001)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in err


def _catches(pid: int, signum: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            caught = next(line for line in f if line.startswith("SigCgt:")).split()[1]
    except (OSError, StopIteration):
        return False
    return bool(int(caught, 16) >> (signum - 1) & 1)


# -- 6. a paused racekit is not a deadlock ------------------------------------------------

def _family(pid: int) -> list[int]:
    found = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) in found:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return found


@pytest.mark.slow
def test_a_run_paused_longer_than_its_timeouts_resumes_without_false_deadlocks():
    proc = subprocess.Popen([sys.executable, "-m", "racekit", "run", str(FAULTS / "sleeper.yaml"), "-j", "1",
                             "-f", "json"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Wait for the worker (a loaded machine starts it late), then a moment so that a trial is under way.
    deadline = time.monotonic() + 60
    while len(_family(proc.pid)) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(1.0)
    pids = _family(proc.pid)
    assert len(pids) >= 2  # racekit and its worker: a machine-wide pause stops both
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    time.sleep(6)  # three times the trials' 2 s timeout
    for pid in pids:
        os.kill(pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=60)
    variant = json.loads(out)["cases"][0]["variants"][0]
    assert proc.returncode == 0, err
    assert variant["verdict"] == "no race observed" and variant["outcomes"] == {"1": 6}


# -- 7. false failures from odd values ------------------------------------------------

def test_memory_addresses_in_outcomes_are_one_row_and_said():
    proc, doc = run_json(str(FAULTS / "addresses.yaml"), "-m", "opcode")
    variant = doc["cases"][0]["variants"][0]
    assert variant["outcomes"] == {"<racekit._case.Box object at 0x…>": 5}
    assert any("memory addresses" in w for w in variant["warnings"])


def test_a_recursion_error_is_the_outcome_not_forcing_switched_off():
    proc, doc = run_json(str(FAULTS / "recursion.yaml"), "-m", "opcode")
    variant = doc["cases"][0]["variants"][0]
    assert list(variant["outcomes"])[0].startswith("error: RecursionError: maximum recursion depth")
    assert variant["verdict"] == "error" and variant["serial_failure"] is not None  # it recurses serially too


def test_bytes_a_case_writes_into_racekits_channel_cost_only_that_worker():
    proc, doc = run_json(str(FAULTS / "garble.yaml"), "-m", "opcode", "-j", "1")
    assert "Traceback" not in proc.stderr and doc is not None
    variant = doc["cases"][0]["variants"][0]
    assert variant["outcomes"] == {"crash: garbled racekit's channel": 3} and variant["runs"] == 3


def test_a_controlled_trial_the_parent_has_to_stop_is_inconclusive_not_a_deadlock():
    # It used to be graded a deadlock; the scheduler sees every deadlock itself,
    # so a trial that hangs under it is one racekit cannot judge.
    proc, doc = run_json(str(FAULTS / "gilhog.yaml"), "-m", "controlled", "-n", "1")
    variant = doc["cases"][0]["variants"][0]
    assert variant["verdict"] == "inconclusive" and variant["outcomes"] == {"inconclusive: timed out": 1}
    assert variant["why"]["kind"] == "hard_stop"


# -- 8. sizes are bounded, with a clear message --------------------------------------------

@pytest.mark.once  # racekit's own files and input: the same on every interpreter
def test_a_billion_laughs_in_params_is_refused_at_validate():
    proc = racekit("validate", str(FAULTS / "laughs.yaml"))
    assert proc.returncode == 2 and "expands to more than 100,000 items" in proc.stderr


@pytest.mark.once  # racekit's own files and input: the same on every interpreter
def test_a_device_or_endless_file_is_not_read_as_a_case(tmp_path):
    node = tmp_path / "zero.yaml"
    if not _device(node):
        pytest.skip("mknod needs root")
    proc = racekit("validate", str(node))
    assert proc.returncode == 2 and "not a regular file" in proc.stderr


@pytest.mark.once  # racekit's own files and input: the same on every interpreter
def test_a_huge_replay_schedule_is_refused():
    proc = racekit("replay", "cases/balance.yaml", "-V", "unlocked", "-s", "2:a99999999999999")
    assert proc.returncode == 2 and "makes 99,999,999,999,999 choices; a run makes at most" in proc.stderr


# -- 9. merge checks what it reads ---------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    (lambda d: d["cases"][0]["variants"][0]["histogram"][0].__setitem__("count", -3),
     "cases[0].variants[0].histogram[0].count must be at least 0, got -3"),
    (lambda d: d.__setitem__("shard", "1/100000000000"), "shard: '1/100000000000' is not in the expected form"),
    (lambda d: d.__setitem__("cases", "nope"), "cases must be array, got 'nope'"),
    (lambda d: d["cases"][0]["variants"][0].__setitem__("runs", "4"),
     "cases[0].variants[0].runs must be integer, got '4'"),
    (lambda d: d["cases"][0]["variants"][0].__setitem__("runs", 7),
     "cases[0].variants[0]: the histogram counts 2 runs, but runs is 7"),
])
@pytest.mark.once  # racekit's own files and input: the same on every interpreter
def test_merge_refuses_a_malformed_results_file_with_its_place(tmp_path, change, message):
    good = tmp_path / "good.json"
    racekit("run", "cases/balance.yaml", "-V", "locked", "-m", "opcode", "-n", "2", "-f", "json", "-o", str(good))
    doc = json.loads(good.read_text())
    change(doc)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    proc = racekit("merge", str(bad))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{bad}: {message}" in proc.stderr


@pytest.mark.once  # racekit's own files and input: the same on every interpreter
def test_the_results_schema_is_published_and_a_real_result_meets_it(tmp_path):
    from racekit.analysis.results_schema import problems

    schema = json.loads(racekit("schema", "--results").stdout)
    assert schema["title"].startswith("racekit results")
    target = tmp_path / "r.json"
    racekit("run", str(CASES / "check_then_act.yaml"), "-n", "5", "-f", "json", "-o", str(target))
    assert problems(json.loads(target.read_text())) == []


# -- 10. a broken case file does not stop the user's pytest session --------------------------

def test_a_broken_case_file_is_one_collection_error_and_the_session_goes_on(pytester):
    pytester.makefile(".yaml", broken="racekit: 1\nname: broken\nthreadz: {}\n")
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = pytester.runpytest("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    assert "Interrupted" not in result.stdout.str()
    # Other collection errors still stop a session, as pytest does by default.
    pytester.makepyfile(test_import="import no_such_module_racekit\n")
    assert "Interrupted" in pytester.runpytest("-q", "-p", "no:cacheprovider").stdout.str()


# -- 11. what escapes the run ---------------------------------------------------------------

@pytest.mark.slow
def test_a_process_a_case_starts_in_its_own_session_ends_with_the_run(tmp_path):
    from conftest import process_ended

    pidfile = tmp_path / "daemon.pid"
    proc = racekit("run", str(FAULTS / "daemonizer.yaml"), "-p", f"pidfile={pidfile}", "-j", "1")
    assert proc.returncode == 0, proc.stderr
    time.sleep(0.3)
    assert process_ended(int(pidfile.read_text()))


@pytest.mark.once  # racekit's own files and input: the same on every interpreter
def test_escape_sequences_from_a_case_never_reach_the_terminal():
    proc = racekit("run", str(FAULTS / "escapes.yaml"), "-v")
    assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout
    assert "\\x1b]0;pwned\\x07" in proc.stdout and "\\x1b[31mprinted" in proc.stdout


def test_a_worker_that_cannot_start_is_a_clear_error():
    # Few enough file descriptors that racekit itself starts but its worker cannot.
    for limit in (12, 11, 10, 9):
        script = f"ulimit -n {limit}; exec {sys.executable} -m racekit run cases/balance.yaml -V locked -n 2 -j 1"
        proc = subprocess.run(["sh", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})
        if proc.returncode != 0:
            break
    else:
        pytest.skip("this machine starts a worker even with 9 file descriptors")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "error: racekit could not start a worker process" in proc.stderr
