"""code runs completions under limits without the trainer's secrets; countdown never executes."""

from __future__ import annotations

import ast
import builtins
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from r1lab.rewards import get_reward
from r1lab.rewards.code_exec import TestCase as Case  # not "Test*": pytest would collect it
from r1lab.rewards.code_exec import last_python_block, parse_test_cases, same_json, same_output
from r1lab.rewards.sandbox import NOBODY, Limits, RunResult, _nobody_can_run, isolation, run_python

SRC = str(Path(__file__).resolve().parents[1] / "src")


def block(source: str) -> str:
    return f"Here is my program:\n```python\n{textwrap.dedent(source).strip()}\n```\n"


def score(source: str, cases, **params) -> float | None:
    return get_reward("code", **params)([block(source)], test_cases=[cases])[0]


def unavailable(reason: str) -> None:
    """Skip where the OS cannot provide what the test checks; under CI=true that is a failure: CI
    machines are set up to provide it, so a skip there would hide a missing protection."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: this test must run)", pytrace=False)
    pytest.skip(reason)


def hidden_from_proc() -> bool:
    """Whether this machine can hide the trainer's /proc/<pid>/environ from the program."""
    return isolation()[1] or _nobody_can_run(sys.executable)


# ---- semantics -------------------------------------------------------------------------------


def test_fraction_of_test_cases_passed():
    cases = [
        {"input": "2\n", "output": "4\n"},
        {"input": "5\n", "output": "10"},
        {"input": "-1\n", "output": "3"},
    ]
    assert score("print(int(input()) * 2)", cases) == pytest.approx(2 / 3)


def test_no_block_zero_and_no_tests_none():
    reward = get_reward("code")
    cases = [{"input": "", "output": "1"}]
    out = reward(["print(1) without a fence", block("print(1)")], test_cases=[cases, []])
    assert out == [0.0, None]


def test_runtime_error_fails_even_with_the_right_output():
    assert score("print(1)\nraise SystemExit(1)", [{"input": "", "output": "1"}]) == 0.0


def test_last_block_and_case_formats():
    text = "```python\nprint(1)\n```\ntext\n```py\nprint(2)\n```\n```python\nprint(3)"
    assert last_python_block(text) == "print(2)\n"
    assert parse_test_cases(json.dumps([{"input": "a", "output": "b"}])) == [Case("a", "b")]
    assert parse_test_cases({"input": ["1", "2"], "output": ["3", "4"]}) == [
        Case("1", "3"),
        Case("2", "4"),
    ]
    assert parse_test_cases("not json") == []
    assert same_output("1  \n2\n\n", "1\n2") and not same_output("1 2", "12")


def test_test_cases_in_every_shape_a_dataset_stores_them():
    """One case as a bare dict, a case without `input` (empty stdin), columnar lists of unequal
    length (the pairs there are), and entries that are not cases (dropped, never a crash); a
    `fn_name` that is not a non-empty string means stdin/stdout."""
    assert parse_test_cases({"input": "1", "output": "2"}) == [Case("1", "2")]
    assert parse_test_cases({"input": "1", "output": ["2"]}) == [Case("1", "['2']")]
    assert parse_test_cases([{"output": "2"}]) == [Case("", "2")]
    assert parse_test_cases({"output": "2"}) == []  # a lone dict needs both keys
    assert parse_test_cases({"input": ["1", "2"], "output": ["3"]}) == [Case("1", "3")]
    assert parse_test_cases(["the output", {"input": "1"}, {"input": "1", "output": "2"}]) == [
        Case("1", "2")
    ]
    for fn in (5, "", None):
        assert parse_test_cases([{"input": "1", "output": "2", "fn_name": fn}]) == [Case("1", "2")]


# ---- LiveCodeBench "functional" cases: call a function, compare JSON ---------------------------

SUM_PLUS_K = """
class Solution:
    def sumPlusK(self, nums: List[int], k: int) -> int:
        return sum(nums) + k
"""


