"""API keys and single-use tokens: who a caller is, found from what it presents.

**Keys.** A key reads ``dsk_<id>_<secret>``: the recognisable prefix lets secret scanners
and people tell a Dalston key at sight, ``<id>`` (12 hex digits) is the key's public id and
its row's primary key, ``<secret>`` 256 random bits. The database keeps the id and
HMAC-SHA256(salt [+ ``DALSTON_KEY_HASH_SECRET``], secret) with a per-key salt, never the key:
the plaintext is shown once, by whoever creates it (``dalston keys create`` or
``POST /v1/admin/keys``). A presented key is looked up by its id and its HMAC compared in
constant time (:func:`hmac.compare_digest`). The secret is random, not a password, so a fast
keyed hash is enough; a slow password hash would only cost every request.

**Tenants.** A key belongs to a tenant (a short name; ``default`` unless given). A key with
the ``admin`` scope sees every tenant (its identity's ``tenant`` is ``None``); any other key
sees its own tenant's data only.

**Single-use tokens** (``POST /v1/single-use-token/{type}``, ``POST /v1/realtime/tokens``):
a short-lived ``dst_…`` string carrying the identity of the key that asked for it, limited
to one use (``realtime``: a WebSocket handshake; ``batch``: one ElevenLabs batch request),
kept in Redis with a TTL under the SHA-256 of the token and consumed atomically (``GETDEL``),
so a token opens one session, once, even with two API processes racing for it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dalston.db.models import ApiKey, utcnow

PREFIX = "dsk_"
TOKEN_PREFIX = "dst_"
#: The scopes a key may hold; ``admin`` implies every other one.
SCOPES = ("jobs:read", "jobs:write", "realtime", "webhooks", "admin")
#: What a new key gets when its creator names no scopes.
DEFAULT_SCOPES = ("jobs:read", "jobs:write", "realtime")
DEFAULT_TENANT = "default"
TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KEY_RE = re.compile(r"^dsk_([0-9a-f]{12})_([A-Za-z0-9_-]{20,128})$")
#: What each kind of token may be used for, by the scope it needs.
TOKEN_USES = {"realtime": "realtime", "batch": "jobs:write"}


class KeyInputError(ValueError):
    """Bad input to key creation (unknown scope, malformed tenant): the message says which."""


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who is calling: what the auth hook puts on ``flask.g``.

    ``tenant`` is ``None`` when the caller sees every tenant (an admin key, or an open server's
    anonymous caller); ``key_id`` is ``None`` for an anonymous caller, ``"bootstrap"`` for
    ``DALSTON_API_KEY``.
    """

    key_id: str | None
    tenant: str | None
    scopes: frozenset[str]
    rate_limit: int | None = None

    @property
    def admin(self) -> bool:
        return "admin" in self.scopes

    @property
    def limited(self) -> bool:
        """Whether the per-key limits apply: to tenant keys and their tokens (admin keys,
        which see every tenant, are the operators')."""
        return self.key_id is not None and self.tenant is not None

    def allows(self, scope: str) -> bool:
        return self.admin or scope in self.scopes

    def to_json(self) -> str:
        return json.dumps(
            {
                "key_id": self.key_id,
                "tenant": self.tenant,
                "scopes": sorted(self.scopes),
                "rate_limit": self.rate_limit,
            }
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> "Identity":
        data = json.loads(raw)
        return cls(data["key_id"], data["tenant"], frozenset(data["scopes"]), data["rate_limit"])


#: The caller of a server that runs open (no key required, none presented).
ANONYMOUS = Identity(None, None, frozenset(SCOPES))
#: The holder of ``DALSTON_API_KEY``: an admin key that lives in the environment.
BOOTSTRAP = Identity("bootstrap", None, frozenset(SCOPES))


def identity_of(key: ApiKey) -> Identity:
    scopes = frozenset(key.scopes or ())
    return Identity(key.id, None if "admin" in scopes else key.tenant_id, scopes, key.rate_limit)


def looks_like_key(value: str) -> bool:
    """Whether ``value`` claims to be a Dalston key (or token): such a claim is always checked."""
    return value.startswith((PREFIX, TOKEN_PREFIX))


def _digest(salt: str, secret: str, server_secret: str | None) -> str:
    key = bytes.fromhex(salt) + (server_secret or "").encode()
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


def parse_scopes(scopes) -> list[str]:
    """Scopes from a list or a comma/space separated string (none: :data:`DEFAULT_SCOPES`).

    Raises:
        KeyInputError: an unknown scope.
    """
    if isinstance(scopes, str):
        scopes = re.split(r"[\s,]+", scopes.strip())
    chosen = [s for s in dict.fromkeys(scopes or ()) if s]
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown:
        raise KeyInputError(f"unknown scope {unknown[0]!r}; choose from {', '.join(SCOPES)}")
    return chosen or list(DEFAULT_SCOPES)


def create_key(
    session: Session,
    name: str,
    scopes=None,
    tenant: str | None = None,
    *,
    rate_limit: int | None = None,
    server_secret: str | None = None,
) -> tuple[ApiKey, str]:
    """Make a key (committed by the caller); returns its row and the key, the only time it exists.

    Raises:
        KeyInputError: an unknown scope, an empty name or a malformed tenant.
    """
    name = (name or "").strip()
    if not name or len(name) > 255:
        raise KeyInputError("a key needs a name (1 to 255 characters)")
    tenant = (tenant or DEFAULT_TENANT).strip()
    if not TENANT_RE.match(tenant):
        raise KeyInputError(
            f"tenant {tenant!r}: use 1 to 64 letters, digits, '.', '_' or '-' (no leading symbol)"
        )
    if rate_limit is not None and rate_limit < 0:
        raise KeyInputError("rate_limit is a number of requests per minute (0: no limit)")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    row = ApiKey(
        id=key_id,
        name=name,
        tenant_id=tenant,
        scopes=parse_scopes(scopes),
        salt=salt,
        secret_hash=_digest(salt, secret, server_secret),
        rate_limit=rate_limit,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row, f"{PREFIX}{key_id}_{secret}"


def verify(session: Session, presented: str, server_secret: str | None) -> Identity | None:
    """The identity of a presented ``dsk_`` key; ``None`` if it is malformed, unknown or revoked."""
    match = _KEY_RE.match(presented)
    if match is None:
        return None
    key_id, secret = match.groups()
    row = session.get(ApiKey, key_id)
    if row is None:
        # Spend the same HMAC as for a real key: the answer's timing tells nothing.
        hmac.compare_digest(_digest("00" * 16, secret, server_secret), "0" * 64)
        return None
    good = hmac.compare_digest(_digest(row.salt, secret, server_secret), row.secret_hash)
    if not good or row.revoked_at is not None:
        return None
    return identity_of(row)


def list_keys(session: Session, tenant: str | None = None) -> list[ApiKey]:
    query = sa.select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if tenant is not None:
        query = query.where(ApiKey.tenant_id == tenant)
    return list(session.scalars(query))


def revoke_key(session: Session, key_id: str) -> ApiKey | None:
    """Revoke a key (idempotent); ``None`` if there is no such key. Committed by the caller."""
    row = session.get(ApiKey, key_id.removeprefix(PREFIX).split("_", 1)[0])
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    return row


def describe(row: ApiKey) -> dict:
    """A key as listings show it (never its secret or hash)."""

    def iso(value: dt.datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": row.id,
        "prefix": f"{PREFIX}{row.id}_",
        "name": row.name,
        "tenant": row.tenant_id,
        "scopes": list(row.scopes or ()),
        "rate_limit": row.rate_limit,
        "created_at": iso(row.created_at),
        "revoked_at": iso(row.revoked_at),
        "active": row.revoked_at is None,
    }


# ---------------------------------------------------------------------------- tokens
def _token_key(token: str) -> str:
    return "dalston:token:" + hashlib.sha256(token.encode()).hexdigest()


def issue_token(store, identity: Identity, use: str, ttl: int) -> str:
    """A single-use token for ``use`` (``TOKEN_USES``), valid ``ttl`` seconds, as ``identity``.

    The token carries only the scope its use needs, whatever else the key holds.
    """
    scope = TOKEN_USES[use]
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    carried = Identity(identity.key_id, identity.tenant, frozenset({scope}), identity.rate_limit)
    # Admin-ness is not carried (the scope set is narrowed), but its tenant-less view is.
    store.put(_token_key(token), json.dumps({"use": use, "identity": carried.to_json()}), ttl)
    return token


def redeem_token(store, token: str, use: str) -> Identity | None:
    """The identity a token carries, if it is live and for ``use``; it is gone afterwards."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    raw = store.take(_token_key(token))
    if raw is None:
        return None
    data = json.loads(raw)
    if data["use"] != use:
        return None
    return Identity.from_json(data["identity"])
