"""The drift job on several Processing instances: plan, shard, merge.

For captures too large for one instance, the monitoring pipeline (ml_platform/components/pipelines.py) runs
the job three times, each with the same --endpoint-name/--capture/--baseline arguments:

1. `drift --plan-out DIR` (one instance) lists the window's capture files and writes
   - `manifest.json`, a SageMaker manifest of them: `[{"prefix": "s3://bucket/<capture>/"},
     "<endpoint>/<variant>/yyyy/mm/dd/hh/file.jsonl", ...]`, and
   - `plan.json`: `{"window": {"start", "end"}, "files": N, "capture": ...}`; the later steps
     take the window from it (so every step covers the same hours, whenever it starts) and the
     pipeline skips to a one-instance run when N is 0 (a manifest must list a file).
2. `drift --capture <local dir> --partial-out DIR` on N instances: SageMaker gives each instance
   a share of the manifest's files (`S3DataDistributionType: ShardedByS3Key`) under the same
   `<endpoint>/<variant>/yyyy/...` layout; each writes its plain integer counts and histograms
   to `DIR/<host>.json` (host from /opt/ml/config/resourceconfig.json).
3. `drift --merge DIR` (one instance) adds the partial results up and reports and publishes
   exactly as one instance reading every file would: counts and histograms are sums, and the
   statistics (PSI, critical values, flags) are computed once, from the sums.
   (tests/model_code/test_drift_sharding.py checks the reports are equal.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model_code.atomic import write_json_atomic
from model_code.drift.storage import Location
from model_code.drift.window import Window
from model_code.exit_codes import EXIT_OK
from model_code.failure import UserError

if TYPE_CHECKING:
    from model_code.drift.measurement import Measurement
    from model_code.drift.storage import Storage

PARTIAL_KIND = "drift-partial"
RESOURCE_CONFIG = Path("/opt/ml/config/resourceconfig.json")


def write_plan(storage: Storage, capture: Location, out: Path, window: Window, files: list[Location]) -> int:
    del storage  # listing is done by the caller; kept for a uniform signature
    prefix = capture.key.rstrip("/") + "/" if capture.key else ""
    keys = [file.key.removeprefix(prefix) for file in files]
    root = f"s3://{capture.bucket}/{prefix}" if capture.is_s3 else f"{capture.key.rstrip('/')}/"
    write_json_atomic(out / "manifest.json", [{"prefix": root}, *keys])
    write_json_atomic(out / "plan.json", {"window": window.as_dict(), "files": len(files), "capture": str(capture)})
    print(f"drift plan: {len(files)} capture files in {window.as_dict()['start']}..{window.as_dict()['end']}; {out}")
    return EXIT_OK


def host_name() -> str:
    """This instance's name in a SageMaker cluster (`algo-1`, ...); `local` outside SageMaker."""
    try:
        return str(json.loads(RESOURCE_CONFIG.read_text())["current_host"])
    except (OSError, ValueError, KeyError):
        return "local"


def write_partial(result: Measurement, out: Path, window: Window, files: int, host: str | None = None) -> int:
    host = host or host_name()
    state = {"kind": PARTIAL_KIND, "window": window.as_dict(), "files": files, "host": host, **result.state()}
    write_json_atomic(out / f"{host}.json", state)
    print(f"drift partial: {result.counts.records} records from {files} files; {out / f'{host}.json'}")
    return EXIT_OK


def merge_partials(measurement: Measurement, where: Path, window: Window) -> tuple[Measurement, int]:
    """`measurement` (empty, for the baseline) plus every partial in `where`; and the files they read."""
    paths = sorted(where.glob("*.json")) if where.is_dir() else []
    if not paths:
        raise UserError(f"no partial results (*.json) in {where}: did the sharded drift step run?")
    files = 0
    for path in paths:
        state = _partial(path)
        if state["window"] != window.as_dict():
            raise UserError(
                f"partial result {path} covers {state['window']['start']}..{state['window']['end']}, "
                f"not this run's window {window.as_dict()['start']}..{window.as_dict()['end']}"
            )
        measurement.merge_state(state)
        files += int(state["files"])
    return measurement, files


def _partial(path: Path) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read partial result {path}: {exc}") from exc
    if not isinstance(state, dict) or state.get("kind") != PARTIAL_KIND:
        raise UserError(f"{path} is not a partial drift result (kind {PARTIAL_KIND!r})")
    return state
