"""The ``dalston`` commands (click): transcribe, jobs, export, models, status, keys.

Where the server is: ``--url`` / ``--api-key``, else ``DALSTON_URL`` / ``DALSTON_API_KEY``
(read by :mod:`dalston.config`, like every setting), else the config file
(``~/.config/dalston/config.toml``, ``DALSTON_CONFIG`` or ``--config``: ``url = "…"``,
``api_key = "…"``), else ``http://127.0.0.1:8000`` (``make run``).

Progress and messages go to stderr and results to stdout, so ``dalston transcribe a.wav >
a.txt`` works. A server that cannot be reached, or that refuses a request, is one line on
stderr and exit status 1 — never a traceback.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from dalston.cli import keys as keys_commands
from dalston.cli.client import TERMINAL, ApiError, Client, Unreachable, is_url, vocabulary_field
from dalston.cli.local import EmbeddedServer, is_local
from dalston.config import Settings

DEFAULT_URL = "http://127.0.0.1:8000"
FORMATS = ("txt", "json", "srt", "vtt")


class CliError(click.ClickException):
    """A one-line error and exit status 1."""

    def show(self, file=None) -> None:
        click.echo(f"dalston: error: {self.format_message()}", err=True)


@dataclass
class Context:
    url: str
    api_key: str | None
    data_dir: Path
    client: Client
    err: Console
    out: Console


def _config_file(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"cannot read the config file {path}: {exc}") from exc


def _errors(fn):
    """Turn the client's exceptions into one-line errors (exit status 1)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Unreachable as exc:
            raise CliError(f"{exc} (is it running? start one with `make run`)") from exc
        except ApiError as exc:
            raise CliError(f"{exc.code}: {exc} (HTTP {exc.status})") from exc

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", help=f"The Dalston server [env DALSTON_URL; default {DEFAULT_URL}]")
@click.option("--api-key", help="Its API key, if it wants one [env DALSTON_API_KEY]")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file with url and api_key [env DALSTON_CONFIG; ~/.config/dalston/config.toml]",
)
@click.version_option(package_name="dalston")
@click.pass_context
def cli(ctx, url, api_key, config_path):
    """Transcribe audio with a Dalston server, and manage its jobs."""
    settings = Settings.from_env()
    config = _config_file(config_path or settings.client_config)
    url = url or settings.server_url or config.get("url") or DEFAULT_URL
    if urlsplit(url).scheme not in ("http", "https"):
        raise CliError(f"the server URL must start with http:// or https://, not {url!r}")
    api_key = api_key or settings.api_key or config.get("api_key")
    ctx.obj = Context(
        url=url,
        api_key=api_key,
        data_dir=settings.data_dir,
        client=Client(url, api_key),
        err=_console(stderr=True),
        out=_console(stderr=False),
    )


def _console(stderr: bool) -> Console:
    """Text is printed as it is (no rich markup: job text may hold brackets); a pipe gets
    full lines, not an 80-column terminal's truncated table cells."""
    console = Console(stderr=stderr, highlight=False, markup=False, emoji=False)
    if not console.is_terminal:
        console.width = 400
    return console


# ---------------------------------------------------------------------------- helpers
def _clock(seconds) -> str:
    if seconds is None:
        return "–"
    s = int(seconds)
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def _rtf(job: dict) -> str:
    started, completed = job.get("started_at"), job.get("completed_at")
    duration = job.get("audio_duration_seconds")
    if not (started and completed and duration):
        return "–"
    took = dt.datetime.fromisoformat(completed) - dt.datetime.fromisoformat(started)
    return f"{took.total_seconds() / duration:.2f}"


def _when(iso: str | None) -> str:
    return dt.datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S") if iso else "–"


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}", style="bold"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
        console=console,
    )


def _state(job: dict) -> str:
    if job["status"] == "running" and job.get("current_stage"):
        return f"running: {job['current_stage']}"
    return job["status"]


