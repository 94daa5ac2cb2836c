"""The drift report as one self-contained HTML page: what someone on call opens first.

Per feature, sorted by PSI (largest first): the baseline's and the window's bin proportions side
by side as bars, PSI, its critical value at the window's size, the Jensen-Shannon distance, the
missing and out-of-range rates, and whether it is flagged; then the predicted-class distribution
against the holdout's. No script, no stylesheet or font from elsewhere (no CDN): the charts are
inline SVG written here, a few dozen lines, so the container needs no plotting library (and a
page stored in S3 opens the same offline, years later).
"""

from __future__ import annotations

from html import escape
from itertools import pairwise
from typing import Any

BAR_WIDTH, CHART_HEIGHT, GAP = 9, 80, 6
BASELINE_COLOUR, WINDOW_COLOUR = "#8da0cb", "#fc8d62"


def render_html(report: dict[str, Any], baseline: dict[str, Any]) -> str:
    features = report["features"]
    order = sorted(features, key=lambda name: -(features[name]["psi"] or -1.0))
    rows = "\n".join(_feature_row(name, features[name], baseline["features"][name]) for name in order)
    window = report["window"]
    title = f"Drift of {report['endpoint_name']}, {window['start']} to {window['end']}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; }}
th {{ background: #f4f4f4; }} td.name {{ text-align: left; font-family: monospace; }}
tr.flagged {{ background: #fde8e4; }} .key span {{ display: inline-block; width: 12px; height: 12px; }}
</style></head><body>
<h1>{escape(title)}</h1>
{_summary(report)}
<p class="key"><span style="background:{BASELINE_COLOUR}"></span> baseline (training)
&nbsp; <span style="background:{WINDOW_COLOUR}"></span> this window</p>
<h2>Features, largest PSI first</h2>
<table><tr><th>feature</th><th>bins: baseline vs window</th><th>PSI</th><th>critical PSI</th>
<th>JS distance</th><th>missing</th><th>out of range</th><th>flagged</th></tr>
{rows}
</table>
<h2>Predictions</h2>
{_prediction(report, baseline)}
</body></html>
"""


def _summary(report: dict[str, Any]) -> str:
    counts = report["counts"]
    skipped = sum(counts["skipped"].values())
    flagged = ", ".join(report["flagged_features"]) or "none"
    return (
        f"<p>Status <b>{escape(report['status'])}</b>: {counts['records']:,} records read, {skipped:,} skipped "
        f"({escape(_nonzero(counts['skipped']))}), {report['files']} files, "
        f"{len(report['unreadable_files'])} unreadable. A feature is flagged when its PSI exceeds both "
        f"{report['psi_threshold']:g} and its critical value (false-alarm rate {report['false_alarm_rate']:g} "
        f"per window; at least {report['min_records']} records). Flagged: <b>{escape(flagged)}</b>.</p>"
    )


def _nonzero(skipped: dict[str, int]) -> str:
    return ", ".join(f"{reason} {count:,}" for reason, count in skipped.items() if count) or "none"


def _feature_row(name: str, stats: dict[str, Any], base: dict[str, Any]) -> str:
    labels = _bin_labels(base)
    cells = [
        _bars(base["proportions"], _shares(stats["counts"]), labels),
        _number(stats["psi"]),
        _number(stats["critical_psi"]),
        _number(stats["js_distance"]),
        f"{stats['missing_rate']:.2%}",
        f"{stats['out_of_range_rate']:.2%}",
        "<b>yes</b>" if stats["flagged"] else "no",
    ]
    css = ' class="flagged"' if stats["flagged"] else ""
    return f'<tr{css}><td class="name">{escape(name)}</td>' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _prediction(report: dict[str, Any], baseline: dict[str, Any]) -> str:
    prediction = report["prediction"]
    if prediction is None:
        return "<p>No predictions in this window.</p>"
    if prediction.get("task") == "regression":  # predicted values: binned like a feature
        value = baseline["prediction"]["value"]
        chart = _bars(value["proportions"], _shares(prediction["counts"]), _bin_labels(value))
        return (
            f"<p>Predicted values ({prediction['predictions']:,} predictions): PSI {_number(prediction['psi'])}, "
            f"JS distance {_number(prediction['js_distance'])}.</p>{chart}"
        )
    classes = prediction["classes"]
    chart = _bars(baseline["prediction"]["predicted_proportions"], _shares(prediction["class_counts"]), classes)
    return (
        f"<p>Predicted classes ({prediction['predictions']:,} predictions): PSI {_number(prediction['psi'])}, "
        f"JS distance {_number(prediction['js_distance'])}.</p>{chart}"
    )


def _bin_labels(base: dict[str, Any]) -> list[str]:
    if base.get("kind") == "discrete":
        return [f"{value:g}" for value in base["values"]] + ["other"]
    edges = base["bin_edges"]
    return [f"[{low:.4g}, {high:.4g})" for low, high in pairwise(edges)]


def _shares(counts: list[int]) -> list[float]:
    total = sum(counts)
    return [c / total for c in counts] if total else [0.0] * len(counts)


def _bars(expected: list[float], actual: list[float], labels: list[str]) -> str:
    """Two bars per bin (baseline, window), heights scaled to the larger proportion; each bar has a
    tooltip with the bin and both proportions."""
    top = max([*expected, *actual, 1e-12])
    group = 2 * BAR_WIDTH + GAP
    width = group * len(expected)
    bars = []
    for index, (p, q, label) in enumerate(zip(expected, actual, labels, strict=True)):
        x = index * group
        tip = escape(f"{label}: baseline {p:.2%}, window {q:.2%}")
        for offset, share, colour in ((0, p, BASELINE_COLOUR), (BAR_WIDTH, q, WINDOW_COLOUR)):
            height = CHART_HEIGHT * share / top
            bars.append(
                f'<rect x="{x + offset}" y="{CHART_HEIGHT - height:.1f}" width="{BAR_WIDTH}" '
                f'height="{height:.1f}" fill="{colour}"><title>{tip}</title></rect>'
            )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{CHART_HEIGHT}" '
        f'viewBox="0 0 {width} {CHART_HEIGHT}" role="img">{"".join(bars)}</svg>'
    )


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
