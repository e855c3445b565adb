"""``/v1/webhooks``: a tenant's registered webhook endpoints (native error shape).

* ``POST /v1/webhooks`` ``{"url", "events"?, "description"?}`` → ``201`` with ``secret``
  (``whsec_…``), shown only here and by ``rotate-secret``;
* ``GET /v1/webhooks``, ``GET /v1/webhooks/{id}`` — without the secret;
* ``PATCH /v1/webhooks/{id}`` ``{"url"?, "events"?, "description"?, "enabled"?}``;
* ``DELETE /v1/webhooks/{id}`` → ``204`` (its delivery log stays with the jobs);
* ``POST /v1/webhooks/{id}/rotate-secret`` → the new secret; deliveries carry both
  signatures for 24 hours, so receivers can switch without losing an event.

An endpoint belongs to the caller's tenant; another tenant's id answers ``404`` like an
unknown one. URLs pass the private-address guard here and again at every delivery.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from marshmallow import Schema, fields, validate

from dalston.api import db, services
from dalston.api.requests import load_or_422
from dalston.errors import ApiError
from dalston.webhooks import events, guard, store

bp = Blueprint("webhooks", __name__, url_prefix="/v1/webhooks")


class WebhookCreateSchema(Schema):
    url = fields.Url(
        required=True,
        schemes={"http", "https"},
        require_tld=False,
        validate=validate.Length(max=2000),
    )
    events = fields.List(
        fields.String(validate=validate.OneOf(events.EVENTS)),
        load_default=None,
        validate=validate.Length(min=1),
    )
    description = fields.String(load_default=None, validate=validate.Length(max=255))


class WebhookUpdateSchema(Schema):
    url = fields.Url(
        schemes={"http", "https"}, require_tld=False, validate=validate.Length(max=2000)
    )
    events = fields.List(
        fields.String(validate=validate.OneOf(events.EVENTS)),
        validate=validate.Length(min=1),
    )
    description = fields.String(allow_none=True, validate=validate.Length(max=255))
    enabled = fields.Boolean()


class WebhookSchema(Schema):
    id = fields.String()
    url = fields.String()
    events = fields.List(fields.String())
    description = fields.String(allow_none=True)
    enabled = fields.Boolean()
    created_at = fields.String()
    updated_at = fields.String()


class WebhookWithSecretSchema(WebhookSchema):
    secret = fields.String(metadata={"description": "whsec_…: shown once"})


create_schema = WebhookCreateSchema()
update_schema = WebhookUpdateSchema()
webhook_schema = WebhookSchema()
webhook_with_secret_schema = WebhookWithSecretSchema()


def _load(schema, data) -> dict:
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return load_or_422(schema, data)


def _check(url: str) -> None:
    settings = services().settings
    try:
        guard.check(
            url,
            allow_private=settings.allow_private_urls,
            allow_hosts=settings.webhook_allow_hosts,
            name="url",
        )
    except guard.Refused as exc:
        raise ApiError(400, "url_not_allowed", str(exc), "url") from exc


def _endpoint_or_404(endpoint_id: str):
    endpoint = store.get_endpoint(db(), endpoint_id, store.request_tenant())
    if endpoint is None:
        raise ApiError(404, "webhook_not_found", f"no webhook endpoint with id {endpoint_id!r}")
    return endpoint


@bp.post("")
def create():
    data = _load(create_schema, request.get_json(silent=True))
    _check(data["url"])
    endpoint = store.create_endpoint(
        db(),
        url=data["url"],
        tenant_id=store.request_tenant(),
        events_=data["events"],
        description=data["description"],
    )
    db().commit()
    view = store.endpoint_view(endpoint, with_secret=True)
    return jsonify(webhook_with_secret_schema.dump(view)), 201


@bp.get("")
def list_endpoints():
    endpoints = store.list_endpoints(db(), store.request_tenant())
    return jsonify({"webhooks": [webhook_schema.dump(store.endpoint_view(e)) for e in endpoints]})


@bp.get("/<endpoint_id>")
def get(endpoint_id: str):
    return jsonify(webhook_schema.dump(store.endpoint_view(_endpoint_or_404(endpoint_id))))


@bp.patch("/<endpoint_id>")
def update(endpoint_id: str):
    endpoint = _endpoint_or_404(endpoint_id)
    data = _load(update_schema, request.get_json(silent=True))
    if "url" in data:
        _check(data["url"])
    for name, value in data.items():
        setattr(endpoint, name, value)
    db().commit()
    return jsonify(webhook_schema.dump(store.endpoint_view(endpoint)))


@bp.delete("/<endpoint_id>")
def delete(endpoint_id: str):
    db().delete(_endpoint_or_404(endpoint_id))
    db().commit()
    return Response(status=204)


@bp.post("/<endpoint_id>/rotate-secret")
def rotate_secret(endpoint_id: str):
    endpoint = _endpoint_or_404(endpoint_id)
    store.rotate_secret(endpoint)
    db().commit()
    return jsonify(webhook_with_secret_schema.dump(store.endpoint_view(endpoint, with_secret=True)))


def describe(spec) -> None:
    """The ``/v1/webhooks`` part of ``/openapi.json``."""
    spec.components.schema("Webhook", schema=WebhookSchema)
    spec.components.schema("WebhookWithSecret", schema=WebhookWithSecretSchema)
    spec.components.schema("WebhookCreate", schema=WebhookCreateSchema)
    spec.components.schema("WebhookUpdate", schema=WebhookUpdateSchema)

    def body(name: str) -> dict:
        return {"content": {"application/json": {"schema": name}}}

    def answer(name: str, description: str) -> dict:
        return {"description": description, **body(name)}

    error = answer("Error", 'Error: {"error": {"code", "message", "field"?}}')
    endpoint_id = {
        "name": "endpoint_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    spec.path(
        "/v1/webhooks",
        operations={
            "post": {
                "summary": "Register a webhook endpoint (its secret is shown only here)",
                "requestBody": body("WebhookCreate"),
                "responses": {
                    "201": answer("WebhookWithSecret", "Created"),
                    "400": error,
                    "422": error,
                },
            },
            "get": {
                "summary": "The caller's webhook endpoints",
                "responses": {"200": {"description": "{webhooks: [Webhook]}"}},
            },
        },
    )
    spec.path(
        "/v1/webhooks/{endpoint_id}",
        operations={
            "get": {
                "summary": "One endpoint",
                "parameters": [endpoint_id],
                "responses": {"200": answer("Webhook", "The endpoint"), "404": error},
            },
            "patch": {
                "summary": "Change its URL, events, description or enabled",
                "parameters": [endpoint_id],
                "requestBody": body("WebhookUpdate"),
                "responses": {
                    "200": answer("Webhook", "Updated"),
                    "400": error,
                    "404": error,
                    "422": error,
                },
            },
            "delete": {
                "summary": "Delete it",
                "parameters": [endpoint_id],
                "responses": {"204": {"description": "Deleted"}, "404": error},
            },
        },
    )
    spec.path(
        "/v1/webhooks/{endpoint_id}/rotate-secret",
        operations={
            "post": {
                "summary": "A new secret; the old one keeps signing for 24 hours",
                "parameters": [endpoint_id],
                "responses": {"200": answer("WebhookWithSecret", "The new secret"), "404": error},
            }
        },
    )
