"""Property-based test of the command line (issue 10, item 9): for generated argument lists --
malformed --input shapes and dtypes, --dynamic specs, --kwargs JSON, unknown flags, bad models --
``trtgraph.cli.main`` ends with exit code 0, 1 or 2 (a result, a mismatch, or a named error on one
line), never another exception, never exit 3 (internal error), never a hang (each run is bounded by a
timer). The models are tiny factories of this file, imported as ``test_fuzz_cli:NAME``."""
from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from trtgraph.cli import main

HERE = Path(__file__).resolve().parent
SECONDS_PER_RUN = 30
# TRTGRAPH_FUZZ_EXAMPLES=2000 explores further (random, not the fixed sequence of the default run)
EXAMPLES = int(os.environ.get("TRTGRAPH_FUZZ_EXAMPLES", "0")) or None


# --------------------------------------------------------------------------- tiny models for the CLI

def factory(width: int = 3):
    """input (..., 4) float -> (..., width)."""
    return nn.Sequential(nn.Linear(4, width), nn.ReLU())


def two():
    class Two(nn.Module):
        def forward(self, a, b):
            return a * 2 + b
    return Two()


def raises():
    raise RuntimeError("factory failure\nwith a second line")


def not_a_module():
    return 42


NOT_CALLABLE = "a string"


# --------------------------------------------------------------------------- strategies

_DIMS = st.sampled_from(["1", "2", "3", "4", "0", "-1", "a", "", "1e3", "100000000000", "9" * 30])
_DTYPES = st.sampled_from(["", ":float32", ":float16", ":int64", ":int32", ":bool", ":complex64", ":", ":x:y"])
_SHAPE = st.one_of(
    st.builds(lambda dims, dt: "x".join(dims) + dt, st.lists(_DIMS, min_size=1, max_size=4), _DTYPES),
    st.sampled_from(["2x4", "3x4", "2x4:int64", "1x4:bool"]),
    st.text(max_size=8),
)
_RANGE_INT = st.sampled_from(["1", "2", "4", "8", "0", "-1", "b", "", "100000000000"])
_DYN_PART = st.builds(lambda d, r: f"{d}={','.join(r)}", st.sampled_from(["0", "1", "-1", "5", "z", ""]),
                      st.lists(_RANGE_INT, min_size=1, max_size=4))
_DYNAMIC = st.one_of(
    st.builds(lambda name, parts: name + ";".join(parts),
              st.sampled_from(["", "input_0:", "input_1:", "a:", "nope:", ":"]),
              st.lists(_DYN_PART, min_size=1, max_size=2)),
    st.text(max_size=10),
)
_KWARGS = st.one_of(
    st.sampled_from(['{}', '{"width": 2}', '{"width": -1}', '{"width": "a"}', '{"width": 1e400}',
                     '{"depth": 1}', '{"width": 2, "depth": 1}', '[', '[]', 'null', '{width: 2}', '"x"',
                     '[' * 5000]),
    st.text(max_size=12),
)
_MODEL = st.sampled_from(["test_fuzz_cli:factory", "test_fuzz_cli:factory", "test_fuzz_cli:two",
                          "test_fuzz_cli:raises", "test_fuzz_cli:not_a_module", "test_fuzz_cli:NOT_CALLABLE",
                          "test_fuzz_cli:missing", "no_such_module_xyz:f", "missing.pt", "dir/missing.pt",
                          ":", "", "test_fuzz_cli:", ":factory", "GARBAGE_FILE", "A_FOLDER"])
_OPTION = st.one_of(
    st.tuples(st.just("--input"), _SHAPE),
    st.tuples(st.just("--input"), _SHAPE),
    st.tuples(st.just("--dynamic"), _DYNAMIC),
    st.tuples(st.just("--kwargs"), _KWARGS),
    st.tuples(st.just("--precision"), st.sampled_from(["fp32", "fp16", "bf16", "fp8", ""])),
    st.tuples(st.just("--input-name"), st.sampled_from(["a", "b", "input_0", "", "\x01", "a b"])),
    st.tuples(st.just("--fp32-op"), st.sampled_from(["aten::relu", "relu", "", "::"])),
    st.tuples(st.just("--fp32-module"), st.sampled_from(["0", ".*", "(", ""])),
    st.tuples(st.just("--param-exclude"), st.sampled_from(["0.weight", "(", "", ".*"])),
    st.tuples(st.sampled_from(["--rtol", "--atol"]), st.sampled_from(["1e-3", "0", "-1", "nan", "inf", "x"])),
    st.tuples(st.sampled_from(["--no-default-fp32", "--node-by-node", "--verbose", "--frobnicate", "-x",
                               "--input", "--no-strict", "--debug", "-o"])),
)
_COMMAND = st.sampled_from(["ops", "ops", "check", "check", "check", "convert", "convert", "frobnicate"])


