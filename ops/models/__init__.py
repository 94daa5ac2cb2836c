"""Model versions of a deployed stack: `python -m ops.models {train,list,approve,reject,rollback,register}`.

The command line and its documentation are in `cli.py`; each command in its own module
(`train.py`, `catalog.py` for list/approve/reject/rollback, `register.py`), on `common.py`.
"""

from ops.models.cli import main, parse_args
from ops.models.common import CommandError, Context, Stack
from ops.models.train import elapsed, git_commit, watch

__all__ = ["CommandError", "Context", "Stack", "elapsed", "git_commit", "main", "parse_args", "watch"]
