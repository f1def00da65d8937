"""Runs the fuzz harnesses (tests/fuzz/fuzz_*.py) as subprocesses with bounded budgets, and replays regressions.

- `test_atheris_harness`: each harness under atheris (libFuzzer, coverage-guided) with a fixed libFuzzer seed,
  `-runs=ATHERIS_RUNS` and `-max_total_time=ATHERIS_SECONDS` (the first reached ends it), seeded with the golden
  frames. A non-zero exit or any crash/oom/timeout artifact fails the test; the artifacts stay in the test's
  tmp dir (and are copied to $ODRADEK_FUZZ_ARTIFACTS when set), their bytes are printed in hex. A crash found
  becomes a regression: commit the input under tests/fuzz/regressions/<harness>/ and fix the code.
  Skipped when atheris is not installed (it is in the `test` extra for CPython 3.11-3.13 on Linux x86-64).
- `test_pure_python_loop`: the same `check` functions over fuzz_support.Mutator outputs (structure-aware mutations
  atheris does not make: record-batch fields with the CRC fixed, request fields set to odd values).
- `test_regressions`: every committed input, replayed through its harness in a subprocess limited to 2 GiB of
  address space (one of them once allocated gigabytes).

ODRADEK_SLOW=1 raises the budgets (atheris 240 s per harness, pure loop 50,000 runs) and picks a random seed.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fuzz_support import REPO, atheris_available, regression_inputs

HERE = Path(__file__).resolve().parent
HARNESSES = ("request_decode", "record_batch", "segment_recovery", "oauthbearer")
SLOW = os.environ.get("ODRADEK_SLOW") == "1"
ATHERIS_RUNS = 0 if SLOW else 200_000  # 0: no run limit, only the time limit
ATHERIS_SECONDS = 240 if SLOW else 10
PURE_RUNS = 50_000 if SLOW else 3_000
SEED = random.SystemRandom().randrange(1, 2**31) if SLOW else 20_240_917
ADDRESS_SPACE = 2 << 30


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "broker"), env.get("PYTHONPATH")]))
    return env


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _fail_with_artifacts(name: str, proc: subprocess.CompletedProcess[str], artifacts: Path) -> None:
    found = sorted(p for p in artifacts.iterdir() if p.is_file()) if artifacts.is_dir() else []
    keep = os.environ.get("ODRADEK_FUZZ_ARTIFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for path in found:
            shutil.copy(path, Path(keep) / f"{name}-{path.name}")
    if proc.returncode == 0 and not found:
        return
    shown = "\n".join(f"{p} ({p.stat().st_size} bytes): {p.read_bytes()[:256].hex()}" for p in found)
    pytest.fail(
        f"fuzz harness {name} exited {proc.returncode}; artifacts:\n{shown or '(none)'}\n"
        f"replay: python tests/fuzz/fuzz_{name}.py --replay FILE\n--- output (tail) ---\n{proc.stdout[-6000:]}"
    )


def _run(name: str, args: list[str], tmp_path: Path, timeout: float) -> None:
    corpus, artifacts = tmp_path / "corpus", tmp_path / "artifacts"
    corpus.mkdir()
    artifacts.mkdir()
    cmd = [sys.executable, str(HERE / f"fuzz_{name}.py"), *args, f"-artifact_prefix={artifacts}/", str(corpus)]
    print(" ".join(cmd))
    proc = subprocess.run(
        cmd,
        cwd=tmp_path,
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        timeout=timeout,
    )
    print(proc.stdout[-1500:])
    _fail_with_artifacts(name, proc, artifacts)


@pytest.mark.skipif(not atheris_available(), reason="atheris is not installed (pip install -e '.[test]')")
@pytest.mark.timeout(ATHERIS_SECONDS + 120)
@pytest.mark.parametrize("name", HARNESSES)
def test_atheris_harness(name: str, tmp_path: Path) -> None:
    args = [
        f"-runs={ATHERIS_RUNS}" if ATHERIS_RUNS else "-runs=-1",
        f"-max_total_time={ATHERIS_SECONDS}",
        f"-seed={SEED}",
        "-rss_limit_mb=1536",
        "-timeout=20",
        "-max_len=16384",
        "-print_final_stats=1",
    ]
    _run(name, args, tmp_path, timeout=ATHERIS_SECONDS + 90)


@pytest.mark.timeout(900 if SLOW else 120)
@pytest.mark.parametrize("name", HARNESSES)
def test_pure_python_loop(name: str, tmp_path: Path) -> None:
    args = ["--pure", f"-runs={PURE_RUNS}", f"-max_total_time={600 if SLOW else 30}", f"-seed={SEED}"]
    _run(name, args, tmp_path, timeout=800 if SLOW else 90)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", [name for name in HARNESSES if regression_inputs(name)])
def test_regressions(name: str) -> None:
    """Replays the committed crash inputs of each harness that has some (a harness without any has no case)."""
    inputs = regression_inputs(name)
    proc = subprocess.run(
        [sys.executable, str(HERE / f"fuzz_{name}.py"), "--replay", *map(str, inputs)],
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        timeout=90,
        preexec_fn=_limit_memory,
    )
    assert proc.returncode == 0, f"regression input fails {name}:\n{proc.stdout[-6000:]}"
    assert proc.stdout.count(" ok") == len(inputs), proc.stdout
