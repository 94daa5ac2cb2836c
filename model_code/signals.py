"""Turning SIGTERM/SIGINT into a flag the training loop polls between batches.

SageMaker sends SIGTERM on a spot interruption or StopTrainingJob and SIGKILLs 120 s later;
the loop needs one batch plus a checkpoint write, well inside that.
"""

from __future__ import annotations

import signal
from types import FrameType

from model_code.exit_codes import EXIT_INTERRUPTED


class StopRequest:
    def __init__(self) -> None:
        self.signum: int | None = None

    def install(self) -> StopRequest:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        return self

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.signum = signum

    def requested(self) -> bool:
        return self.signum is not None

    def exit_code(self) -> int:
        """143 for SIGTERM (EXIT_INTERRUPTED), 130 for SIGINT: 128 + the signal number."""
        return EXIT_INTERRUPTED if self.signum == signal.SIGTERM else 128 + (self.signum or 0)

    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else "nothing"
