"""Drift and model-quality monitoring over SageMaker data capture (no SageMaker Model Monitor).

| module | does |
| --- | --- |
| `capture.py` | the data-capture JSONL format, and decoding it in bulk (fast path) or line by line |
| `stats.py` | PSI, Jensen-Shannon distance and the streaming accumulators behind them |
| `window.py` | the time window and its hourly `yyyy/mm/dd/hh` prefixes |
| `storage.py` | listing and streaming capture files from S3 or a local directory; writing reports |
| `cloudwatch.py` | the metric names and dimensions, and publishing them |
| `cli.py` | command-line argument types shared by `drift` and `quality` |
| `job.py` | `python -m model_code drift` |
| `synthetic.py` | dev tool: synthetic capture files and a matching baseline (`make drift`, the benchmark) |

`python -m model_code quality` lives in `model_code/quality.py` and reuses these modules.
"""
