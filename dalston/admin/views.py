"""``/v1/admin/keys``: create (the key is in this answer only), list, revoke."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from dalston import keys
from dalston.api import db, services
from dalston.errors import ApiError
from dalston.schemas.fields import first_error

bp = Blueprint("admin", __name__, url_prefix="/v1/admin")


class KeyCreateSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(required=True, validate=validate.Length(1, 255))
    #: A list of scopes, or one string of them separated by commas or spaces.
    scopes = fields.Raw(load_default=None)
    tenant = fields.String(load_default=None, allow_none=True)
    rate_limit = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(0))


key_create_schema = KeyCreateSchema()


def _invalid(field: str | None, message: str) -> ApiError:
    return ApiError(422, "validation_error", f"{field}: {message}" if field else message, field)


@bp.post("/keys")
def create_key():
    """Make a key: ``{"name", "scopes"?, "tenant"?, "rate_limit"?}`` → 201 with ``key``."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", 'send a JSON object: {"name": …, "scopes": …}')
    try:
        data = key_create_schema.load(body)
    except ValidationError as exc:
        raise _invalid(*first_error(exc)) from exc
    session = db()
    try:
        row, key = keys.create_key(
            session,
            data["name"],
            data["scopes"],
            data["tenant"],
            rate_limit=data["rate_limit"],
            server_secret=services().settings.key_hash_secret,
        )
    except keys.KeyInputError as exc:
        raise _invalid(None, str(exc)) from exc
    session.commit()
    return jsonify({**keys.describe(row), "key": key}), 201


@bp.get("/keys")
def list_keys():
    """Every key (``?tenant=`` for one tenant's), never their secrets."""
    rows = keys.list_keys(db(), request.args.get("tenant") or None)
    return jsonify({"keys": [keys.describe(r) for r in rows]})


@bp.delete("/keys/<key_id>")
def revoke_key(key_id: str):
    """Revoke a key: every later request with it is 401. Idempotent."""
    session = db()
    row = keys.revoke_key(session, key_id)
    if row is None:
        raise ApiError(404, "key_not_found", f"no API key with id {key_id!r}")
    session.commit()
    return jsonify(keys.describe(row))
