"""The CLI as users run it: a subprocess, real exit codes, real output."""

from __future__ import annotations

import json
import re
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, TEST_CASES, process_ended, racekit, wait_for_marks


def test_run_json_follows_the_results_contract():
    proc = racekit("run", "cases/balance.yaml", "-m", "opcode", "--runs", "150", "--format", "json", "--seed", "5", "-x")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["racekit"]
    assert set(doc["python"]) >= {"version", "implementation", "gil_enabled"}
    (case,) = doc["cases"]
    assert case["name"] == "balance" and case["file"] == "cases/balance.yaml"
    variants = {v["name"]: v for v in case["variants"]}
    assert list(variants) == ["unlocked", "locked", "locked_fine"]
    for v in variants.values():
        assert set(v) >= {"name", "mode", "runs", "outcomes", "expected", "wrong", "lost_updates", "verdict",
                          "racy", "ok", "seed", "schedule"}
        assert v["mode"] == "opcode" and v["seed"] == 5 and v["schedule"] is None and v["expected"] == 0
        assert sum(v["outcomes"].values()) == v["runs"]
    unlocked = variants["unlocked"]
    assert unlocked["verdict"] == "race" and unlocked["ok"] and unlocked["racy"]
    assert unlocked["wrong"] >= 1
    assert unlocked["lost_updates"]["exact"] is False and unlocked["lost_updates"]["max"] >= 1
    assert set(unlocked["lost_updates"]) == {"exact", "min", "median", "max", "total"}
    locked = variants["locked"]
    assert locked == {**locked, "verdict": "no race observed", "ok": True, "wrong": 0, "runs": 150,
                      "outcomes": {"0": 150}}


