"""The ``windchill-mock`` command."""

from __future__ import annotations

import signal
import sys
import urllib.request
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from .config import SERVE_RATES, MockConfig, parse_rate
from .core.background import SOURCES
from .core.clock import MAX_SCALE, Clock, ScaledClock, SystemClock, VirtualClock, scale_of
from .core.errors import MockError
from .core.profiles import PROFILES
from .http import create_app
from .http.odata import ROOT

__all__ = ["main"]

_SERVE_DOCUMENTS = 20
#: A standalone server runs for hours: keep the newest events only (the in-process fixtures
#: keep all, for the checker). About 20 MB of events at most.
SERVE_JOURNAL_LIMIT = 100_000
#: ... and at most 64 MiB of them (their JSON lines, as ``GET /__mock/journal`` sends them).
SERVE_JOURNAL_LIMIT_BYTES = 64 * 1024 * 1024


def _rates(values: tuple[str, ...], what: str) -> dict[str, float]:
    unit = "SECONDS" if what == "--duration" else "PER_SECOND"
    result = {}
    for text in values:
        try:
            source, value = parse_rate(text, unit=unit)
        except MockError as error:
            raise click.BadParameter(str(error), param_hint=what) from None
        result[source] = value
    return result


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pytest-windchill")
def main() -> None:
    """A mock of Windchill REST Services for testing ETag, retry and check-out logic."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to bind (0: any free port).",
)
@click.option(
    "--profile",
    type=click.Choice(sorted(PROFILES)),
    default="thread",
    show_default=True,
    help="Concurrency profile.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed for background arrivals and CSRF tokens.",
)
@click.option(
    "--documents",
    type=click.IntRange(min=0),
    default=_SERVE_DOCUMENTS,
    show_default=True,
    help="Demo documents to create.",
)
@click.option(
    "--rate",
    "rates",
    multiple=True,
    metavar="SOURCE=PER_SECOND",
    help=f"Background events per second per document; SOURCE is one of {', '.join(SOURCES)}. "
    "Repeatable. Defaults: " + ", ".join(f"{k}={v}" for k, v in SERVE_RATES.items()) + ".",
)
@click.option(
    "--duration",
    "durations",
    multiple=True,
    metavar="SOURCE=SECONDS",
    help="How long a background operation keeps the document busy. Repeatable.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML configuration file (command-line options win).",
)
@click.option("--no-auth", is_flag=True, help="Accept requests without Basic auth.")
@click.option("--no-csrf", is_flag=True, help="Do not require the CSRF_NONCE header on writes.")
@click.option(
    "--virtual-clock",
    is_flag=True,
    help="Run on a virtual clock that moves only via POST /__mock/clock/advance.",
)
@click.option(
    "--admin-token",
    default=None,
    envvar="WINDCHILL_ADMIN_TOKEN",
    show_envvar=True,
    help="Require X-Mock-Admin-Token on /__mock/ requests. Prefer the environment variable "
    "or --admin-token-file: a command line is visible to every user of the machine (ps).",
)
@click.option(
    "--admin-token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Read the admin token from this file (its first line).",
)
@click.option(
    "--connection-limit",
    type=click.IntRange(min=1),
    default=None,
    help="Open connections kept at once (default 1000; waitress alone keeps 100).",
)
@click.option(
    "--channel-timeout",
    type=click.IntRange(min=1),
    default=None,
    help="Whole seconds an idle connection stays open (default 60).",
)
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0.001, max=MAX_SCALE),
    default=None,
    help="Run the server's clock this many times faster than real time (not with --virtual-clock).",
)
@click.option(
    "--max-tenants",
    type=click.IntRange(min=0),
    default=None,
    help="Tenants (POST /__mock/tenants) kept at once (default 1000; 0: none).",
)
@click.option(
    "--tenant-memory",
    type=click.IntRange(min=1),
    default=None,
    metavar="MIB",
    help="The tenants' estimated memory at most, in MiB (default 1024).",
)
@click.option(
    "--tenant-idle-timeout",
    type=click.IntRange(min=1),
    default=None,
    metavar="SECONDS",
    help="Real seconds an unused tenant lives (default 900).",
)
@click.option(
    "--ready-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Once listening, write the base URL to this file (CI scripts wait for it); "
    "GET /__mock/health answers too.",
)
@click.option(
    "--threads",
    default=8,
    show_default=True,
    type=click.IntRange(1, 256),
    help="waitress worker threads.",
)
def serve(
    host: str,
    port: int,
    profile: str,
    seed: int,
    documents: int,
    rates: tuple[str, ...],
    durations: tuple[str, ...],
    config_file: Path | None,
    no_auth: bool,
    no_csrf: bool,
    virtual_clock: bool,
    admin_token: str | None,
    admin_token_file: Path | None,
    connection_limit: int | None,
    channel_timeout: int | None,
    time_scale: float | None,
    max_tenants: int | None,
    tenant_memory: int | None,
    tenant_idle_timeout: int | None,
    ready_file: Path | None,
    threads: int,
) -> None:
    """Run the mock as a standalone server (waitress), with demo documents and background
    activity switched on so that the forum thread's 409 shows up within a minute."""
    from .serving import make_waitress_server

    try:
        defaults: dict[str, Any] = {
            "rates": dict(SERVE_RATES),
            "documents": _SERVE_DOCUMENTS,
            "journal_limit": SERVE_JOURNAL_LIMIT,
            "journal_limit_bytes": SERVE_JOURNAL_LIMIT_BYTES,
        }
        config = (
            MockConfig.from_toml(config_file, **defaults)
            if config_file is not None
            else MockConfig(**defaults)
        )
        changes: dict[str, Any] = {
            "rates": _rates(rates, "--rate"),
            "durations": _rates(durations, "--duration"),
        }
        # Options given on the command line win over the file; defaults do not.
        context = click.get_current_context()
        if admin_token_file is not None:
            if admin_token is not None:
                raise MockError("give the admin token once: --admin-token or --admin-token-file")
            lines = admin_token_file.read_text().splitlines()
            admin_token = lines[0].strip() if lines else ""
            if not admin_token:
                raise MockError(f"{admin_token_file} holds no admin token on its first line")
            changes["admin_token"] = admin_token
        for name, value in (
            ("profile", profile),
            ("seed", seed),
            ("documents", documents),
            ("admin_token", admin_token),
            ("connection_limit", connection_limit),
            ("channel_timeout", channel_timeout),
            ("max_tenants", max_tenants),
            ("tenant_idle_timeout", tenant_idle_timeout),
        ):
            given = context.get_parameter_source(name) in (
                ParameterSource.COMMANDLINE,
                ParameterSource.ENVIRONMENT,
            )
            if given and value is not None:
                changes[name] = value
        if tenant_memory is not None:
            changes["tenant_memory_bytes"] = tenant_memory * 1024 * 1024
        if time_scale is not None and virtual_clock:
            raise MockError(
                "--time-scale speeds up the system clock; a virtual clock moves only through "
                "POST /__mock/clock/advance (give one of the two)"
            )
        if no_auth:
            changes["auth"] = False
        if no_csrf:
            changes["csrf"] = False
        config = config.updated(changes)
    except MockError as error:
        raise click.UsageError(str(error)) from None
    clock: Clock = SystemClock()
    if virtual_clock:
        clock = VirtualClock()
    elif time_scale is not None and time_scale != 1:
        clock = ScaledClock(time_scale)
    app = create_app(config, clock=clock)
    if ready_file is not None:
        _clear_stale_ready_file(ready_file)
    try:
        server = make_waitress_server(
            app,
            host,
            port,
            threads=threads,
            connection_limit=config.connection_limit,
            channel_timeout=config.channel_timeout,
        )
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror}") from None
    bound = server.effective_port
    shown_host = f"[{host}]" if ":" in host else host
    base = f"http://{shown_host}:{bound}"
    background = ", ".join(
        f"{source}={settings.rate}/s for {settings.duration}s"
        for source, settings in config.background().items()
    )
    lines = [
        "windchill-mock: Windchill REST Services mock",
        f"  service root : {base}{ROOT}/",
        f"  documents    : {base}{ROOT}/DocMgmt/Documents ({config.documents} demo documents)",
        f"  profile      : {config.profile}    seed: {config.seed}    clock: {_clock_name(clock)}",
        f"  background   : {background}",
        "  users        : "
        + (
            "(auth off)"
            if not config.auth
            else ", ".join(config.users) + _default_passwords_note(config)
        ),
        "  CSRF         : "
        + (f"required: GET {ROOT}/PTC/GetCSRFToken()" if config.csrf else "off"),
        f"  admin API    : {base}/__mock/ (journal, metrics, interventions, reset)"
        + ("; token required" if config.admin_token is not None else ""),
        f"  tenants      : POST {base}/__mock/tenants (up to {config.max_tenants}); "
        f"health: GET {base}/__mock/health",
        "Press Ctrl+C to stop.",
    ]
    click.echo("\n".join(lines))
    sys.stdout.flush()
    if ready_file is not None:
        _write_ready_file(ready_file, base)
    # A CI service or a container stops with SIGTERM: end as on Ctrl+C (the ready file goes).
    signal.signal(signal.SIGTERM, _stop)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        if ready_file is not None:
            _remove_ready_file(ready_file, base)


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _clock_name(clock: Clock) -> str:
    if clock.virtual:
        return "virtual"
    scale = scale_of(clock)
    return f"system x{scale:g}" if scale != 1 else "system"