def functional(fn_name: str, *pairs: tuple[str, str]) -> list[dict]:
    return [
        {"input": i, "output": o, "testtype": "functional", "fn_name": fn_name} for i, o in pairs
    ]


def test_function_name_is_kept_and_json_compared():
    cases = functional("f", ("[1]\n2", "3"))
    assert parse_test_cases(json.dumps(cases)) == [Case("[1]\n2", "3", "f")]
    columnar = {"input": ["1", "2"], "output": ["3", "4"], "fn_name": "g"}
    assert [c.fn_name for c in parse_test_cases(columnar)] == ["g", "g"]
    assert same_json("[1, 2]", "[1,2]") and same_json("true", "true")
    assert not same_json("[1, 2]", "[2, 1]") and not same_json("3 4", "3 4")  # not JSON


def test_livecodebench_functional_row():
    row = {
        "question_title": "sumPlusK",
        "test_cases": json.dumps(functional("sumPlusK", ("[1, 2, 3]\n4", "10"))),
    }
    reward = get_reward("code")
    wrong = SUM_PLUS_K.replace("+ k", "- k")
    out = reward([block(SUM_PLUS_K), block(wrong)], test_cases=[row["test_cases"]] * 2)
    assert out == [1.0, 0.0]


def test_solution_class_with_unimported_helpers():
    src = """
    class Solution:
        def topK(self, words: List[str], k: int) -> List[str]:
            counts = Counter(words)
            return [w for _, w in heapq.nsmallest(k, ((-c, w) for w, c in counts.items()))]
    """
    cases = functional("topK", ('["b", "a", "b", "c", "a", "b"]\n2', '["b", "a"]'))
    assert score(src, cases) == 1.0
    assert score(src, functional("topK", ('["a", "b", "b"]\n1', '["a"]'))) == 0.0


def test_top_level_function_and_tuple_result():
    src = """
    def divmodAll(a, b):
        return a // b, a % b
    """
    assert score(src, functional("divmodAll", ("17\n5", "[3, 2]"))) == 1.0
    assert score(src, functional("divmodAll", ("17\n5", "[3, 3]"))) == 0.0


def test_prints_and_example_usage_do_not_spoil_the_result():
    src = """
    class Solution:
        def sumPlusK(self, nums, k):
            print("debug", nums)
            return sum(nums) + k

    print(Solution().sumPlusK([5], 5))

    if __name__ == "__main__":
        print(Solution().sumPlusK(input()))  # would raise: it must not run
    """
    assert score(src, functional("sumPlusK", ("[1, 2, 3]\n4", "10"))) == 1.0


def test_functional_and_stdin_cases_mix():
    src = """
    import sys

    class Solution:
        def double(self, x):
            return 2 * x

    if __name__ == "__main__":
        print(Solution().double(int(sys.stdin.read())))
    """
    cases = [
        *functional("double", ("3", "6"), ("4", "9"), ("[1]", "[1, 1]")),
        {"input": "5", "output": "10"},
        {"input": "5", "output": "11"},
    ]
    assert score(src, cases) == pytest.approx(3 / 5)


def test_missing_function_or_non_json_result_fails():
    assert score(SUM_PLUS_K, functional("sumPlusQ", ("[1]\n1", "2"))) == 0.0
    src = """
    class Solution:
        def pair(self):
            return {1, 2}
    """
    assert score(src, functional("pair", ("", "[1, 2]"))) == 0.0


# ---- limits ------------------------------------------------------------------------------------


def test_cpu_limit():
    """A spinning program is killed at its CPU-seconds limit: the CPU time its process used is
    about that limit, not the 5 s default nor the 60 s wall limit. CPU time, not wall time, so the
    bound holds on a loaded machine (wall time there stretched past a 6 s bound)."""

    def children_cpu() -> float:
        used = resource.getrusage(resource.RUSAGE_CHILDREN)  # the waited-for sandboxed runs
        return used.ru_utime + used.ru_stime

    before = children_cpu()
    assert (
        score("while True: pass", [{"input": "", "output": ""}], cpu_seconds=1, wall_seconds=60)
        == 0.0
    )
    assert 0.5 < children_cpu() - before < 3