def wait_for(ctx: Context, jobs: dict[str, str], timeout: float | None, poll: float) -> dict:
    """Poll ``jobs`` (id → name) until each is terminal, with a progress bar each on stderr
    (plain lines when stderr is not a terminal); returns id → final job."""
    done: dict[str, dict] = {}
    deadline = time.monotonic() + timeout if timeout else None
    bars = ctx.err.is_terminal
    seen: dict[str, tuple] = {}
    with _progress(ctx.err) if bars else _NoBars() as progress:
        tasks = {
            job_id: progress.add_task(name, total=100, state="submitted")
            for job_id, name in jobs.items()
        }
        while len(done) < len(jobs):
            for job_id, name in jobs.items():
                if job_id in done:
                    continue
                job = ctx.client.job(job_id)
                value = 100 if job["status"] == "completed" else job.get("progress", 0)
                if bars:
                    progress.update(tasks[job_id], completed=value, state=_state(job))
                elif seen.get(job_id) != (job["status"], value):
                    ctx.err.print(f"{name}: {_state(job)} {value}%")
                seen[job_id] = (job["status"], value)
                if job["status"] in TERMINAL:
                    done[job_id] = job
            if len(done) < len(jobs):
                if deadline and time.monotonic() > deadline:
                    pending = ", ".join(j for j in jobs if j not in done)
                    raise CliError(f"timed out after {timeout:.0f} s waiting for {pending}")
                time.sleep(poll)
    return done


