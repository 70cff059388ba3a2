"""``lookalike serve GALLERY [--model MODEL]``: the HTTP service (FastAPI + uvicorn) with its web page."""

from __future__ import annotations

from pathlib import Path

import typer

from lookalike.cli.app import app


@app.command(
    "serve",
    epilog=(
        "Examples:\n\n"
        "  lookalike serve gallery/ --model runs/best --write-key $WRITE_KEY --api-key $READ_KEY\n\n"
        "  LOOKALIKE_SERVICE_WRITE_KEYS=k1 lookalike serve gallery/ --model runs/best --port 9000\n\n"
        "  lookalike serve gallery/ --model runs/best --no-auth   # trusted host only\n\n"
        "Then open http://127.0.0.1:8000/ (web page) or /docs (API)."
    ),
)
def serve(
    gallery: str = typer.Argument(..., help="Gallery folder (or PostgreSQL DSN) to serve."),
    model: str = typer.Option(
        None, "--model", "-m", help="Model folder/spec the gallery was built with (default: the one it records)."
    ),
    host: str = typer.Option(None, "--host", help="Address to bind (default 127.0.0.1)."),
    port: int = typer.Option(None, "--port", help="Port to bind (default 8000)."),
    api_key: list[str] = typer.Option(
        [], "--api-key", help="Read-scope key (repeatable); prefer LOOKALIKE_SERVICE_API_KEYS, flags show in `ps`."
    ),
    write_key: list[str] = typer.Option(
        [], "--write-key", help="Write-scope key (repeatable): may also enroll/remove."
    ),
    no_auth: bool = typer.Option(False, "--no-auth", help="Serve without keys (trusted hosts only)."),
    config: Path = typer.Option(None, "--config", help="YAML file of service settings (limits, batching, keys)."),
    set_: list[str] = typer.Option([], "--set", help="Override a setting, e.g. --set max_upload_bytes=5000000."),
    log_level: str = typer.Option("info", "--uvicorn-log-level", help="uvicorn's log level."),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Worker processes (each loads the model; they share the gallery)."
    ),
) -> None:
    """Serve GALLERY over HTTP: /v1 API (enroll, identify, verify, remove, list), web page at /, docs at /docs."""
    import json
    import os
    import shutil
    import tempfile

    import uvicorn

    from lookalike.service import create_app, load_settings
    from lookalike.service.app import SERVE_ARGS_ENV, check_gallery
    from lookalike.service.metrics import MULTIPROC_ENV

    overrides = {
        "gallery": gallery,
        "model": model,
        "host": host,
        "port": port,
        "read_keys": api_key,
        "write_keys": write_key,
        "no_auth": no_auth or None,
    }
    settings = load_settings(config, overrides=overrides, dotted=set_)
    where = f"http://{settings.host}:{settings.port}/ (API docs at /docs)"
    if workers == 1:
        application = create_app(settings)
        typer.echo(f"lookalike: serving {gallery} on {where}")
        uvicorn.run(application, host=settings.host, port=settings.port, log_level=log_level.lower(), access_log=False)
        return
    check_gallery(settings)  # a bad key, gallery or model: one error here, not one per worker
    os.environ[SERVE_ARGS_ENV] = json.dumps(
        {"config": None if config is None else str(config), "overrides": overrides, "dotted": list(set_)}
    )
    metrics_dir = tempfile.mkdtemp(prefix="lookalike-metrics-")  # /metrics sums the workers' values from here
    os.environ[MULTIPROC_ENV] = metrics_dir
    typer.echo(f"lookalike: serving {gallery} on {where} with {workers} worker processes")
    try:
        uvicorn.run(
            "lookalike.service.app:app_from_environment",
            factory=True,
            workers=workers,
            host=settings.host,
            port=settings.port,
            log_level=log_level.lower(),
            access_log=False,
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
