"""Native API schemas: ``<Thing><Direction>Schema`` classes and module-level instances.

They validate the native requests (a 422 naming the field, see
``dalston.api.requests.load_or_422``), shape its answers, and are the source of the native
part of ``/openapi.json``.
"""

from __future__ import annotations

import json

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates,
    validates_schema,
)

from dalston import languages

GRANULARITIES = ("none", "segment", "word", "character")
SPEAKER_DETECTION = ("none", "diarize", "per_channel")
JOB_STATUSES = ("pending", "running", "completed", "failed", "cancelled")


class VocabularyField(fields.Field):
    """A JSON array of strings, or a comma-separated list (form fields cannot carry arrays)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, list):
            terms = value
        elif isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    terms = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ValidationError(f"not valid JSON: {exc.msg}") from exc
            else:
                terms = [t for t in text.split(",")]
        else:
            raise ValidationError("must be a JSON array of strings")
        if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
            raise ValidationError("must be a JSON array of strings")
        terms = [t.strip() for t in terms if t.strip()]
        if len(terms) > 100:
            raise ValidationError("at most 100 terms")
        if any(len(t) > 50 for t in terms):
            raise ValidationError("each term is at most 50 characters")
        return terms


class JobCreateSchema(Schema):
    """Form fields of ``POST /v1/audio/transcriptions`` (the file itself is read separately)."""

    class Meta:
        unknown = EXCLUDE

    audio_url = fields.Url(
        schemes={"http", "https"},
        require_tld=False,
        load_default=None,
        metadata={"description": "Fetch the audio from this http(s) URL instead of a file"},
    )
    model = fields.String(
        load_default=None,
        validate=validate.Length(1, 255),
        metadata={"description": "Model name (see GET /v1/models); server default if absent"},
    )
    language = fields.String(
        load_default=None, metadata={"description": "ISO 639-1 code, or absent/'auto' to detect"}
    )
    timestamps_granularity = fields.String(
        load_default="word",
        validate=validate.OneOf(GRANULARITIES),
        metadata={
            "description": "word: aligned word times (each word's characters share it "
            "evenly); character: also each character timed from the aligner's phones "
            "(alignment costs about twice as much); segment or none: segment times only"
        },
    )
    speaker_detection = fields.String(
        load_default="none", validate=validate.OneOf(SPEAKER_DETECTION)
    )
    diarize_engine = fields.String(
        load_default=None,
        validate=validate.Length(1, 64),
        metadata={
            "description": "Diarization engine: neural (default), dvector, or pyannote (GPU hosts)"
        },
    )
    align_engine = fields.String(
        load_default=None,
        validate=validate.Length(1, 64),
        metadata={
            "description": "Word-timing engine: pocketsphinx (default; English forced "
            "alignment), whisper (keep Whisper's word times) or whisperx (wav2vec2; GPU hosts)"
        },
    )
    transcribe_engine = fields.String(
        load_default="faster_whisper",
        validate=validate.Length(1, 64),
        metadata={
            "description": "faster_whisper (default; chunked pipeline) or whisperx-full "
            "(whisperX transcribes, aligns and diarizes in one task; GPU hosts)"
        },
    )
    num_speakers = fields.Integer(load_default=None, validate=validate.Range(1, 32))
    min_speakers = fields.Integer(load_default=None, validate=validate.Range(1, 32))
    max_speakers = fields.Integer(load_default=None, validate=validate.Range(1, 32))
    vocabulary = VocabularyField(
        load_default=None,
        metadata={"description": "Terms to favour (hotwords): JSON array or comma list"},
    )
    prompt = fields.String(load_default=None, validate=validate.Length(max=2000))
    temperature = fields.Float(load_default=None, validate=validate.Range(0.0, 1.0))
    beam_size = fields.Integer(load_default=5, validate=validate.Range(1, 10))
    webhook_url = fields.Url(
        schemes={"http", "https"},
        require_tld=False,
        load_default=None,
        validate=validate.Length(max=2000),
        metadata={
            "description": "POST transcription.completed|failed|cancelled here, signed the "
            "Standard Webhooks way with the webhook_secret the 201 answer shows once"
        },
    )
    retention = fields.Integer(
        load_default=None,
        validate=validate.Range(-1, 36500),
        metadata={
            "description": "Days to keep the audio and artifacts once the job ends: 0 = "
            "delete them at once, -1 = keep; default DALSTON_RETENTION_DAYS. The transcript "
            "stays until the job is deleted"
        },
    )

    @validates("language")
    def _language(self, value, **_kwargs):
        if value is None or value.lower() == "auto":
            return
        if value.lower() not in languages.WHISPER_CODES:
            raise ValidationError(
                f"unknown language code {value!r}; use an ISO 639-1 code such as 'en'"
            )

    @validates_schema
    def _speakers(self, data, **_kwargs):
        lo, hi = data.get("min_speakers"), data.get("max_speakers")
        if lo is not None and hi is not None and lo > hi:
            raise ValidationError("min_speakers must not exceed max_speakers", "min_speakers")
        n = data.get("num_speakers")
        if n is not None and ((lo is not None and n < lo) or (hi is not None and n > hi)):
            raise ValidationError(
                "num_speakers must lie between min_speakers and max_speakers", "num_speakers"
            )


class CharacterSchema(Schema):
    text = fields.String()
    start = fields.Float()
    end = fields.Float()


class WordSchema(Schema):
    text = fields.String()
    start = fields.Float()
    end = fields.Float()
    type = fields.String(metadata={"description": "word, or audio_event (e.g. [Music])"})
    confidence = fields.Float(allow_none=True, metadata={"description": "Word probability"})
    logprob = fields.Float(allow_none=True, metadata={"description": "ln(confidence)"})
    characters = fields.List(
        fields.Nested(CharacterSchema),
        metadata={"description": "Per-character times, from the aligner's phone alignment"},
    )
    speaker = fields.String(allow_none=True)
    channel = fields.Integer(
        allow_none=True, metadata={"description": "Original channel (per_channel jobs)"}
    )
    timing = fields.String(
        metadata={
            "description": "How the times were found: whisper, forced_alignment, wav2vec2, "
            "interpolated"
        }
    )


class SegmentSchema(Schema):
    id = fields.Integer()
    start = fields.Float()
    end = fields.Float()
    text = fields.String()
    type = fields.String(metadata={"description": "speech, or audio_event"})
    avg_logprob = fields.Float(allow_none=True)
    no_speech_prob = fields.Float(allow_none=True)
    compression_ratio = fields.Float(allow_none=True)
    temperature = fields.Float(allow_none=True)
    speaker = fields.String(allow_none=True)
    channel = fields.Integer(
        allow_none=True, metadata={"description": "Original channel (per_channel jobs)"}
    )
    language = fields.String(
        allow_none=True, metadata={"description": "ISO 639-1 code of this segment's language"}
    )
    words = fields.List(fields.Nested(WordSchema))


class StageSchema(Schema):
    stage = fields.String()
    part = fields.Integer(metadata={"description": "Chunk index for transcribe; 0 otherwise"})
    status = fields.String()
    started_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    duration_ms = fields.Integer(allow_none=True)
    worker = fields.String(allow_none=True)
    attempts = fields.Integer()
    progress = fields.Float()
    error = fields.String(allow_none=True)


class ErrorDetailSchema(Schema):
    code = fields.String()
    message = fields.String()


class JobCreatedSchema(Schema):
    id = fields.String()
    status = fields.String(validate=validate.OneOf(JOB_STATUSES))
    created_at = fields.DateTime()


class JobCreatedWithWebhookSchema(JobCreatedSchema):
    webhook_secret = fields.String(
        metadata={"description": "Signs this job's webhook_url deliveries; shown only here"}
    )


class WebhookDeliverySchema(Schema):
    id = fields.Integer()
    message_id = fields.String(metadata={"description": "webhook-id: the same for each attempt"})
    event = fields.String()
    endpoint_id = fields.String(allow_none=True)
    url = fields.String()
    attempt = fields.Integer()
    outcome = fields.String(
        metadata={"description": "delivered, retrying, failed (given up) or refused (address)"}
    )
    status_code = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    duration_ms = fields.Integer(allow_none=True)
    next_retry_at = fields.String(allow_none=True)
    created_at = fields.String()


class WebhookDeliveryListSchema(Schema):
    deliveries = fields.List(fields.Nested(WebhookDeliverySchema))


class JobSchema(JobCreatedSchema):
    error = fields.Nested(ErrorDetailSchema, allow_none=True)
    progress = fields.Integer(metadata={"description": "0–100, from the stages' real progress"})
    current_stage = fields.String(allow_none=True)
    stages = fields.List(fields.Nested(StageSchema))
    started_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    audio_duration_seconds = fields.Float(allow_none=True)
    model = fields.String()
    language_code = fields.String(allow_none=True)
    languages = fields.List(
        fields.Dict(),
        metadata={"description": "Every language found, [{language, share}], most spoken first"},
    )
    text = fields.String(allow_none=True)
    segments = fields.List(fields.Nested(SegmentSchema))
    words = fields.List(fields.Nested(WordSchema))
    speakers = fields.List(fields.Dict())
    warnings = fields.List(fields.String())
    options = fields.Dict(metadata={"description": "The request's options, as validated"})
    retention = fields.Integer(
        allow_none=True, metadata={"description": "Days its audio is kept (-1: kept)"}
    )
    purge_after = fields.DateTime(
        allow_none=True,
        metadata={"description": "When its audio and artifacts are removed"},
    )
    purged_at = fields.DateTime(
        allow_none=True,
        metadata={"description": "When they were removed (the audio then answers 410)"},
    )


class JobSummarySchema(JobCreatedSchema):
    model = fields.String()
    started_at = fields.DateTime(
        allow_none=True, metadata={"description": "With completed_at: the real-time factor"}
    )
    completed_at = fields.DateTime(allow_none=True)
    audio_duration_seconds = fields.Float(allow_none=True)
    error = fields.Nested(ErrorDetailSchema, allow_none=True)


class JobListQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    cursor = fields.String(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(JOB_STATUSES))


#: The longest a long poll (``GET /v1/audio/transcriptions/{id}?wait=S``) holds a request.
MAX_WAIT_SECONDS = 60.0


class JobGetQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    wait = fields.Float(
        load_default=0.0,
        validate=validate.Range(0.0, MAX_WAIT_SECONDS),
        metadata={
            "description": "Long poll: answer once the job has ended (completed, failed or "
            f"cancelled) or after this many seconds, whichever is first (at most "
            f"{MAX_WAIT_SECONDS:.0f}); 0 answers at once"
        },
    )


class JobListSchema(Schema):
    jobs = fields.List(fields.Nested(JobSummarySchema))
    cursor = fields.String(
        allow_none=True, metadata={"description": "Pass back to get the next page"}
    )
    has_more = fields.Boolean()


job_create_schema = JobCreateSchema()
job_schema = JobSchema()
job_created_schema = JobCreatedSchema()
job_list_query_schema = JobListQuerySchema()
job_get_query_schema = JobGetQuerySchema()
job_list_schema = JobListSchema()
job_created_with_webhook_schema = JobCreatedWithWebhookSchema()
webhook_delivery_list_schema = WebhookDeliveryListSchema()
