"""Property: `chaoskit validate` ends every experiment file, however broken or hostile, in exit 0 or in exit 2
with located messages, within 2 s and 200 MB each.

The validate path runs in-process: the loader with every registered fault kind (what `validate` calls) and the
CLI's issue printer. 10,000 generated files by default, derandomized (CI is deterministic); more locally with
``CHAOSKIT_FUZZ_EXAMPLES=100000``. A case that breaks a bound fails the test, and Hypothesis prints its text.
Time is this process's CPU time (a busy, shared CI runner stretches wall time, not the work done); memory is
the growth of the peak resident set during the case.
"""

from __future__ import annotations

import contextlib
import io
import os
import resource
import time

import pytest
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from chaoskit import kinds
from chaoskit.cli.app import app
from chaoskit.cli.validate import _print_issues
from chaoskit.experiment import SpecError
from tests.unit.yaml_fuzz import EXPERIMENTS, experiment_texts, generate

pytestmark = pytest.mark.unit

EXAMPLES = int(os.environ.get("CHAOSKIT_FUZZ_EXAMPLES", "10000"))
MAX_SECONDS = 2.0
MAX_GROWTH_KIB = 200 * 1024
SOURCE = str(EXPERIMENTS / "fuzzed.yaml")  # manifests resolve next to the shipped experiments
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                suppress_health_check=list(HealthCheck), print_blob=False)


def validate_in_process(text: str) -> tuple[int, str]:
    """(exit code, stderr) as `chaoskit validate` would give them for a file holding ``text``."""
    try:
        kinds.load_text(text, SOURCE)
    except SpecError as err:
        stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")  # like sys.stderr
        with contextlib.redirect_stderr(stderr):
            _print_issues(err.issues)
        stderr.seek(0)
        for issue in err.issues:
            assert issue.file == SOURCE, issue
            assert issue.message.strip(), issue
            assert issue.line is None or (issue.line >= 1 and (issue.column or 1) >= 1), issue
        return 2, stderr.read()
    return 0, ""


def peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux; only ever grows


@FUZZ
@given(experiment_texts())
def test_every_generated_experiment_ends_in_exit_0_or_a_located_exit_2(text: str) -> None:
    before = peak_rss_kib()
    start = time.process_time()
    code, stderr = validate_in_process(text)
    elapsed = time.process_time() - start
    grown = peak_rss_kib() - before
    assert code in (0, 2)
    if code == 2:
        assert stderr.startswith(SOURCE), stderr  # every message begins with file[:line:column]
    assert elapsed < MAX_SECONDS, f"took {elapsed:.2f} s of CPU"
    assert grown < MAX_GROWTH_KIB, f"peak memory grew by {grown / 1024:.0f} MiB"


def test_the_generator_makes_valid_and_invalid_files() -> None:
    """The property above is not vacuous: both outcomes occur among the first generated files."""
    import random

    codes = {validate_in_process(generate(random.Random(seed)))[0] for seed in range(300)}
    assert codes == {0, 2}


@pytest.mark.parametrize("text", [
    "a: " + "[" * 300 + "]" * 300,
    "a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)),
    "name: &n [*n]\n",
    "rate: " + "9" * 5000 + "\n",
])
def test_hostile_files_exit_2_through_the_real_cli(tmp_path: os.PathLike[str], text: str) -> None:
    path = os.path.join(tmp_path, "hostile.yaml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    result = CliRunner().invoke(app, ["validate", path])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"{path}:"), result.stderr