def test_wall_limit():
    start = time.monotonic()
    src = "import time\ntime.sleep(30)\nprint('late')"
    assert score(src, [{"input": "", "output": "late"}], wall_seconds=1) == 0.0
    assert time.monotonic() - start < 6


def test_memory_limit():
    src = "x = bytearray(700 * 1024 * 1024)\nprint('allocated')"
    cases = [{"input": "", "output": "allocated"}]
    assert score(src, cases, memory_mb=256) == 0.0
    assert score(src, cases, memory_mb=2048) == 1.0  # the same program passes with room to run


def test_output_is_bounded():
    """A program is killed when it writes past the bound (RLIMIT_FSIZE), and what is read back is
    at most the bound: a right answer longer than the bound does not pass."""
    bound = 1 << 16
    src = f"import sys\nsys.stdout.write('x' * (4 * {bound}))\nsys.stdout.flush()"
    over = run_python(src, limits=Limits(output_bytes=bound))
    assert over.returncode not in (0, None) and not over.timed_out, over.returncode
    assert over.stdout == "x" * bound
    under = run_python(src.replace("4 *", "1 *"), limits=Limits(output_bytes=bound))
    assert (under.returncode, under.stdout) == (0, "x" * bound)  # the bound itself is allowed
    big = 2 << 20  # over the code reward's 1 MiB: scored 0 even though it prints the answer
    assert score(f"print('x' * {big})", [{"input": "", "output": "x" * big}]) == 0.0


def test_run_result_says_how_the_program_ended():
    """A program that ends has its exit code and timed_out False; one killed for the wall-clock
    limit has no exit code and timed_out True. Without stdin the program reads nothing."""
    ended = run_python("import sys\nprint(repr(sys.stdin.read()))\nsys.exit(3)")
    assert ended == RunResult(returncode=3, stdout="''\n", timed_out=False)
    assert ended.timed_out is False
    late = run_python(
        "import time\nprint('early', flush=True)\ntime.sleep(30)", limits=Limits(wall_seconds=1)
    )
    assert late == RunResult(returncode=None, stdout="early\n", timed_out=True)


def test_program_runs_under_exactly_the_asked_limits():
    """Each limit reaches the program as asked: CPU rounded up to whole seconds with one second
    more as the hard limit (SIGXCPU first, then SIGKILL), no core files; and the interpreter is
    isolated, writes no bytecode and never runs the stdin the program left unread as Python."""
    src = textwrap.dedent(
        """
        import json, resource, sys
        names = ["CPU", "AS", "FSIZE", "NOFILE", "NPROC", "CORE"]
        print(json.dumps({n: resource.getrlimit(getattr(resource, "RLIMIT_" + n)) for n in names}))
        print(sys.flags.isolated, sys.flags.interactive, sys.dont_write_bytecode)
        """
    )
    asked = Limits(
        cpu_seconds=2.5, memory_bytes=300 << 20, output_bytes=12345, open_files=64, processes=16
    )
    result = run_python(src, stdin="print('stdin was run as Python')\n", limits=asked)
    assert result.returncode == 0, result
    limits, flags = result.stdout.splitlines()  # a third line would be the stdin, run
    assert json.loads(limits) == {
        "CPU": [3, 4],
        "AS": [300 << 20] * 2,
        "FSIZE": [12345] * 2,
        "NOFILE": [64] * 2,
        "NPROC": [16] * 2,
        "CORE": [0, 0],
    }
    assert flags == "1 0 True"
    short = run_python(src, limits=Limits(cpu_seconds=0.2))  # at least one whole second
    assert json.loads(short.stdout.splitlines()[0])["CPU"] == [1, 2]


