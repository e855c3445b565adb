"""The OpenAPI document, generated from the marshmallow schemas with apispec."""

from __future__ import annotations

import functools

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from dalston import __version__
from dalston.schemas import jobs as s

_ERROR = {
    "description": 'Error: {"error": {"code", "message", "field"?}}',
    "content": {"application/json": {"schema": "Error"}},
}


def _json(schema: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


@functools.lru_cache(maxsize=1)
def build_spec() -> dict:
    spec = APISpec(
        title="Dalston",
        version=__version__,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": "Self-hosted speech-to-text: batch transcription with word timestamps."
        },
    )
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
    from apispec.ext.marshmallow.openapi import OpenAPIConverter

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
                "summary": "A job, its stages and its transcript",
                "parameters": [job_id],
                "responses": {"200": _json("Job", "The job"), "404": _ERROR},
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
    for path, summary in (
        ("/health", "Liveness"),
        ("/v1/system/status", "Database, broker, storage, queues"),
        ("/v1/models", "Models and whether each is ready"),
    ):
        spec.path(
            path,
            operations={"get": {"summary": summary, "responses": {"200": {"description": "OK"}}}},
        )
    return spec.to_dict()
