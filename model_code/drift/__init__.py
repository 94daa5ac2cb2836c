"""Drift and model-quality monitoring over SageMaker data capture (no SageMaker Model Monitor).

| module | does |
| --- | --- |
| `capture.py` | the data-capture JSONL format, and decoding a block of lines (`decode_block`) |
| `schema.py` | what a record must look like (from baseline.json), and the skip counts |
| `fast_path.py` | lines in the exact capture layout, cut out of the bytes by regular expressions |
| `events.py` | the slow path: one line decoded with `json.loads` |
| `rows.py` | feature rows, bulk-parsed by numpy where exact, else cell by cell |
| `predictions.py` | predicted classes and probabilities from CSV and JSON outputs |
| `stats.py` | PSI, Jensen-Shannon distance and the streaming accumulators behind them |
| `calibration.py` | dev tool: measured false-alarm and detection rates (the README's calibration table) |
| `measurement.py` | one pass over the captured lines: counts and histograms that add up across instances |
| `regression.py` | the same for a regression model's predicted values |
| `sharding.py` | several Processing instances: the plan, partial results and their merge |
| `window.py` | the time window and its hourly `yyyy/mm/dd/hh` prefixes |
| `storage.py` | listing and streaming capture files from S3 or a local directory; writing reports |
| `cloudwatch.py` | the metric names and dimensions, and publishing them |
| `report_html.py` | the self-contained HTML report |
| `cli.py` | command-line argument types shared by `drift` and `quality` |
| `job.py` | `python -m model_code drift` |
| `synthetic.py` | dev tool: synthetic capture files and a matching baseline (`make drift`, the benchmark) |

`python -m model_code quality` lives in `model_code/quality.py` (ground truth and the join:
`model_code/quality_join.py`) and reuses these modules.
"""
