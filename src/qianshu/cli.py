"""The `qianshu` command line: each command parses, calls one library function and prints."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from qianshu.config import Settings, load_settings
from qianshu.core.errors import QianshuError
from qianshu.core.runtime import Runtime

app = typer.Typer(help="签署 Qianshu — electronic contracts, CA, TSA and evidence in one service.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.")
keys_app = typer.Typer(help="Key-encryption keys and secrets.")
user_app = typer.Typer(help="Accounts.")
ca_app = typer.Typer(help="Certification authority.")
audit_app = typer.Typer(help="Audit trail.")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(user_app, name="user")
app.add_typer(ca_app, name="ca")
app.add_typer(audit_app, name="audit")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (default ./var or QIANSHU_DATA_DIR).")]


def _settings(data_dir: Path | None = None, **overrides: object) -> Settings:
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    return load_settings(**overrides)


def _runtime(data_dir: Path | None = None, *, migrate: bool = True, **overrides: object) -> Runtime:
    from qianshu.core.logging import configure_logging

    configure_logging("WARNING")
    runtime = Runtime(_settings(data_dir, **overrides))
    if migrate:
        from qianshu import bootstrap

        for message in bootstrap.prepare(runtime):
            typer.echo(message)
    return runtime


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


# --- wiring ---------------------------------------------------------------------------------


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    workers: Annotated[int, typer.Option(help="Number of app processes.")] = 1,
) -> None:
    """Set up the data directory on first run, migrate, and serve the platform."""
    import uvicorn

    from qianshu import bootstrap
    from qianshu.app import create_app
    from qianshu.core.logging import configure_logging

    overrides: dict[str, object] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    settings = _settings(data_dir, **overrides)
    configure_logging("INFO")
    runtime = Runtime(settings)
    for message in bootstrap.prepare(runtime):
        typer.echo(message)
    typer.echo(f"签署 Qianshu listening on http://{settings.host}:{settings.port}  (data: {settings.data_dir})")
    if workers > 1 and (settings.effective_database_url.startswith("sqlite") or not settings.redis_url):
        _fail("--workers > 1 needs PostgreSQL and Redis (QIANSHU_DATABASE_URL, QIANSHU_REDIS_URL)")
    uvicorn.run(create_app(runtime), host=settings.host, port=settings.port, log_config=None, access_log=False)


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Apply database migrations."""
    from qianshu import db

    runtime = _runtime(data_dir, migrate=False)
    runtime.migrate()
    typer.echo(f"database at revision {db.current_revision(runtime.engine)}")


@app.command()
def worker(data_dir: DataDir = None) -> None:
    """Run background jobs in the foreground."""
    from qianshu.jobs import worker as jobs_worker

    runtime = _runtime(data_dir)
    typer.echo("worker running; Ctrl-C to stop")
    jobs_worker.run_forever(runtime)


# --- keys (vault) ---------------------------------------------------------------------------

# --- user (accounts) ------------------------------------------------------------------------

# --- ca (pki) -------------------------------------------------------------------------------

# --- signing: demo, validate ----------------------------------------------------------------

# --- audit (evidence) -----------------------------------------------------------------------

# --- sandbox (notify, identity) -------------------------------------------------------------


def main() -> None:
    """Entry point: run the CLI, turning library errors into a message and exit code 1."""
    try:
        app()
    except QianshuError as exc:
        typer.echo(f"错误 / error: {exc.detail} ({exc.detail_en})", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
