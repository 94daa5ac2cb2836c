"""Process exit codes of every command (documented in model_code/README.md)."""

EXIT_OK = 0
# Bad data, bad hyperparameters or an internal error; the reason is in /opt/ml/output/failure.
EXIT_FAILED = 1
# Unknown command or bad command-line arguments.
EXIT_USAGE = 2
# Training stopped by SIGTERM (spot interruption, StopTrainingJob) after saving a checkpoint:
# 128 + SIGTERM(15), the shell convention for "terminated by SIGTERM".
EXIT_INTERRUPTED = 143
