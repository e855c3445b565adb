"""``dalston keys create|list|revoke``: API keys, straight in the database.

The first key cannot be made over an API that wants one, so these commands talk to the
database the server uses (``DALSTON_DATABASE_URL``; embedded mode's SQLite file by default),
not to a server — the one exception to the client's HTTP-only rule (``setup.cfg``'s
layering contract names it). ``POST /v1/admin/keys`` does the same over HTTP.

``create`` prints the new key alone on the last line of standard output (scripts read it
from there, e.g. ``KEY=$(dalston keys create --name ci | tail -n1)``); it is shown once:
the database keeps an HMAC of it only.
"""

from __future__ import annotations

import contextlib
import json

import click

from dalston.config import Settings

SCOPES_HELP = "jobs:read, jobs:write, realtime, webhooks, admin"


class KeysError(click.ClickException):
    def show(self, file=None) -> None:
        click.echo(f"dalston: error: {self.format_message()}", err=True)


@contextlib.contextmanager
def _session():
    """A session on the server's database (SQLite: migrated first, as embedded mode does)."""
    import sqlalchemy.exc

    from dalston.db.migrate import upgrade
    from dalston.db.session import session_scope

    settings = Settings.from_env()
    url = settings.database_url
    try:
        if url.startswith("sqlite"):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            upgrade(url)
        with session_scope(url) as session:
            yield session, settings
    except sqlalchemy.exc.SQLAlchemyError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise KeysError(f"the database ({url.split('@')[-1]}) refused: {first}") from exc


@click.group()
def keys():
    """API keys, in the server's database (DALSTON_DATABASE_URL)."""


@keys.command("create")
@click.option("--name", required=True, help="What the key is for (shown in listings)")
@click.option(
    "--scopes",
    default=None,
    help=f"Comma-separated: {SCOPES_HELP} [default: jobs:read,jobs:write,realtime]",
)
@click.option("--tenant", default=None, help="The tenant whose data it sees [default: default]")
@click.option(
    "--rate-limit",
    type=click.IntRange(0),
    default=None,
    help="Requests per minute [default: DALSTON_RATE_LIMIT]",
)
def create(name, scopes, tenant, rate_limit):
    """Make a key; it is printed once, alone on the last line of stdout."""
    from dalston import keys as api_keys

    with _session() as (session, settings):
        try:
            row, key = api_keys.create_key(
                session,
                name,
                scopes,
                tenant,
                rate_limit=rate_limit,
                server_secret=settings.key_hash_secret,
            )
        except api_keys.KeyInputError as exc:
            raise KeysError(str(exc)) from exc
        info = api_keys.describe(row)
    click.echo(
        f"created key {info['id']} ({info['name']}) for tenant {info['tenant']}, scopes "
        f"{','.join(info['scopes'])}; it is shown once, here:",
        err=True,
    )
    click.echo(key)


@keys.command("list")
@click.option("--tenant", default=None, help="Only this tenant's keys")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table")
def list_(tenant, as_json):
    """Every key (never a secret)."""
    from dalston import keys as api_keys

    with _session() as (session, _settings):
        rows = [api_keys.describe(r) for r in api_keys.list_keys(session, tenant)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    header = ("ID", "NAME", "TENANT", "SCOPES", "CREATED", "STATUS")
    lines = [header] + [
        (
            r["id"],
            r["name"],
            r["tenant"],
            ",".join(r["scopes"]),
            (r["created_at"] or "")[:19],
            "active" if r["active"] else f"revoked {(r['revoked_at'] or '')[:19]}",
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip())


@keys.command("revoke")
@click.argument("key_id")
def revoke(key_id):
    """Revoke a key (its id, or the key itself): every later request with it is 401."""
    from dalston import keys as api_keys

    with _session() as (session, _settings):
        row = api_keys.revoke_key(session, key_id)
        if row is None:
            raise KeysError(f"no API key with id {key_id!r} (dalston keys list shows them)")
        click.echo(f"revoked key {row.id} ({row.name})")
