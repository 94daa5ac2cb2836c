"""Dispatch `python -m model_code <command> [args...]` to the command's module.

SageMaker starts the image as `<image> train` (training job) or `<image> serve` (endpoint);
the Dockerfile's ENTRYPOINT is `python -m model_code`, so its first argument lands here.
Each command module exposes `main(argv: list[str]) -> int` and is imported only when chosen,
so one command's dependencies never slow down or break another.
"""

from __future__ import annotations

import importlib
import sys

from model_code.exit_codes import EXIT_USAGE

# Adding a command is one line: its name and the module holding its `main(argv)`.
COMMANDS: dict[str, str] = {
    "train": "model_code.train",
    "evaluate": "model_code.evaluate",
    "serve": "model_code.serve.cli",
    "drift": "model_code.drift.job",
    "quality": "model_code.quality",
    "fetch-model": "model_code.fetch_model",
    "resolve-dataset": "model_code.resolve_dataset",
    "import-onnx": "model_code.import_onnx",
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in COMMANDS:
        got = repr(args[0]) if args else "no command"
        print(
            f"usage: python -m model_code <command> [args...]; "
            f"command must be one of: {', '.join(COMMANDS)} (got {got})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    module = importlib.import_module(COMMANDS[args[0]])
    return module.main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
