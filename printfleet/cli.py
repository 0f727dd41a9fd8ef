"""The ``printfleet`` command line.

Every problem a user can fix is reported as one line on stderr with exit code 2 (see
:class:`printfleet.errors.UserError`); tracebacks are for bugs only.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from printfleet.errors import UserError
from printfleet.settings import Settings, load_settings

logger = logging.getLogger(__name__)

app = typer.Typer(
    help="printfleet: fleet manager and job queue for makerspace 3D printers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
config_app = typer.Typer(help="Check the fleet file.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
tokens_app = typer.Typer(help="Manage API bearer tokens.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")

console = Console()
err_console = Console(stderr=True)


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr through rich, once per process."""
    root = logging.getLogger()
    if any(isinstance(h, RichHandler) for h in root.handlers):
        return
    handler = RichHandler(console=err_console, show_path=False, rich_tracebacks=False)
    logging.basicConfig(level=level.upper(), format="%(name)s: %(message)s", handlers=[handler], force=True)
    for noisy in ("alembic", "httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _settings() -> Settings:
    settings = load_settings()
    setup_logging(settings.log_level)
    return settings


# ---------------------------------------------------------------- config


@config_app.command("check")
def config_check(
    path: Annotated[Path | None, typer.Argument(help="fleet file (default: $PRINTFLEET_CONFIG)")] = None,
) -> None:
    """Validate a fleet file; exit 0 if it is usable, 2 with one line naming the problem if not."""
    from printfleet.config import load_fleet

    path = path or load_settings().config
    fleet = load_fleet(path, check_secrets=True)
    drivers = sorted({p.driver.value for p in fleet.printers})
    console.print(
        f"{path}: ok, site {fleet.site.name!r}, {len(fleet.printers)} printer(s)"
        + (f" ({', '.join(drivers)})" if drivers else "")
    )


# ---------------------------------------------------------------- db


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Apply the database migrations (safe to run again; keeps all data)."""
    from printfleet import db

    settings = _settings()
    settings.ensure_data_dir()
    engine = db.make_engine(settings.effective_database_url)
    before = db.current_revision(engine)
    db.upgrade(engine, revision)
    after = db.current_revision(engine)
    console.print(f"database {db.redact_url(settings.effective_database_url)}: {before or 'empty'} -> {after}")


# ---------------------------------------------------------------- users and tokens


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[str, typer.Option(help="maker | staff | admin")] = "maker",
    password: Annotated[
        str | None, typer.Option(help="password (prompted for when omitted on a terminal)")
    ] = None,
    display_name: Annotated[str, typer.Option(help="full name, shown to staff only")] = "",
    nickname: Annotated[str, typer.Option(help="shown on the wall screen")] = "",
) -> None:
    """Create a user."""
    from printfleet import accounts

    settings = _settings()
    if password is None and sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with accounts.session(settings) as session:
        user = accounts.add_user(
            session, name=name, role=role, password=password, display_name=display_name, nickname=nickname
        )
        console.print(f"user {user.name} ({user.role.value}) created, id {user.id}")


@users_app.command("list")
def users_list() -> None:
    """List users."""
    from printfleet import accounts

    settings = _settings()
    table = Table("id", "name", "role", "nickname", "login", "created")
    with accounts.session(settings) as session:
        for user in accounts.list_users(session):
            table.add_row(
                str(user.id),
                user.name,
                user.role.value,
                user.nickname,
                "password" if user.password_hash else "token only",
                user.created_at.strftime("%Y-%m-%d"),
            )
    console.print(table)


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Argument(help="what the token is for, e.g. 'wall-pi' or 'ci'")],
    user: Annotated[str, typer.Option(help="the user the token acts as")] = "admin",
) -> None:
    """Create a bearer token for the API and print it (it is shown only once)."""
    from printfleet import accounts

    settings = _settings()
    with accounts.session(settings) as session:
        token = accounts.create_token(session, user_name=user, name=name)
    print(token)


# ---------------------------------------------------------------- running


@app.command()
def up(
    host: Annotated[str, typer.Option(help="web interface address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="web interface port", min=1, max=65535)] = 8000,
) -> None:
    """Run everything a one-machine site needs: web, worker, monitor (and private Redis/broker if unset)."""
    from printfleet.supervisor import run_up

    settings = _settings()
    raise typer.Exit(run_up(settings, host=host, port=port))


@app.command()
def web(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port", min=1, max=65535)] = 8000,
) -> None:
    """Run the web app (API, pages, live updates)."""
    import uvicorn

    from printfleet.web.app import create_app

    settings = _settings()
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", access_log=False)


@app.command()
def worker(
    burst: Annotated[bool, typer.Option(help="exit when the queues are empty")] = False,
) -> None:
    """Run an RQ worker for slicing and dispatch (run several, on several machines, if needed)."""
    from printfleet.queue.worker import run_worker

    settings = _settings()
    run_worker(settings, burst=burst)


@app.command()
def monitor() -> None:
    """Run the monitor: printer status, reconciliation and scheduling."""
    from printfleet.monitor import run_monitor

    settings = _settings()
    run_monitor(settings)


# ---------------------------------------------------------------- commands defined next to their parts
# estimate: printfleet.estimate.cli; sim: printfleet.sim.cli; simulate: printfleet.queue.simulate
from printfleet.estimate.cli import estimate as _estimate_command
from printfleet.queue.simulate import simulate_command as _simulate_command
from printfleet.sim.cli import sim as _sim_command

app.command("estimate")(_estimate_command)
app.command("sim")(_sim_command)
app.command("simulate")(_simulate_command)


def main() -> None:
    """Entry point: run the CLI, turning user errors into one line and exit code 2."""
    try:
        app()
    except UserError as exc:
        err_console.print(f"printfleet: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