class _NoBars:
    """Stands in for rich's Progress when stderr is a file: ``wait_for`` prints lines."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def add_task(self, *args, **kwargs):
        return None


def _failure(name: str, job: dict) -> str:
    err = job.get("error") or {}
    if job["status"] == "cancelled":
        return f"{name}: the job {job['id']} was cancelled"
    return f"{name}: job {job['id']} failed: {err.get('code', 'error')}: {err.get('message', '')}"


def _output_name(source: str, job_id: str, fmt: str, taken: set[str]) -> str:
    stem = Path(urlsplit(source).path).stem if is_url(source) else Path(source).stem
    name = f"{stem or job_id}.{fmt}"
    if name in taken:  # two inputs with one name (a/x.wav, b/x.wav): keep both
        name = f"{stem or 'audio'}-{job_id[:8]}.{fmt}"
    taken.add(name)
    return name


# ---------------------------------------------------------------------------- transcribe
@cli.command()
@click.argument("sources", nargs=-1, required=True, metavar="FILE|URL...")
@click.option("--model", help="Model (see `dalston models`); the server's default if absent")
@click.option("--language", help="ISO 639-1 code such as en; detected if absent")
@click.option(
    "--speakers",
    type=click.Choice(["none", "diarize", "per_channel"]),
    default="none",
    show_default=True,
    help="Tell speakers apart (diarize) or give each channel its own",
)
@click.option("--num-speakers", type=click.IntRange(1, 32), help="How many speakers, if known")
@click.option(
    "--timestamps",
    type=click.Choice(["word", "segment", "none"]),
    default="word",
    show_default=True,
)
@click.option("--vocabulary", multiple=True, help="Terms to favour (repeat, or a comma list)")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="txt", show_default=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write each transcript to DIR/<name>.<format> (default: print them)",
)
@click.option("--no-wait", is_flag=True, help="Submit, print the job ids and return")
@click.option(
    "--embedded/--no-embedded",
    default=True,
    show_default=True,
    help="Start embedded mode for this call when no server runs on this machine",
)
@click.option("--timeout", type=float, help="Give up waiting after this many seconds")
@click.pass_obj
@_errors
def transcribe(
    ctx: Context,
    sources,
    model,
    language,
    speakers,
    num_speakers,
    timestamps,
    vocabulary,
    fmt,
    out,
    no_wait,
    embedded,
    timeout,
):
    """Transcribe files or URLs (several at once), with a progress bar each."""
    for source in sources:
        if not is_url(source) and not Path(source).is_file():
            raise CliError(f"no such file: {source}")
    options = {
        "model": model,
        "language": language,
        "speaker_detection": speakers,
        "num_speakers": num_speakers,
        "timestamps_granularity": timestamps,
        "vocabulary": vocabulary_field(vocabulary),
    }
    server = None
    if embedded and is_local(ctx.url) and not ctx.client.health():
        ctx.err.print(
            f"dalston: no server at {ctx.url}; starting embedded mode for this call "
            f"(data in {ctx.data_dir}, log in {ctx.data_dir / 'embedded-cli.log'})"
        )
        server = EmbeddedServer(ctx.url, ctx.data_dir)
        try:
            server.wait_ready(ctx.client.health)
        except RuntimeError as exc:
            raise CliError(str(exc)) from exc
    try:
        _transcribe(ctx, sources, options, fmt, out, no_wait, timeout, server)
    finally:
        if server is not None and not no_wait:
            server.stop()


def _transcribe(ctx, sources, options, fmt, out, no_wait, timeout, server):
    jobs: dict[str, str] = {}
    names: dict[str, str] = {}
    for source in sources:
        job = ctx.client.submit(source, options)
        jobs[job["id"]] = Path(urlsplit(source).path).name if is_url(source) else Path(source).name
        names[job["id"]] = source
    if no_wait:
        for job_id in jobs:
            click.echo(job_id)
        if server is not None:
            ctx.err.print(
                f"dalston: embedded mode keeps running (pid {server.proc.pid}) so the jobs "
                f"finish; `dalston jobs wait` waits for them"
            )
        return
    finished = wait_for(ctx, jobs, timeout, poll=0.3)
    failed = [job_id for job_id, job in finished.items() if job["status"] != "completed"]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    for job_id, job in finished.items():
        if job_id in failed:
            continue
        body = ctx.client.export(job_id, fmt)
        if out is not None:
            path = out / _output_name(names[job_id], job_id, fmt, taken)
            path.write_bytes(body)
            ctx.err.print(f"{jobs[job_id]} → {path}")
        else:
            if len(finished) > 1:
                click.echo(f"==> {jobs[job_id]} ({job_id}) <==")
            click.echo(body.decode("utf-8", errors="replace").rstrip("\n"))
    if failed:
        raise CliError("; ".join(_failure(jobs[j], finished[j]) for j in failed))


# ---------------------------------------------------------------------------- jobs
@cli.group()
def jobs():
    """List, inspect, wait for, cancel and delete jobs."""


@jobs.command("list")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option(
    "--status", type=click.Choice(["pending", "running", "completed", "failed", "cancelled"])
)
@click.option("--json", "as_json", is_flag=True, help="The API's JSON page")
@click.pass_obj
@_errors
def jobs_list(ctx: Context, limit, status, as_json):
    """Jobs, newest first: status, audio length, model, real-time factor."""
    page = ctx.client.jobs(limit=limit, status=status)
    if as_json:
        click.echo(json.dumps(page, indent=2))
        return
    if not page["jobs"]:
        ctx.err.print("no jobs")
        return
    table = Table(box=None, pad_edge=False)
    for col in ("ID", "STATUS", "CREATED", "AUDIO", "MODEL", "RTF"):
        table.add_column(col, no_wrap=True)
    for job in page["jobs"]:
        table.add_row(
            job["id"],
            job["status"],
            _when(job["created_at"]),
            _clock(job.get("audio_duration_seconds")),
            job.get("model") or "–",
            _rtf(job),
        )
    ctx.out.print(table)
    if page.get("has_more"):
        ctx.err.print(f"(more: --limit {min(100, limit * 2)})")


@jobs.command("get")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="The API's JSON job")
@click.pass_obj
@_errors
def jobs_get(ctx: Context, job_id, as_json):
    """One job: its status, progress, stages and (once completed) its text."""
    job = ctx.client.job(job_id)
    if as_json:
        click.echo(json.dumps(job, indent=2))
        return
    rows = [
        ("id", job["id"]),
        ("status", job["status"]),
        ("progress", f"{job.get('progress', 0)}%"),
        ("model", job.get("model") or "–"),
        ("language", job.get("language_code") or "–"),
        ("audio", _clock(job.get("audio_duration_seconds"))),
        ("created", _when(job.get("created_at"))),
        ("completed", _when(job.get("completed_at"))),
        ("rtf", _rtf(job)),
    ]
    if job.get("error"):
        rows.append(("error", f"{job['error'].get('code')}: {job['error'].get('message')}"))
    for key, value in rows:
        ctx.out.print(f"{key:<10} {value}")
    if job.get("stages"):
        table = Table(box=None, pad_edge=False, title=None)
        for col in ("STAGE", "PART", "STATUS", "WORKER", "ATTEMPTS", "TOOK"):
            table.add_column(col, no_wrap=True)
        for run in job["stages"]:
            took = run.get("duration_ms")
            table.add_row(
                run["stage"],
                str(run.get("part", 0)),
                run["status"],
                run.get("worker") or "–",
                str(run.get("attempts", 0)),
                f"{took / 1000:.2f} s" if took is not None else "–",
            )
        ctx.out.print()
        ctx.out.print(table)
    if job.get("text"):
        ctx.out.print()
        ctx.out.print(job["text"])


@jobs.command("wait")
@click.argument("job_ids", nargs=-1, required=True)
@click.option("--timeout", type=float, help="Give up after this many seconds")
@click.pass_obj
@_errors
def jobs_wait(ctx: Context, job_ids, timeout):
    """Wait until jobs end (progress bars); exit status 1 if any did not complete."""
    finished = wait_for(ctx, {j: j[:12] for j in job_ids}, timeout, poll=0.3)
    for job_id, job in finished.items():
        click.echo(f"{job_id} {job['status']}")
    failed = [j for j in job_ids if finished[j]["status"] != "completed"]
    if failed:
        raise CliError("; ".join(_failure(j[:12], finished[j]) for j in failed))


@jobs.command("cancel")
@click.argument("job_id")
@click.pass_obj
@_errors
def jobs_cancel(ctx: Context, job_id):
    """Cancel a pending or running job."""
    reply = ctx.client.cancel(job_id)
    click.echo(f"{reply['id']} {reply['status']}")


@jobs.command("delete")
@click.argument("job_id")
@click.pass_obj
@_errors
def jobs_delete(ctx: Context, job_id):
    """Delete a finished job, its transcript and its audio."""
    ctx.client.delete(job_id)
    click.echo(f"{job_id} deleted")


# ---------------------------------------------------------------------------- the rest
@cli.command()
@click.argument("job_id")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="txt", show_default=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (default: print it)",
)
@click.pass_obj
@_errors
def export(ctx: Context, job_id, fmt, out):
    """A completed job's transcript as txt, json, srt or vtt."""
    body = ctx.client.export(job_id, fmt)
    if out is not None:
        out.write_bytes(body)
        ctx.err.print(f"wrote {out}")
    else:
        click.echo(body.decode("utf-8", errors="replace").rstrip("\n"))


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@_errors
def models(ctx: Context, as_json):
    """Models a job can name, and whether each is ready on the server."""
    reply = ctx.client.models()
    if as_json:
        click.echo(json.dumps(reply, indent=2))
        return
    table = Table(box=None, pad_edge=False)
    for col in ("MODEL", "READY", "DEFAULT", "DESCRIPTION"):
        table.add_column(col, no_wrap=col != "DESCRIPTION")
    for m in reply["models"]:
        table.add_row(
            m["id"],
            "yes" if m["ready"] else "no",
            "*" if m.get("default") else "",
            m["description"],
        )
    ctx.out.print(table)


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@_errors
def status(ctx: Context, as_json):
    """The server's services, queue depths and live workers; exit status 1 if degraded."""
    st = ctx.client.status()
    if as_json:
        click.echo(json.dumps(st, indent=2))
    else:
        ctx.out.print(f"server    {ctx.url}  ({st['status']})")
        for name in ("database", "broker", "storage"):
            check = st[name]
            extra = f" [{check['kind']}]" if name == "storage" else ""
            state = "ok" if check["ok"] else f"DOWN: {check.get('error', '')}"
            ctx.out.print(f"{name:<9} {state}{extra}")
        table = Table(box=None, pad_edge=False)
        for col in ("QUEUE", "WAITING", "WORKERS"):
            table.add_column(col)
        for q in st["queues"]:
            depth = "?" if q["depth"] is None else str(q["depth"])
            table.add_row(q["name"], depth, ", ".join(q["workers"]) or "none")
        ctx.out.print()
        ctx.out.print(table)
    if st["status"] != "ok":
        sys.exit(1)


cli.add_command(keys_commands.keys)


def main() -> None:
    """The console script (``dalston``): click's main, with Ctrl-C as a one-line exit."""
    try:
        cli.main(prog_name="dalston")
    except KeyboardInterrupt:
        click.echo("dalston: interrupted", err=True)
        sys.exit(130)
