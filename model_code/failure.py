"""Turning a command's outcome into an exit code and, on failure, /opt/ml/output/failure.

SageMaker shows the failure file's text (first 1024 characters) as the job's FailureReason,
so the reason is one line that names the problem; a traceback goes to stderr only for
internal errors, never as the only output.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from model_code.exit_codes import EXIT_FAILED
from model_code.paths import OptMl


class UserError(Exception):
    """A problem the job's caller can fix: bad data, bad hyperparameters, a bad model file."""


def report_failure(failure_file: Path, message: str) -> None:
    line = " ".join(message.split())
    print(f"error: {line}", file=sys.stderr)
    failure_file.parent.mkdir(parents=True, exist_ok=True)
    failure_file.write_text(line + "\n", encoding="utf-8")


def run_command(command: Callable[[OptMl], int]) -> int:
    """Run `command` with the contract paths; map exceptions to the failure file and exit 1."""
    paths = OptMl.from_env()
    try:
        return command(paths)
    except UserError as exc:
        report_failure(paths.failure, str(exc))
    except Exception as exc:  # noqa: BLE001 - the failure file must get every reason
        traceback.print_exc()
        report_failure(paths.failure, f"internal error: {type(exc).__name__}: {exc}")
    return EXIT_FAILED