def test_several_modes_give_one_entry_per_variant_and_mode():
    proc = racekit("run", "cases/balance.yaml", "-m", "native,opcode", "-V", "locked", "-n", "5", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    entries = [(v["name"], v["mode"]) for v in json.loads(proc.stdout)["cases"][0]["variants"]]
    assert entries == [("locked", "native"), ("locked", "opcode")]


def test_text_report_names_mode_and_summarises_in_plain_language():
    proc = racekit("run", "cases/balance.yaml", "-m", "opcode", "-n", "150", "-x", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "mode opcode" in out
    assert "OUTCOME" in out and "RUNS" in out and "FREQ" in out and "EXPECT" in out
    # Stress modes see only the outcome: they name its deviation, never a count of lost updates.
    assert re.search(r"account\.balance ended ≠ 0: \d+ away in the worst run, \d+ in a typical wrong run\.",
                     " ".join(out.split()))
    assert "updates were lost" not in out
    assert "In all 150 runs, account.balance was 0." in out
    assert "\x1b[" not in out  # no colour codes when not on a terminal
    assert not any(line.endswith(" ") for line in out.splitlines())


def test_the_case_description_is_under_its_title_and_verbose_adds_the_notes():
    plain = racekit("run", "cases/balance.yaml", "-V", "locked", "-m", "controlled", "-n", "2", "--seed", "1")
    out = " ".join(plain.stdout.split())
    title = out.index("balance — Lost updates on a shared balance")
    described = out.index("account.balance += 1 is three steps: read the balance, add one, write it back.")
    assert title < described < out.index("locked · should be correct")
    assert "locked_fine holds the lock around each single update only" not in out
    verbose = racekit("run", "cases/balance.yaml", "-V", "locked", "-m", "controlled", "-n", "2", "--seed", "1", "-v")
    assert "locked_fine holds the lock around each single update only" in " ".join(verbose.stdout.split())
    doc = json.loads(racekit("run", "cases/balance.yaml", "-V", "locked", "-m", "controlled", "-n", "2",
                             "-f", "json").stdout)
    (case,) = doc["cases"]
    assert "is three steps" in case["description"] and "locked_fine" in case["notes"]
    assert "三步" in case["translations"]["zh"]["description"]


def test_chinese_report():
    proc = racekit("run", "cases/balance.yaml", "-n", "5", "-V", "locked", "--lang", "zh")
    assert proc.returncode == 0, proc.stderr
    assert "共享余额的丢失更新" in proc.stdout
    assert re.search(r"全部 \d+ 次运行中 account\.balance 都是 0。", proc.stdout)
    assert "已探索全部 2 种调度：搜索完整。" in proc.stdout


def test_exit_1_when_a_racy_variant_shows_no_race():
    proc = racekit("run", "cases/balance.yaml", "-V", "unlocked", "-m", "native", "-n", "5", "--seed", "9")
    assert proc.returncode == 1
    assert "Reproduce: racekit run cases/balance.yaml --variant unlocked --mode native --seed 9 --runs 5" in proc.stdout


def compiler_message(source):
    """The running interpreter's own words for a syntax error: racekit passes them on unchanged."""
    try:
        compile(source + "\n", "t", "exec")
    except SyntaxError as error:
        return error.msg
    raise AssertionError(f"{source!r} compiles")


def test_malformed_case_exits_2_with_position_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("racekit: 1\nname: bad\nthreads:\n  t: |\n    x = (\noutcome: 1\nexpect: 1\nrunz: 3\n")
    proc = racekit("run", str(bad))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert f"{bad}:5:9: error: Python syntax error in threads.t: {compiler_message('x = (')}" in proc.stderr
    assert f"{bad}:8:1: error: unknown key 'runz' in the case (did you mean 'runs'?)" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args, message", [
    (["run", "cases/balance.yaml", "--mode", "opcodes"], "error: unknown mode 'opcodes'; choose from native, line, opcode, yield, controlled, auto (did you mean 'opcode'?)"),
    (["run", "cases/balance.yaml", "--variant", "lockd"], "error: no case has a variant named 'lockd'"),
    (["run", "cases/balance.yaml", "--param", "iteration=3"], "error: no case declares a param named 'iteration' (params: iterations) (did you mean 'iterations'?)"),
    (["run", "cases/balance.yaml", "--param", "oops"], "error: --param expects NAME=VALUE, got 'oops'"),
    (["run", "no/such.yaml"], "no/such.yaml:1:1: error: no such file or directory"),
    (["run", "cases/balance.yaml", "--config", "nosuch"], "error: --config: no profile named 'nosuch'"),
    (["run", "cases/balance.yaml", "--runs", "0"], "Invalid value for '--runs' / '-n'"),
    (["run", "cases/balance.yaml", "--timeout", "0"], "error: --timeout must be more than 0 and at most 86400 seconds, got 0"),
    (["run", "cases/balance.yaml", "--timeout", "inf"],
     "error: --timeout must be more than 0 and at most 86400 seconds, got inf"),
    (["run", "cases/balance.yaml", "--timeout", "1e300"],
     "error: --timeout must be more than 0 and at most 86400 seconds, got 1e+300"),
    (["run", "cases/balance.yaml", "--switch-interval", "-1"],
     "error: --switch-interval must be more than 0 and at most 1 second, got -1"),
    (["run", "cases/balance.yaml", "--runs", "1000000000000"], "error: --runs must be from 1 to 10,000,000, got 1,000,000,000,000"),
    (["run", "racekit"], "racekit:1:1: error: no case files here"),
    (["run"], "Missing argument 'FILE_OR_DIR'"),
    (["list", "cases", "-f", "html"], "error: racekit list prints text or json (--format html is for run, replay and merge)"),
])
def test_usage_errors_exit_2_without_traceback(args, message):
    proc = racekit(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_param_override_reaches_the_case():
    proc = racekit("run", "cases/global_counter.yaml", "-V", "locked", "-p", "iterations=7", "-n", "3", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    variant = json.loads(proc.stdout)["cases"][0]["variants"][0]
    assert variant["outcomes"] == {"14": variant["runs"]}  # auto: its schedules, then real threads


def test_output_file_gets_json_and_terminal_gets_text(tmp_path):
    target = tmp_path / "result.json"
    proc = racekit("run", "cases/balance.yaml", "-V", "locked", "-n", "4", "-f", "json", "-o", str(target))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(target.read_text())["cases"][0]["variants"][0]["runs"] == 4
    assert "NO RACE OBSERVED" in proc.stdout


def test_profiles_apply_and_flags_override_them(tmp_path):
    profile = tmp_path / "mine.yaml"
    profile.write_text("runs: 3\nmode: [native, line]\nformat: json\n")
    doc = json.loads(racekit("run", "cases/balance.yaml", "-V", "locked", "--config", str(profile)).stdout)
    assert [(v["mode"], v["runs"]) for v in doc["cases"][0]["variants"]] == [("native", 3), ("line", 3)]
    doc = json.loads(racekit("run", "cases/balance.yaml", "-V", "locked", "-c", str(profile), "-n", "2", "-m", "opcode").stdout)
    assert [(v["mode"], v["runs"]) for v in doc["cases"][0]["variants"]] == [("opcode", 2)]


def test_builtin_profiles_load():
    for name in ("quick", "ci", "lecture"):
        proc = racekit("run", "cases/balance.yaml", "-V", "locked", "-c", name, "-n", "2", "-f", "json", "-m", "native")
        assert proc.returncode == 0, (name, proc.stderr)


def test_bad_profile_is_positioned(tmp_path):
    profile = tmp_path / "bad.yaml"
    profile.write_text("runs: 3\nmodes: opcode\n")
    proc = racekit("run", "cases/balance.yaml", "-c", str(profile))
    assert proc.returncode == 2
    assert f"{profile}:2:1: error: unknown key 'modes' in the profile (did you mean 'mode'?)" in proc.stderr


def test_validate_list_and_schema():
    proc = racekit("validate", "cases")
    assert proc.returncode == 0 and proc.stdout.startswith("ok: ")
    listed = json.loads(racekit("list", "cases", "--format", "json").stdout)
    names = {c["name"]: [v["name"] for v in c["variants"]] for c in listed}
    assert names["balance"] == ["unlocked", "locked", "locked_fine"]
    schema = json.loads(racekit("schema").stdout)
    assert schema["type"] == "object" and "threads" in schema["properties"]
    assert schema["additionalProperties"] is False and schema["required"] == ["racekit", "name"]


def test_version_and_module_entry_point():
    proc = racekit("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("racekit ")


# racekit as a terminal starts it: Ctrl-C not ignored. A suite started in
# the background (`bash .ci/run &`) inherits SIGINT ignored, and a test that
# restores the original handlers passes that on to racekit, which would then
# rightly ignore Ctrl-C like any program run with `nohup`.
AS_FROM_A_TERMINAL = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                      "sys.argv[0] = 'racekit'; runpy.run_module('racekit', run_name='__main__', alter_sys=True)")


def interruptible_racekit(*args: str, env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "NO_COLOR": "1", "PYTHONFAULTHANDLER": "1", **(env or {})}
    return subprocess.Popen([sys.executable, "-c", AS_FROM_A_TERMINAL, *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_ctrl_c_keeps_partial_results_and_exits_130(tmp_path):
    target, marks = tmp_path / "partial.json", tmp_path / "marks"
    proc = interruptible_racekit("run", str(TEST_CASES / "slow.yaml"), "-f", "json", "-o", str(target), "-j", "1",
                                 "-p", f"marks={marks}")
    # Wait for the header: a Ctrl-C during start-up (slow under coverage on a
    # loaded CI machine) could be taken by an import, not by racekit's run.
    assert select.select([proc.stdout], [], [], 60)[0], "racekit printed nothing in 60 s"
    header = proc.stdout.readline()
    assert header.startswith("racekit "), header
    wait_for_marks(marks)  # some trials have run, however slow the machine
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"racekit did not stop within 30 s of Ctrl-C\n{_stuck(proc)}")
    out = header + out
    assert proc.returncode == 130, err
    doc = json.loads(target.read_text())
    variant = doc["cases"][0]["variants"][0]
    assert doc["interrupted"] is True
    assert 0 < variant["runs"] < 2000 and variant["stopped"] == "interrupted"
    assert "Interrupted" in out


@pytest.mark.slow
def test_ctrl_c_in_a_process_case_leaves_no_process_or_file_behind(tmp_path):
    # The child starts `sleep 60` and then waits forever: Ctrl-C kills the
    # worker, and with it every process of its session and its temp files.
    pidfile, tmp = tmp_path / "grandchild.pid", tmp_path / "tmp"
    tmp.mkdir()
    proc = interruptible_racekit("run", str(TEST_CASES / "interrupted.yaml"), "-p", f"pidfile={pidfile}", "-j", "1",
                                 env={"TMPDIR": str(tmp)})
    deadline = time.monotonic() + 60
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int(pidfile.read_text())
    proc.send_signal(signal.SIGINT)
    try:
        proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"racekit did not stop within 30 s of Ctrl-C\n{_stuck(proc)}")
    assert proc.returncode == 130
    time.sleep(0.2)
    assert process_ended(grandchild)
    assert list(tmp.iterdir()) == []


def _stuck(proc: subprocess.Popen) -> str:
    """What a process that ignored Ctrl-C was doing: its signal masks and,
    through faulthandler (PYTHONFAULTHANDLER), every thread's stack."""
    try:
        with open(f"/proc/{proc.pid}/status") as f:
            masks = " ".join(line for line in f.read().splitlines() if line.startswith(("Sig", "Threads")))
    except OSError:
        masks = "(no /proc status)"
    proc.send_signal(signal.SIGABRT)
    out, err = proc.communicate()
    return f"{masks}\nstdout:\n{out[-2000:]}\nstderr:\n{err[-6000:]}"


@pytest.mark.slow
def test_shards_merge_into_the_unsharded_run(tmp_path):
    # The seeded case's outcome is a random draw from each trial's seed, so the
    # histograms are exact: two shards must add up to the single run.
    case = str(TEST_CASES / "seeded.yaml")
    for k in (1, 2):
        proc = racekit("run", case, "--seed", "31", "--shard", f"{k}/2", "-n", "20", "-f", "json",
                       "-o", str(tmp_path / f"shard{k}.json"))
        assert proc.returncode == 0, proc.stderr
    # Sharded, the default mode is opcode (a search cannot be split): the whole run names it.
    whole = json.loads(racekit("run", case, "-m", "opcode", "--seed", "31", "-n", "20", "-f", "json").stdout)
    shard1 = json.loads((tmp_path / "shard1.json").read_text())
    assert shard1["shard"] == "1/2" and shard1["cases"][0]["variants"][0]["trial_range"] == [0, 10]
    proc = racekit("merge", str(tmp_path / "shard1.json"), str(tmp_path / "shard2.json"), "-f", "json")
    assert proc.returncode == 0, proc.stderr
    merged = json.loads(proc.stdout)
    a, b = whole["cases"][0]["variants"][0], merged["cases"][0]["variants"][0]
    for key in ("outcomes", "histogram", "runs", "wrong", "verdict", "ok", "trial_range", "seed", "never_observed"):
        assert a[key] == b[key], key
    assert sum(a["outcomes"].values()) == 20 and len(a["outcomes"]) > 5
    # The case's texts travel with the results: a merged report shows its description too.
    assert merged["cases"][0]["description"] == whole["cases"][0]["description"] != ""


@pytest.mark.slow
def test_merge_recomputes_verdicts_and_refuses_overlaps(tmp_path):
    first = tmp_path / "a.json"
    racekit("run", "cases/balance.yaml", "-V", "locked", "-n", "4", "--shard", "1/2", "-f", "json", "-o", str(first))
    proc = racekit("merge", str(first))
    assert proc.returncode == 2
    assert "error: shard 2/2 missing: give all 2 shards" in proc.stderr
    whole = tmp_path / "whole.json"
    racekit("run", "cases/balance.yaml", "-V", "locked", "-n", "4", "-f", "json", "-o", str(whole))
    proc = racekit("merge", str(whole), str(whole))
    assert proc.returncode == 2
    assert "overlap; merge each shard once" in proc.stderr
    other = tmp_path / "b.json"
    racekit("run", "cases/balance.yaml", "-V", "locked", "-n", "4", "--shard", "2/2", "--seed", "1", "-f", "json",
            "-o", str(other))
    proc = racekit("merge", str(first), str(other))
    assert proc.returncode == 2 and "different seeds" in proc.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{\"not\": \"racekit\"}")
    proc = racekit("merge", str(bad))
    assert proc.returncode == 2 and "not a racekit results file" in proc.stderr
    proc = racekit("run", "cases/balance.yaml", "--shard", "3/2")
    assert proc.returncode == 2 and "--shard K/N needs 1 <= K <= N, got 3/2" in proc.stderr


def test_max_runs_caps_only_the_variants_that_ask_for_more(tmp_path):
    doc = json.loads(racekit("run", "cases/pool_async.yaml", "cases/balance.yaml", "-V", "return_values,locked",
                             "--max-runs", "20", "-m", "native", "-f", "json").stdout)
    runs = {v["name"]: v["runs"] for c in doc["cases"] for v in c["variants"]}
    assert runs == {"return_values": 10, "locked": 20}  # the case files ask for 10 and 200
    profile = tmp_path / "capped.yaml"
    profile.write_text("max_runs: 4\nformat: json\n")
    doc = json.loads(racekit("run", "cases/balance.yaml", "-V", "locked", "-m", "native", "-c", str(profile)).stdout)
    assert doc["cases"][0]["variants"][0]["runs"] == 4


def test_a_script_case_reports_the_mode_it_ran_in_and_notes_the_one_asked_for():
    doc = json.loads(racekit("run", str(TEST_CASES / "script_kinds.yaml"), "-V", "last_line", "-m", "opcode",
                             "-f", "json").stdout)
    variant = doc["cases"][0]["variants"][0]
    assert variant["mode"] == "native"
    assert any("mode opcode was ignored" in w for w in variant["warnings"])