def test_program_stderr_does_not_reach_the_trainers_log(capfd):
    """A program's stderr (tracebacks, debug prints) is dropped: thousands of completions a step
    would otherwise flood the training log."""
    src = "import sys\nsys.stderr.write('noise from the program\\n')\nprint('ok')\n1 / 0"
    result = run_python(src)
    assert result.stdout == "ok\n" and result.returncode == 1
    err = capfd.readouterr().err
    assert "noise from the program" not in err and "ZeroDivisionError" not in err


def test_text_that_is_not_utf8_gives_a_result_not_an_exception():
    """Output bytes that are not UTF-8 are replaced; a lone surrogate in the test input is
    replaced, and one in the program makes it fail to parse: the reward never raises."""
    assert run_python("import sys\nsys.stdout.buffer.write(b'ok\\xff')").stdout == "ok\ufffd"
    assert run_python("print(input())", stdin="a\ud800b").stdout == "a?b\n"
    unparsable = run_python("print('\ud800')")
    assert unparsable.returncode == 1 and unparsable.stdout == ""


def test_a_program_that_deletes_its_own_directory_still_gets_a_result():
    result = run_python("import os, shutil\nshutil.rmtree(os.getcwd())\nprint('gone')")
    assert (result.returncode, result.stdout) == (0, "gone\n")


def test_root_runs_the_program_as_nobody_who_owns_its_directory():
    """As root, with an interpreter that `nobody` can run (here Debian's, outside /root), the
    program runs as uid/gid nobody with no extra groups, and owns its directory and file.
    Elsewhere it skips even under CI=true: dropping to nobody is a layer on top of the PID
    namespace (which the secrets test demands), not one a CI machine must provide."""
    python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    if os.geteuid() != 0 or python is None or not _nobody_can_run(python):
        pytest.skip("needs root and a system python3 that the user nobody can run")
    src = textwrap.dedent(
        """
        import os
        open("scratch.txt", "w").write("x")  # its directory is writable by it
        print(os.getuid(), os.getgid(), os.getgroups(), os.stat(".").st_uid, os.stat("main.py").st_uid)
        """
    )
    result = run_python(src, python=python)
    assert result.returncode == 0, result
    assert result.stdout.split() == [str(NOBODY)] * 2 + ["[]"] + [str(NOBODY)] * 2


def test_runs_in_a_fresh_temporary_directory():
    """Each run gets its own new directory (HOME and TMPDIR too), holding only the program, and
    the directory is gone afterwards."""
    src = textwrap.dedent(
        """
        import os
        here = os.getcwd()
        print(here, os.environ['HOME'], os.environ['TMPDIR'], sorted(os.listdir(here)))
        open('left_behind.txt', 'w').write('x')
        """
    )
    seen = []
    for _ in range(2):
        result = run_python(src)
        assert result.returncode == 0, result
        here, home, tmp, listing = result.stdout.split(" ", 3)
        assert Path(here).name.startswith("r1lab-code-") and home == tmp == here
        assert listing.strip() == "['main.py']"  # not the previous run's left_behind.txt
        assert not Path(here).exists()  # removed after the run
        seen.append(here)
    assert seen[0] != seen[1]


def test_program_sees_only_the_sandbox_environment():
    """The program's whole environment is the one built for it: a fixed PATH, its directory as
    HOME and TMPDIR, a UTF-8 locale (so printing non-ASCII works) and a fixed hash seed (so set
    order, and thus printed output, is the same on every run); nothing else."""
    result = run_python("import json, os\nprint(json.dumps(dict(os.environ)))")
    assert result.returncode == 0, result
    env = json.loads(result.stdout)
    home = env.pop("HOME")
    assert Path(home).name.startswith("r1lab-code-") and env.pop("TMPDIR") == home
    assert env == {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
    }


