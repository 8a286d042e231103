"""Run a multi-process command (``torch.distributed.run``) with a deadline that fails with its output.

A hang in a multi-process run shows as a bare ``TimeoutExpired`` whose output pytest truncates; this helper fails
the test with the last lines of the run's stderr instead, so a CI log says where the processes stopped.
"""

import subprocess


def run_with_deadline(command, *, timeout: int, **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run(command, capture_output=True, text=True)``; on timeout, fail with the stderr tail."""
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    except subprocess.TimeoutExpired as expired:
        stderr = expired.stderr.decode(errors="replace") if isinstance(expired.stderr, bytes) else expired.stderr or ""
        raise AssertionError(f"{command[:6]} ... did not finish in {timeout} s; last stderr:\n{stderr[-4000:]}") from None
