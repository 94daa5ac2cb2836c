"""The benchmark's reference: the same /ping and /invocations contract, served the way the
SageMaker scikit-learn container serves a model. Not part of the product.

That container (sagemaker-scikit-learn-container on sagemaker-containers / the inference
toolkit) runs a Flask app under gunicorn and handles each request as decode -> predict ->
encode: CSV through `np.genfromtxt(StringIO(text), delimiter=",")`, JSON through `json.loads`
then `np.array`, the prediction through the model, and the answer through `json.dumps`. This
module does the same with our model (`load_model(dir).predict_proba`) and our response shape,
so both servers return the same predictions for the same request. Run it as the benchmark
does, with gunicorn's sync workers:

    BENCH_MODEL_DIR=build/model gunicorn --workers 2 --worker-class sync \
        --bind 127.0.0.1:8081 'benchmarks.reference_server:create_app()'

With BENCH_SKLEARN_MODEL=<file>.joblib instead, it loads a scikit-learn estimator the way that
container's default `model_fn` does (`joblib.load`, a pickle) and answers with its
`predict_proba`: the reference for a model brought as ONNX (the same forest, exported).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import flask
import numpy as np

from model_code.model import load_model


def create_app() -> flask.Flask:
    if os.environ.get("BENCH_SKLEARN_MODEL"):
        import joblib

        estimator = joblib.load(os.environ["BENCH_SKLEARN_MODEL"])  # a pickle, as the container loads it
        predict_proba = estimator.predict_proba
        classes = tuple(str(c) for c in estimator.classes_)
        width = int(estimator.n_features_in_)
    else:
        model = load_model(Path(os.environ["BENCH_MODEL_DIR"]))
        predict_proba, classes, width = model.predict_proba, model.classes, len(model.feature_names)
    app = flask.Flask(__name__)

    def error(status: int, code: str, message: str) -> flask.Response:
        body = json.dumps({"error": code, "message": message})
        return flask.Response(body, status=status, mimetype="application/json")

    @app.route("/ping", methods=["GET"])
    def ping() -> flask.Response:
        return flask.Response(json.dumps({"status": "ready"}), status=200, mimetype="application/json")

    @app.route("/invocations", methods=["POST"])
    def invocations() -> flask.Response:
        content_type = (flask.request.content_type or "").split(";")[0].strip().lower()
        accept = flask.request.headers.get("Accept", "application/json")
        if accept in ("*/*", ""):
            accept = "application/json"
        if accept not in ("application/json", "text/csv"):
            return error(406, "not_acceptable", f"Accept {accept!r} is not supported")
        data = flask.request.get_data()
        try:
            if content_type == "text/csv":
                rows = np.genfromtxt(io.StringIO(data.decode("utf-8")), delimiter=",", dtype=np.float64)
            elif content_type == "application/json":
                rows = np.array(json.loads(data), dtype=np.float64)
            else:
                return error(415, "unsupported_media_type", f"Content-Type {content_type!r} is not supported")
        except ValueError as exc:
            return error(400, "malformed_input", str(exc))
        rows = rows.reshape(1, -1) if rows.ndim == 1 else rows
        if rows.ndim != 2 or rows.shape[1] != width:
            return error(400, "wrong_feature_count", f"expected {width} values per row")
        if not np.isfinite(rows).all():
            return error(400, "non_finite", "values must be finite numbers")
        proba = predict_proba(rows)
        labels = np.asarray(classes)[proba.argmax(axis=1)]
        if accept == "text/csv":
            lines = [
                ",".join([label, *map(repr, row)]) for label, row in zip(labels.tolist(), proba.tolist(), strict=True)
            ]
            return flask.Response("\n".join(lines) + "\n", status=200, mimetype="text/csv")
        predictions = [
            {"label": label, "probabilities": row} for label, row in zip(labels.tolist(), proba.tolist(), strict=True)
        ]
        body = json.dumps({"classes": list(classes), "predictions": predictions})
        return flask.Response(body, status=200, mimetype="application/json")

    return app
