"""The model's container code: `python -m model_code <command>` (train, evaluate).

The SageMaker container contract (paths under /opt/ml, exit codes, the failure file) is
described in model_code/README.md.
"""
