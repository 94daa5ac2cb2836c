"""`python -m model_code serve`: the SageMaker inference server (contract in model_code/README.md).

    settings.py     ServeSettings, the one settings class (environment variables, read at start-up)
    cli.py          the command: reads settings, configures logs, runs uvicorn (in-process or workers)
    supervisor.py   worker processes: start, replace on crash, drain on SIGTERM
    app.py          create_app(): assembles the FastAPI app, nothing else
    predictor.py    the model's load state (loading, ready, failed) and the prediction call
    invocations.py  the raw ASGI endpoint behind POST /invocations
    decode.py       request bodies (CSV, JSON) to a checked float64 array
    encode.py       content negotiation (Accept) and the JSON or CSV response body
    errors.py       ApiError: an HTTP status, a stable code and a message naming the problem
    logs.py         JSON log lines, and the logging config uvicorn applies in every process

Nothing here runs at import: settings are read, and the model is loaded, when a process starts.
"""
