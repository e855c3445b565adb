"""Settings: the single reader of ``DALSTON_*`` environment variables.

Every other module receives a :class:`Settings` (or reads ``get_settings()``) instead of
reading the environment itself, so the README's variable table has one source of truth.
Embedded mode is what you get when no server is configured: SQLite and a local artifact
directory under ``DALSTON_DATA_DIR``. Distributed mode is chosen by environment alone:
``DALSTON_DATABASE_URL`` (PostgreSQL), ``DALSTON_BROKER_URL`` (Redis) and
``DALSTON_S3_BUCKET``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from typing import Mapping

REDIS_DEFAULT = "redis://127.0.0.1:6379/0"


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _time_limits(value: str) -> tuple[tuple[str, float, float], ...]:
    """``DALSTON_STAGE_TIME_LIMITS="transcribe=3600/3900,merge=60/90"``: soft/hard seconds."""
    out = []
    for item in value.split(","):
        if not item.strip():
            continue
        stage, _, limits = item.partition("=")
        soft, _, hard = limits.partition("/")
        soft_s = float(soft)
        out.append((stage.strip(), soft_s, float(hard) if hard else soft_s * 1.1 + 30))
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Runtime settings. Field docs double as the README's environment table."""

    data_dir: Path
    database_url: str
    storage_dir: Path
    s3_bucket: str | None
    s3_endpoint_url: str | None
    s3_region: str | None
    default_model: str
    model_dir: Path
    compute_type: str
    device: str
    cpu_threads: int
    batch_size: int
    max_upload_bytes: int
    allow_private_urls: bool
    url_fetch_timeout: float
    chunk_seconds: float
    max_stage_attempts: int
    api_host: str
    api_port: int
    sync_timeout: float
    openai_sync_timeout: float
    webhook_url: str | None
    webhook_secret: str | None
    elevenlabs_models: str
    api_key: str | None
    # Celery (read by celeryconfig.py)
    broker_url: str
    result_backend: str
    visibility_timeout: int
    restore_interval: int
    restore_throttle: int
    task_events: bool
    # Workers
    log_level: str
    worker_args: str
    # Engines: the worker's defaults when a request names none, and where weights are
    transcribe_engine: str
    align_engine: str
    diarize_engine: str
    engine_plugins: tuple[str, ...]
    hf_hub_offline: bool
    hf_token: str | None
    pyannote_pipeline: str | None
    whisperx_align_model: str | None
    # The ``dalston`` command-line client (dalston/cli): which server it talks to, and the
    # file that can name it instead (flags win, then these, then the file). Its key is
    # ``api_key``: the client sends the key the server checks.
    server_url: str | None
    client_config: Path
    # The web console's link to the Celery dashboard (default: this host, port 5555).
    flower_url: str | None
    # Realtime (dalston.realtime at the API, dalston.streaming in the realtime worker)
    realtime_url: str  # the relay: a Redis URL, or memory:// (embedded mode, one process)
    realtime_model: str
    realtime_capacity: int  # sessions one realtime worker serves at once
    realtime_session_limit: int  # sessions at once over all workers (0: no limit)
    realtime_heartbeat_interval: float
    realtime_heartbeat_timeout: float  # a worker silent this long is dead; its slots free
    realtime_lag_warning: float  # seconds of audio received but not yet processed
    realtime_lag_hard: float
    realtime_idle_timeout: float  # seconds without a client frame before the session ends
    realtime_max_frame_bytes: int
    realtime_window_seconds: float
    realtime_partial_interval: float
    realtime_max_utterance_seconds: float
    realtime_manual_commit_seconds: float  # ElevenLabs: a manual session commits after 90 s
    realtime_beam_size: int
    # API keys, tenants and limits (dalston.auth, dalston.keys, dalston.limits; issue 10)
    require_auth: bool | None  # None: by mode (distributed: required; embedded on loopback: open)
    key_hash_secret: str | None  # mixed into every key's HMAC: a database dump alone checks none
    limits_url: str  # Redis shared by every API process (memory:// in embedded mode)
    rate_limit: int  # requests per minute per tenant key (0: no limit)
    max_concurrent_jobs: int  # unfinished jobs per tenant (0: no limit)
    realtime_sessions_per_key: int  # open realtime sessions per tenant key (0: no limit)
    max_queued_jobs: int  # jobs waiting for a worker, over all tenants (0: no limit)
    token_ttl: int  # seconds a single-use token lives (ElevenLabs: 15 minutes)
    # Webhooks, retention and observability (issue 10: dalston/webhooks, dalston/retention.py,
    # dalston/metrics, dalston/logging_setup.py)
    webhook_max_attempts: int  # deliveries of one event, the first included
    webhook_retry_base: float  # seconds before the 2nd attempt; doubled for each next one
    webhook_retry_max: float  # the longest wait between two attempts
    webhook_timeout: float  # seconds a receiver has to answer one attempt
    webhook_allow_hosts: tuple[str, ...]  # host names exempt from the private-address guard
    retention_days: int  # a job's default retention: -1 keep, 0 purge at once, N days
    retention_interval: float  # seconds between two purges of due jobs (beat, embedded)
    metrics_dir: str | None  # PROMETHEUS_MULTIPROC_DIR: metrics shared by processes
    log_format: str  # text or json
    worker_metrics_port: int  # a worker serves /metrics here (0: it does not)
    # Reliability (dalston.pipeline.reconcile, dalston.task_base, dalston.faults, dalston.audio)
    # the longest audio a job may have: refused at the edge from the container's metadata
    # (413 audio_too_long), and prepare stops decoding there whatever the header said
    max_audio_seconds: float = 36000.0  # ElevenLabs' limit: 10 hours
    db_retry_deadline: float = 900.0  # how long a stage task waits out a database outage
    reconcile_interval: float = 60.0  # seconds between reconciler passes (celery beat)
    reconcile_grace: float = 120.0  # a lost message must stay lost this long to be resent
    stage_time_limits: tuple[tuple[str, float, float], ...] = ()  # (stage, soft, hard) overrides
    fault_point: str | None = None  # tests only: os._exit(137) at this named point
    # Realtime sessions (dalston.realtime.retention): keep each session's audio and transcript
    realtime_retention: bool = True
    realtime_partial_duty: float = 2.0  # partials wait this many times the last decode's time

    @property
    def uses_s3(self) -> bool:
        return bool(self.s3_bucket)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        overrides: Mapping[str, str] | None = None,
    ) -> "Settings":
        """Settings from ``env`` (default: the process environment), ``overrides`` winning."""
        env = {**(os.environ if env is None else env), **(overrides or {})}
        data_dir = Path(env.get("DALSTON_DATA_DIR", ".dalston")).expanduser().absolute()
        return cls(
            data_dir=data_dir,
            database_url=env.get("DALSTON_DATABASE_URL") or f"sqlite:///{data_dir / 'dalston.db'}",
            storage_dir=Path(env.get("DALSTON_STORAGE_DIR") or data_dir / "artifacts").absolute(),
            s3_bucket=env.get("DALSTON_S3_BUCKET") or None,
            s3_endpoint_url=env.get("DALSTON_S3_ENDPOINT_URL") or None,
            s3_region=env.get("DALSTON_S3_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            default_model=env.get("DALSTON_DEFAULT_MODEL", "base"),
            model_dir=Path(env.get("DALSTON_MODEL_DIR") or data_dir / "models").absolute(),
            compute_type=env.get("DALSTON_COMPUTE_TYPE", "int8"),
            device=env.get("DALSTON_DEVICE", "cpu"),
            cpu_threads=int(env.get("DALSTON_CPU_THREADS", "0")),
            batch_size=int(env.get("DALSTON_BATCH_SIZE", "8")),
            max_upload_bytes=int(float(env.get("DALSTON_MAX_UPLOAD_MB", "1024")) * 1024 * 1024),
            allow_private_urls=_bool(env.get("DALSTON_ALLOW_PRIVATE_URLS")),
            url_fetch_timeout=float(env.get("DALSTON_URL_FETCH_TIMEOUT", "300")),
            chunk_seconds=float(env.get("DALSTON_CHUNK_SECONDS", "120")),
            max_stage_attempts=int(env.get("DALSTON_MAX_STAGE_ATTEMPTS", "3")),
            api_host=env.get("DALSTON_HOST", "127.0.0.1"),
            api_port=int(env.get("DALSTON_PORT", "8000")),
            # Below the ElevenLabs SDK's 240 s default timeout, so the client hears back.
            sync_timeout=float(env.get("DALSTON_SYNC_TIMEOUT", "220")),
            # Below the OpenAI SDK's 600 s default timeout.
            openai_sync_timeout=float(env.get("DALSTON_OPENAI_SYNC_TIMEOUT", "580")),
            webhook_url=env.get("DALSTON_WEBHOOK_URL") or None,
            webhook_secret=env.get("DALSTON_WEBHOOK_SECRET") or None,
            elevenlabs_models=env.get("DALSTON_ELEVENLABS_MODELS", ""),
            api_key=env.get("DALSTON_API_KEY") or None,
            broker_url=env.get("DALSTON_BROKER_URL") or REDIS_DEFAULT,
            # Task results and progress (Flower, ``AsyncResult.info``) in Redis.
            result_backend=env.get("DALSTON_RESULT_BACKEND")
            or env.get("DALSTON_BROKER_URL")
            or REDIS_DEFAULT,
            visibility_timeout=int(env.get("DALSTON_VISIBILITY_TIMEOUT", 6 * 3600)),
            restore_interval=int(env.get("DALSTON_RESTORE_INTERVAL", 10)),
            restore_throttle=int(env.get("DALSTON_RESTORE_THROTTLE", 6)),
            # Off: each event is a Redis publish per task; Flower turns them on itself.
            task_events=_bool(env.get("DALSTON_TASK_EVENTS")),
            log_level=env.get("DALSTON_LOG_LEVEL", "INFO"),
            worker_args=env.get("DALSTON_WORKER_ARGS", ""),
            transcribe_engine=env.get("DALSTON_TRANSCRIBE_ENGINE") or "faster_whisper",
            align_engine=env.get("DALSTON_ALIGN_ENGINE") or "pocketsphinx",
            diarize_engine=env.get("DALSTON_DIARIZE_ENGINE") or "neural",
            engine_plugins=tuple(
                m.strip() for m in env.get("DALSTON_ENGINE_PLUGINS", "").split(",") if m.strip()
            ),
            hf_hub_offline=_bool(env.get("HF_HUB_OFFLINE")),
            hf_token=env.get("HF_TOKEN") or None,
            pyannote_pipeline=env.get("DALSTON_PYANNOTE_PIPELINE") or None,
            whisperx_align_model=(env.get("DALSTON_WHISPERX_ALIGN_MODEL") or "").strip() or None,
            server_url=(env.get("DALSTON_URL") or "").strip() or None,
            client_config=Path(
                env.get("DALSTON_CONFIG")
                or Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
                / "dalston"
                / "config.toml"
            ).expanduser(),
            flower_url=(env.get("DALSTON_FLOWER_URL") or "").strip() or None,
            realtime_url=env.get("DALSTON_REALTIME_URL")
            or env.get("DALSTON_BROKER_URL")
            or REDIS_DEFAULT,
            realtime_model=env.get("DALSTON_REALTIME_MODEL")
            or env.get("DALSTON_DEFAULT_MODEL", "base"),
            realtime_capacity=int(env.get("DALSTON_REALTIME_CAPACITY", "4")),
            realtime_session_limit=int(env.get("DALSTON_REALTIME_SESSION_LIMIT", "0")),
            realtime_heartbeat_interval=float(env.get("DALSTON_REALTIME_HEARTBEAT_INTERVAL", "1")),
            realtime_heartbeat_timeout=float(env.get("DALSTON_REALTIME_HEARTBEAT_TIMEOUT", "3")),
            realtime_lag_warning=float(env.get("DALSTON_REALTIME_LAG_WARNING_SECONDS", "3")),
            realtime_lag_hard=float(env.get("DALSTON_REALTIME_LAG_HARD_SECONDS", "10")),
            realtime_idle_timeout=float(env.get("DALSTON_REALTIME_IDLE_TIMEOUT", "30")),
            realtime_max_frame_bytes=int(env.get("DALSTON_REALTIME_MAX_FRAME_BYTES", 512 * 1024)),
            realtime_window_seconds=float(env.get("DALSTON_REALTIME_WINDOW_SECONDS", "15")),
            realtime_partial_interval=float(env.get("DALSTON_REALTIME_PARTIAL_INTERVAL", "0.5")),
            realtime_max_utterance_seconds=float(
                env.get("DALSTON_REALTIME_MAX_UTTERANCE_SECONDS", "30")
            ),
            realtime_manual_commit_seconds=float(
                env.get("DALSTON_REALTIME_MANUAL_COMMIT_SECONDS", "90")
            ),
            realtime_beam_size=int(env.get("DALSTON_REALTIME_BEAM_SIZE", "5")),
            require_auth=(
                None
                if not (env.get("DALSTON_REQUIRE_AUTH") or "").strip()
                else _bool(env.get("DALSTON_REQUIRE_AUTH"))
            ),
            key_hash_secret=env.get("DALSTON_KEY_HASH_SECRET") or None,
            limits_url=env.get("DALSTON_LIMITS_URL")
            or env.get("DALSTON_REALTIME_URL")
            or env.get("DALSTON_BROKER_URL")
            or REDIS_DEFAULT,
            rate_limit=int(env.get("DALSTON_RATE_LIMIT", "600")),
            max_concurrent_jobs=int(env.get("DALSTON_MAX_CONCURRENT_JOBS", "10")),
            realtime_sessions_per_key=int(env.get("DALSTON_REALTIME_SESSIONS_PER_KEY", "5")),
            max_queued_jobs=int(env.get("DALSTON_MAX_QUEUED_JOBS", "1000")),
            token_ttl=int(env.get("DALSTON_TOKEN_TTL", "900")),
            webhook_max_attempts=max(1, int(env.get("DALSTON_WEBHOOK_MAX_ATTEMPTS", "8"))),
            webhook_retry_base=float(env.get("DALSTON_WEBHOOK_RETRY_BASE_SECONDS", "10")),
            webhook_retry_max=float(env.get("DALSTON_WEBHOOK_RETRY_MAX_SECONDS", "3600")),
            webhook_timeout=float(env.get("DALSTON_WEBHOOK_TIMEOUT", "15")),
            webhook_allow_hosts=tuple(
                h.strip().lower()
                for h in env.get("DALSTON_WEBHOOK_ALLOW_HOSTS", "").split(",")
                if h.strip()
            ),
            retention_days=int(env.get("DALSTON_RETENTION_DAYS", "-1")),
            retention_interval=float(env.get("DALSTON_RETENTION_INTERVAL_SECONDS", "3600")),
            metrics_dir=env.get("PROMETHEUS_MULTIPROC_DIR") or None,
            log_format=(env.get("DALSTON_LOG_FORMAT") or "text").strip().lower(),
            worker_metrics_port=int(env.get("DALSTON_WORKER_METRICS_PORT", "0")),
            # Reliability
            max_audio_seconds=float(env.get("DALSTON_MAX_AUDIO_SECONDS") or 36000),
            db_retry_deadline=float(env.get("DALSTON_DB_RETRY_DEADLINE") or 900),
            reconcile_interval=float(env.get("DALSTON_RECONCILE_INTERVAL") or 60),
            reconcile_grace=float(env.get("DALSTON_RECONCILE_GRACE") or 120),
            stage_time_limits=_time_limits(env.get("DALSTON_STAGE_TIME_LIMITS", "")),
            fault_point=(env.get("DALSTON_FAULT_POINT") or "").strip() or None,
            realtime_retention=env.get("DALSTON_REALTIME_RETENTION", "true").strip().lower()
            not in ("0", "false", "no", "off"),
            realtime_partial_duty=float(env.get("DALSTON_REALTIME_PARTIAL_DUTY", "2")),
        )

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings.from_env()


#: What embedded mode changes when the caller has not chosen: a broker and result backend
#: that need no server (Celery's in-memory transport, one process).
EMBEDDED_DEFAULTS = {
    "DALSTON_BROKER_URL": "memory://",
    "DALSTON_RESULT_BACKEND": "cache+memory://",
}


def apply_embedded_defaults() -> Settings:
    """Embedded mode's defaults, for this process and the Celery app it is about to import.

    Written into the environment (variables the caller set win) because ``celeryconfig``
    is imported by Celery itself; returns the settings read afresh.
    """
    for name, value in EMBEDDED_DEFAULTS.items():
        os.environ.setdefault(name, value)
    get_settings.cache_clear()
    return get_settings()


def environ_with(overrides: Mapping[str, str]) -> dict[str, str]:
    """This process's environment with ``overrides``: for a child process (the command-line
    client starting embedded mode), so no other module reads ``os.environ``."""
    return {**os.environ, **overrides}