def _clear_stale_ready_file(path: Path) -> None:
    """Remove a ready file an earlier run left, so that nobody reads it as this server's;
    keep it if the server it names still answers (this one may fail to start beside it)."""
    try:
        named = path.read_text().strip()
    except OSError:
        return
    try:
        with urllib.request.urlopen(f"{named}/__mock/health", timeout=1) as answer:
            if answer.status == 200:
                return
    except (OSError, ValueError):
        pass
    path.unlink(missing_ok=True)


def _remove_ready_file(path: Path, base: str) -> None:
    """Remove the ready file if it still names this server (another may have taken it)."""
    try:
        if path.read_text().strip() == base:
            path.unlink()
    except OSError:
        pass


def _write_ready_file(path: Path, base: str) -> None:
    """Write the base URL atomically, replacing whatever an earlier run left: a script
    polling for the file never reads half of it. Only once the socket listens: a server that
    fails to start leaves the file of one that runs alone."""
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(base + "\n")
        partial.replace(path)
    except OSError as error:
        raise click.ClickException(f"cannot write --ready-file {path}: {error.strerror}") from None


def _default_passwords_note(config: MockConfig) -> str:
    """Whether the passwords are the built-in ones (each user's own name); never a password."""
    if all(password == user for user, password in config.users.items()):
        return " (password: the user name, as by default)"
    return " (passwords from your configuration)"


@main.command()
def profiles() -> None:
    """Show every profile and its knobs."""
    names = sorted(PROFILES)
    knobs = [k for k in PROFILES[names[0]].knobs() if k != "name"]
    width = max(len(k) for k in knobs)
    click.echo(" " * width + "  " + "  ".join(f"{n:>8}" for n in names))
    for knob in knobs:
        values = [str(PROFILES[n].knobs()[knob]) for n in names]
        click.echo(f"{knob:<{width}}  " + "  ".join(f"{v:>8}" for v in values))