_GOOD_MODEL = st.sampled_from([("test_fuzz_cli:factory", 1), ("test_fuzz_cli:two", 2)])
_GOOD_INPUT = st.sampled_from(["2x4", "3x4", "1x4", "2x3x4"])
_GOOD_OPTION = st.sampled_from([("--dynamic", "0=1,2,4"), ("--dynamic", "input_0:0=1,3,8"), ("--kwargs", '{"width": 2}'),
                                ("--precision", "fp16"), ("--precision", "bf16"), ("--fp32-op", "aten::relu"),
                                ("--fp32-module", "0"), ("--no-default-fp32",), ("--node-by-node",),
                                ("--rtol", "1e-2"), ("--atol", "1e-3")])


@st.composite
def argv_lists(draw):
    """A plausible command line (a tiny model, inputs that fit it, valid options), then 0-3 mutations:
    options drawn from malformed values, appended or replacing the input."""
    command = draw(_COMMAND)
    if draw(st.integers(0, 3)):
        model, n_inputs = draw(_GOOD_MODEL)
    else:
        model, n_inputs = draw(_MODEL), 1
    argv = [command, model]
    for _ in range(n_inputs):
        argv += ["--input", draw(_GOOD_INPUT)]
    for option in draw(st.lists(_GOOD_OPTION, max_size=2, unique=True)):
        argv += list(option)
    mutations = draw(st.lists(_OPTION, max_size=3))
    if mutations and draw(st.booleans()):
        argv[3] = draw(_SHAPE)  # the first input's shape itself
    for option in mutations:
        argv += list(option)
    if command == "convert":
        argv += ["-o", draw(st.sampled_from(["OUT", "OUT", "A_FOLDER", "GARBAGE_FILE/sub/m.engine"]))]
    argv.append("--quiet")
    return argv


# --------------------------------------------------------------------------- the property

class _Hang(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Hang(f"a CLI run took more than {SECONDS_PER_RUN} s")


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """Stand-ins substituted into argv: a garbage 'TorchScript' file, a folder, an output file."""
    root = tmp_path_factory.mktemp("fuzz_cli")
    garbage = root / "garbage.pt"
    garbage.write_bytes(b"PK\x03\x04 not really a zip archive")
    (root / "folder").mkdir()
    sys.path.insert(0, str(HERE))
    cwd = os.getcwd()
    os.chdir(root)  # `convert` without -o writes <factory>.<precision>.engine (and its sidecar) here
    try:
        yield {"GARBAGE_FILE": str(garbage), "A_FOLDER": str(root / "folder"), "OUT": str(root / "out.engine")}
    finally:
        os.chdir(cwd)
        sys.path.remove(str(HERE))


def _substitute(argv, places):
    out = []
    for a in argv:
        for name, value in places.items():
            a = a.replace(name, value)
        out.append(a)
    return out


def run_cli(argv) -> tuple:
    """``(exit code, stdout, stderr)`` of ``main(argv)`` in this process, bounded in time."""
    stdout, stderr = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, SECONDS_PER_RUN)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse: usage errors (2) and --help (0)
                code = exc.code
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return code, stdout.getvalue(), stderr.getvalue()


@settings(max_examples=EXAMPLES or 100, deadline=None, derandomize=EXAMPLES is None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(argv=argv_lists())
def test_cli_ends_with_a_result_or_a_named_error(argv, places):
    argv = _substitute(argv, places)
    torch.manual_seed(0)
    code, _, err = run_cli(argv)
    event(f"exit {code}")
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    if code == 2:
        lines = [line for line in err.splitlines() if "error" in line]
        assert lines, (argv, err)
        if err.startswith("trtgraph: error: InputError:"):
            assert len(err.strip().splitlines()) == 1, (argv, err)  # one line: the cause and the fix


def test_run_cli_reports_exit_codes(places):
    """The harness itself: a success, a named error, a usage error."""
    assert run_cli(["ops", "test_fuzz_cli:factory", "--input", "2x4"])[0] == 0
    code, _, err = run_cli(["ops", "test_fuzz_cli:raises", "--input", "2x4"])
    assert code == 2 and "factory failure" in err and "second line" not in err
    assert run_cli(["ops"])[0] == 2
