"""`make run` itself: it refuses bad settings before serving, and stops quietly on Ctrl-C or SIGTERM at any point."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.local_service import ROOT, START_TIMEOUT_SECONDS, STOP_TIMEOUT_SECONDS, child_environment

_BANNER_END = "Ctrl-C stops."
_STARTING = "Starting: "  # printed once the port is bound, before the slow part of the start


def start_runner(
    logs: Path, *, background_job: bool = False, **environment: str
) -> tuple[subprocess.Popen[str], Path, Path]:
    """The runner, receiving Ctrl-C as in a terminal even if this test runs with SIGINT ignored; or, `background_job`,
    started with SIGINT ignored as a shell starts `make run &`."""
    stdout_path, stderr_path = logs / "run.stdout", logs / "run.stderr"
    sigint = signal.SIG_IGN if background_job else signal.SIG_DFL
    with stdout_path.open("w") as stdout, stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "local_gateway", "run", "--port", "0"],
            cwd=ROOT,
            env=child_environment(**environment),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, sigint),
        )
    return process, stdout_path, stderr_path


def wait_for_exit(process: subprocess.Popen[Any], timeout: float) -> int:
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
        pytest.fail("the runner did not exit")


def test_bad_settings_refuse_to_start_with_their_messages(tmp_path: Path) -> None:
    # When the runner is started with settings no function can run with
    process, stdout, stderr = start_runner(tmp_path, LINK_TTL_SECONDS="3", SESSION_TTL_SECONDS="soon")

    # Then it exits, unsuccessfully, before serving, saying what is wrong with each (and no traceback)
    assert (
        wait_for_exit(process, 4 * START_TIMEOUT_SECONDS) != 0
    )  # it imports every handler first: slow on a busy machine
    errors = stderr.read_text()
    assert "Not starting: invalid function settings: " in errors
    assert "LINK_TTL_SECONDS: must be between 10 and 86400" in errors
    assert "SESSION_TTL_SECONDS: must be an integer" in errors
    assert "Traceback" not in errors
    assert _BANNER_END not in stdout.read_text()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
@pytest.mark.parametrize("when", ["while starting", "while serving"])
def test_ctrl_c_or_sigterm_stops_quietly(tmp_path: Path, stop: signal.Signals, when: str) -> None:
    # Given a runner starting (it imports every handler and starts its AWS stand-in), or serving; one to be stopped by
    # SIGTERM started as a background job, whose Ctrl-C is ignored (SIGTERM is how the test suite stops its servers)
    process, stdout, stderr = start_runner(tmp_path, background_job=stop == signal.SIGTERM)
    marker = _STARTING if when == "while starting" else _BANNER_END
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while marker not in stdout.read_text() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # bounded wait for the line that says where it is
    assert marker in stdout.read_text() and process.poll() is None

    # When it is told to stop
    process.send_signal(stop)

    # Then it stops, successfully, without a KeyboardInterrupt traceback
    assert wait_for_exit(process, 3 * STOP_TIMEOUT_SECONDS) == 0
    errors = stderr.read_text()
    assert "Traceback" not in errors and "KeyboardInterrupt" not in errors
    # (stopped while starting: it never got as far as serving)
    assert (_BANNER_END in stdout.read_text()) is (when == "while serving")


def test_a_port_in_use_is_one_line_naming_it_and_how_to_choose_another(tmp_path: Path) -> None:
    # Given the port taken by another server
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        # When the runner is started on it
        errors_path = tmp_path / "run.stderr"
        with errors_path.open("w") as errors_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "local_gateway", "run", "--port", str(port)],
                cwd=ROOT,
                env=child_environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors_file,
            )
        code = wait_for_exit(process, START_TIMEOUT_SECONDS)

    # Then it exits unsuccessfully with one line that names the port and PORTAL_PORT, and no traceback
    errors = errors_path.read_text()
    assert code != 0
    assert errors.strip().splitlines() == [
        f"Not starting: port {port} on 127.0.0.1 is already in use; choose another with PORTAL_PORT "
        "(e.g. `make run PORTAL_PORT=3001`, or 0 for any free port)."
    ]
