"""The native API's part of ``/openapi.json``, from its marshmallow schemas (apispec)."""

from __future__ import annotations

from apispec import APISpec
from apispec.ext.marshmallow.openapi import OpenAPIConverter

from dalston.native import schemas as s

_ERROR = {
    "description": 'Error: {"error": {"code", "message", "field"?}}',
    "content": {"application/json": {"schema": "Error"}},
}


def _json(schema: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def describe(spec: APISpec) -> None:
    """Add the native schemas and the ``/v1/audio/transcriptions`` paths to ``spec``."""
    spec.components.schema("Job", schema=s.JobSchema)
    spec.components.schema("JobCreated", schema=s.JobCreatedSchema)
    spec.components.schema("JobList", schema=s.JobListSchema)
    spec.components.schema(
        "Error",
        {
            "type": "object",
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "field": {"type": "string"},
                    },
                }
            },
        },
    )
    form = {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
    converter = OpenAPIConverter("3.0.3", lambda schema: None, spec)
    form["properties"].update(converter.schema2jsonschema(s.JobCreateSchema)["properties"])
    job_id = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
    errors = {str(code): _ERROR for code in (400, 404, 409, 413, 415, 422)}
    spec.path(
        "/v1/audio/transcriptions",
        operations={
            "post": {
                "summary": "Submit a transcription job",
                "requestBody": {"content": {"multipart/form-data": {"schema": form}}},
                "responses": {"201": _json("JobCreated", "The job was queued"), **errors},
            },
            "get": {
                "summary": "List jobs, newest first",
                "parameters": [{"in": "query", "schema": s.JobListQuerySchema}],
                "responses": {"200": _json("JobList", "A page of jobs"), "422": _ERROR},
            },
        },
    )
    spec.path(
        "/v1/audio/transcriptions/{job_id}",
        operations={
            "get": {
                "summary": "A job, its stages and its transcript (wait=S: once it has ended)",
                "parameters": [job_id, {"in": "query", "schema": s.JobGetQuerySchema}],
                "responses": {"200": _json("Job", "The job"), "404": _ERROR, "422": _ERROR},
            },
            "delete": {
                "summary": "Delete a finished job and its stored objects",
                "parameters": [job_id],
                "responses": {"204": {"description": "Deleted"}, "404": _ERROR, "409": _ERROR},
            },
        },
    )
    spec.path(
        "/v1/audio/transcriptions/{job_id}/cancel",
        operations={
            "post": {
                "summary": "Cancel a pending or running job",
                "parameters": [job_id],
                "responses": {"200": {"description": "Cancelled"}, "404": _ERROR, "409": _ERROR},
            }
        },
    )
    spec.path(
        "/v1/audio/transcriptions/{job_id}/export/{format}",
        operations={
            "get": {
                "summary": "The transcript as txt, json, srt or vtt",
                "parameters": [
                    job_id,
                    {
                        "name": "format",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": ["txt", "json", "srt", "vtt"]},
                    },
                    {"name": "max_line_length", "in": "query", "schema": {"type": "integer"}},
                    {"name": "max_lines", "in": "query", "schema": {"type": "integer"}},
                    {"name": "include_speakers", "in": "query", "schema": {"type": "boolean"}},
                ],
                "responses": {
                    "200": {"description": "The rendered transcript"},
                    "404": _ERROR,
                    "409": _ERROR,
                },
            }
        },
    )
    spec.path(
        "/v1/audio/transcriptions/{job_id}/audio",
        operations={
            "get": {
                "summary": "The job's audio (prepared 16 kHz WAV, else the source); Range",
                "parameters": [job_id],
                "responses": {
                    "200": {"description": "The audio", "content": {"audio/wav": {}}},
                    "206": {"description": "The requested byte range"},
                    "404": _ERROR,
                    "410": _json("Error", "purged: removed by the job's retention"),
                },
            }
        },
    )
    spec.components.schema("WebhookDeliveries", schema=s.WebhookDeliveryListSchema)
    spec.path(
        "/v1/audio/transcriptions/{job_id}/webhooks",
        operations={
            "get": {
                "summary": "The job's webhook delivery log: one entry per attempt",
                "parameters": [job_id],
                "responses": {"200": _json("WebhookDeliveries", "The attempts"), "404": _ERROR},
            }
        },
    )