def test_no_network_where_the_os_allows_it():
    if not isolation()[0]:
        unavailable("unshare is not permitted here: no network namespace")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    src = f"""
    import socket
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=2)
        print("connected")
    except OSError:
        print("blocked")
    """
    try:
        assert score(src, [{"input": "", "output": "blocked"}]) == 1.0
    finally:
        server.close()


# ---- secrets and processes that try to outlive the limits ---------------------------------------

_SNOOP = """
import os, sys
secret = sys.stdin.read().strip()
found = [k for k, v in os.environ.items() if secret in v]
for pid in os.listdir('/proc'):
    if pid.isdigit():
        try:
            with open(f'/proc/{pid}/environ', 'rb') as f:
                if secret.encode() in f.read():
                    found.append(pid)
        except OSError:
            pass
print('leak' if found else 'clean')
"""


def test_program_cannot_read_the_trainers_secrets():
    """A 'trainer' process holding HF_TOKEN and WANDB_API_KEY scores a snooping program."""
    secret = "hf_r1lab_test_secret_9f8e7d"
    trainer = textwrap.dedent(
        f"""
        import json, sys
        from r1lab.rewards import get_reward
        source = {block(_SNOOP)!r}
        cases = [{{"input": "{secret}", "output": "clean"}}]
        print(json.dumps(get_reward("code")([source], test_cases=[cases])))
        """
    )
    if not hidden_from_proc():  # decided before the program runs: a leak is never a skip
        unavailable("no PID namespace and no uid to drop to: /proc/<pid>/environ is readable")
    env = {**os.environ, "HF_TOKEN": secret, "WANDB_API_KEY": secret, "PYTHONPATH": SRC}
    done = subprocess.run(
        [sys.executable, "-c", trainer], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [1.0]


def test_environment_is_built_from_scratch(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_should_not_pass")
    src = "import os\nprint(sorted(k for k in os.environ if 'TOKEN' in k or 'KEY' in k))"
    assert score(src, [{"input": "", "output": "[]"}]) == 1.0


@pytest.mark.parametrize("escape", [False, True], ids=["fork", "fork+setsid"])
def test_children_do_not_outlive_the_program(tmp_path, escape):
    if escape and not isolation()[1]:
        unavailable("no PID namespace: a setsid() child can leave the process group")
    marker = tmp_path / "survived"
    os.chmod(tmp_path, 0o777)
    src = f"""
    import os, time
    if os.fork() == 0:
        {"os.setsid()" if escape else "pass"}
        time.sleep(1.5)
        open({str(marker)!r}, 'w').write('alive')
        os._exit(0)
    print('done')
    """
    assert score(src, [{"input": "", "output": "done"}]) == 1.0
    time.sleep(2.5)
    assert not marker.exists()


# ---- countdown never executes the completion -----------------------------------------------------


def test_countdown_never_executes_code(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    compiled_flags = []
    real_compile = builtins.compile

    def no_exec(*args, **kwargs):
        raise AssertionError("completion text reached eval/exec")

    def ast_only_compile(source, filename, mode, flags=0, *args, **kwargs):
        compiled_flags.append(flags)
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "eval", no_exec)
    monkeypatch.setattr(builtins, "exec", no_exec)
    monkeypatch.setattr(builtins, "compile", ast_only_compile)
    payloads = [
        f"__import__('os').system('touch {marker}')",
        f"open({str(marker)!r}, 'w')",
        "(lambda: 1)()",
        "[].__class__.__base__.__subclasses__()",
        "1 if 1 else 2",
        "9**9**9**9",
        "2 + 3 * 4",
    ]
    reward = get_reward("countdown")
    texts = [f"<answer>{p}</answer>" for p in payloads]
    out = reward(texts, nums=[[2, 3, 4]] * len(texts), target=[14] * len(texts))
    assert out == [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    assert not marker.exists()
    assert compiled_flags and all(flags & ast.PyCF_ONLY_AST for flags in compiled_flags)
