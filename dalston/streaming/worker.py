"""The realtime worker: one loaded model, up to ``DALSTON_REALTIME_CAPACITY`` sessions.

It registers with the relay (``dalston.relay``) and keeps its heartbeat fresh from its own
thread; the API reserves one of its slots and sends it the session's configuration. Each
session then runs in its own thread: pop every frame waiting, feed the audio to a
``StreamingTranscriber``, handle control messages in order, push the events back. After
each batch it pushes a ``progress`` event (seconds processed), from which the API measures
lag. Sessions share the one model; a lock in the decoder keeps their decodes from
interleaving. ``python -m workers.realtime`` runs it distributed; embedded mode runs the
same class in a thread over the in-memory relay.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

import numpy as np

from dalston.config import Settings
from dalston.relay import parse_frame
from dalston.streaming.engine import StreamConfig, StreamingTranscriber

log = logging.getLogger(__name__)

#: Session settings a client may choose (the API has validated them).
CONFIG_FIELDS = (
    "language",
    "vad_threshold",
    "min_speech_ms",
    "min_silence_ms",
    "speech_pad_ms",
    "commit_on_vad",
    "interim_results",
    "prompt",
)


def load_decoder(settings: Settings):
    """The worker's one decoder, on the model ``DALSTON_REALTIME_MODEL``."""
    from dalston.engines import get_engine
    from dalston.streaming.decoder import WhisperDecoder

    transcriber = get_engine("transcriber", "faster_whisper", settings)
    model = transcriber.load(
        settings.realtime_model,
        settings.model_dir,
        settings.device,
        settings.compute_type,
        settings.cpu_threads,
    )
    return WhisperDecoder(model, beam_size=settings.realtime_beam_size)


def stream_config(settings: Settings, config: dict) -> StreamConfig:
    chosen = {k: config[k] for k in CONFIG_FIELDS if config.get(k) is not None}
    return StreamConfig(
        window_seconds=settings.realtime_window_seconds,
        partial_interval=settings.realtime_partial_interval,
        max_utterance_seconds=settings.realtime_max_utterance_seconds,
        beam_size=settings.realtime_beam_size,
        partial_duty=settings.realtime_partial_duty,
        hotwords=tuple(config.get("keyterms") or ()),
        **chosen,
    )


class RealtimeWorker:
    """Serves realtime sessions relayed by the API.

    Args:
        settings: capacity, heartbeat, model and streaming settings.
        relay: a ``RedisRelay`` or the ``MemoryRelay``.
        decoder: the decoder to share (default: :func:`load_decoder`, at :meth:`start`).
    """

    def __init__(self, settings: Settings, relay, decoder=None, worker_id: str | None = None):
        self.settings = settings
        self.relay = relay
        self.decoder = decoder
        self.worker_id = worker_id or f"realtime-{socket.gethostname()}-{os.getpid()}"
        self.capacity = settings.realtime_capacity
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.sessions: dict[str, threading.Thread] = {}

    def start(self) -> "RealtimeWorker":
        if self.decoder is None:
            self.decoder = load_decoder(self.settings)
        self._register()
        for target, name in ((self._beat, "heartbeat"), (self._serve, "inbox")):
            thread = threading.Thread(target=target, name=f"{self.worker_id}-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("realtime worker %s serving %d sessions", self.worker_id, self.capacity)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads + list(self.sessions.values()):
            thread.join(timeout)
        self.relay.unregister(self.worker_id)

    def run_forever(self) -> None:
        self.start()
        try:
            while not self._stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def _register(self) -> None:
        self.relay.register(
            self.worker_id,
            self.capacity,
            {"model": self.settings.realtime_model, "host": socket.gethostname()},
        )

    def _beat(self) -> None:
        while not self._stop.wait(self.settings.realtime_heartbeat_interval):
            try:
                if self.relay.worker_alive(self.worker_id):
                    self.relay.heartbeat(self.worker_id)
                else:  # expired (Redis restarted, a long pause): register again
                    self._register()
            except Exception:  # Redis unreachable: keep trying; the API sees us as dead
                log.exception("realtime heartbeat failed")

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                request = self.relay.next_session(self.worker_id, timeout=1.0)
            except Exception:
                log.exception("realtime inbox failed")
                time.sleep(1.0)
                continue
            if request is None:
                continue
            sid = request["session_id"]
            thread = threading.Thread(
                target=self._session, args=(sid, request["config"]), name=f"rt-{sid}", daemon=True
            )
            self.sessions[sid] = thread
            thread.start()

    def _session(self, sid: str, config: dict) -> None:
        try:
            serve_session(self, sid, config)
        except Exception as exc:  # never take the worker down with one session
            log.exception("realtime session %s failed", sid)
            self.relay.push_event(
                sid, {"type": "error", "code": "internal_error", "message": str(exc)[:300]}
            )
        finally:
            self.relay.release(self.worker_id, sid)
            self.sessions.pop(sid, None)


def serve_session(worker: RealtimeWorker, sid: str, config: dict) -> None:
    """One session, until its ``end`` frame (or the API stops sending for too long)."""
    relay, settings = worker.relay, worker.settings
    engine = StreamingTranscriber(worker.decoder, stream_config(settings, config))
    idle_limit = settings.realtime_idle_timeout + 2 * settings.realtime_heartbeat_timeout
    last_frame = time.monotonic()

    def push(events):
        for event in events:
            relay.push_event(sid, event)

    while not worker._stop.is_set():
        frames = relay.pop_input(sid, timeout=0.5)
        if not frames:
            if time.monotonic() - last_frame > idle_limit:  # the API is gone
                log.warning("realtime session %s: no frames for %.0f s", sid, idle_limit)
                return
            continue
        last_frame = time.monotonic()
        pcm: list[bytes] = []
        ended = False
        for frame in frames:
            kind, body = parse_frame(frame)
            if kind == "audio":
                pcm.append(body)
                continue
            push(_feed(engine, pcm))
            pcm = []
            ended = _control(engine, body, push)
            if ended:
                break
        push(_feed(engine, pcm))
        relay.push_event(sid, {"type": "progress", "processed": round(engine.audio_seconds, 3)})
        if ended:
            relay.push_event(
                sid,
                {
                    "type": "ended",
                    "audio_seconds": round(engine.audio_seconds, 3),
                    "speech_seconds": round(engine.speech_seconds, 3),
                    "finals": engine.finals,
                    "language": engine.language,
                },
            )
            return


def _feed(engine: StreamingTranscriber, pcm: list[bytes]) -> list[dict]:
    if not pcm:
        return []
    samples = np.frombuffer(b"".join(pcm), dtype="<i2").astype("float32") / 32768.0
    return engine.feed(samples)


def _control(engine: StreamingTranscriber, message: dict, push) -> bool:
    """Handle one control message; True when it ends the session."""
    kind = message.get("type")
    if kind == "commit":
        push(engine.commit(message.get("reason") or "manual"))
    elif kind == "clear":
        push(engine.clear())
    elif kind == "config":
        engine.update(**{k: message.get(k) for k in CONFIG_FIELDS if k in message})
    elif kind == "end":
        push(engine.finish())
        return True
    return False
