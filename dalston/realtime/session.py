"""One realtime session at the API, whatever its protocol and transport.

:class:`RealtimeSession` takes any ``ws`` with ``send(str)``, ``receive(timeout)`` (``None``
on timeout, ``ConnectionClosed`` when the client has gone) and ``close(code, message)``, a
protocol (``native.py``, ``elevenlabs.py``, ``openai.py``: wire messages ↔ commands and
events) and a relay. It reserves a worker slot, relays audio and control frames to the
worker and the worker's events back, and enforces the limits: per-frame size, lag (audio
received minus audio processed), idle clients, worker death. It never raises for a bad
frame: the protocol's error goes to the client and the session lives on where it can.

Close codes (the same in every protocol; README "Realtime"):

===== =================== ===========================================================
1000  normal              the client ended the session, or closed it
4400  bad_request         handshake parameters refused (unsupported format, …)
4408  idle_timeout        no frame from the client for ``DALSTON_REALTIME_IDLE_TIMEOUT``
4010  lag_exceeded        processing fell ``DALSTON_REALTIME_LAG_HARD_SECONDS`` behind
4429  session_limit       ``DALSTON_REALTIME_SESSION_LIMIT`` sessions already open; retry
4503  no_capacity         every realtime worker is full (or none is running); retry
4502  worker_lost         the session's worker died; recoverable: reconnect (a new
                          session gets a live worker)
1011  internal_error      a bug; the message says what
===== =================== ===========================================================

Retry advice for 4429/4503/4502: reconnect after ``retry_after_ms`` (in the error
message), with jitter.
"""

from __future__ import annotations

import logging
import threading
import time

from simple_websocket import ConnectionClosed

from dalston.realtime.audio import AudioFormatError
from dalston.relay import audio_frame, control_frame, new_session_id

log = logging.getLogger(__name__)

CLOSE = {
    "normal": 1000,
    "bad_request": 4400,
    "idle_timeout": 4408,
    "lag_exceeded": 4010,
    "session_limit": 4429,
    "no_capacity": 4503,
    "worker_lost": 4502,
    "internal_error": 1011,
}
RETRY_AFTER_MS = 1000
#: How long the API waits for the worker's last events after the client ends.
END_TIMEOUT = 60.0
#: At most one lag warning this often.
WARNING_INTERVAL = 1.0


class ProtocolError(Exception):
    """A client message the protocol refuses: ``code`` in the protocol's vocabulary."""

    def __init__(self, code: str, message: str, fatal: bool = False):
        super().__init__(message)
        self.code, self.message, self.fatal = code, message, fatal


class RealtimeSession:
    """Run one session (see the module docstring) until it ends; :meth:`run` returns then.

    Args:
        ws: the transport.
        protocol: built from the handshake (it has validated the parameters).
        relay: ``RedisRelay`` or ``MemoryRelay``.
        settings: limits (lag, idle, frame size, session limit).
    """

    def __init__(self, ws, protocol, relay, settings, recorder_factory=None):
        self.ws, self.protocol, self.relay, self.settings = (
            ws,
            protocol,
            relay,
            settings,
        )
        self.session_id = new_session_id()
        #: ``session_id → SessionRecorder`` (``retention.py``): its row, audio, transcript.
        self.recorder = recorder_factory(self.session_id) if recorder_factory else None
        self._error: str | None = None
        self.worker_id: str | None = None
        self.sent_seconds = 0.0
        self.processed_seconds = 0.0
        self.uncommitted_seconds = 0.0
        self.summary: dict | None = None
        self.closed = threading.Event()
        self._done = threading.Event()
        self._send_lock = threading.Lock()
        self._last_warning = 0.0
        self._close_code: int | None = None

    # -- transport ----------------------------------------------------------------------
    def send(self, messages) -> None:
        for message in messages:
            if self.closed.is_set():
                return
            with self._send_lock:
                try:
                    self.ws.send(message)
                except ConnectionClosed:
                    self.closed.set()

    def close(self, reason: str, message: str = "") -> None:
        if self._close_code is None:
            self._close_code = CLOSE[reason]
        self.closed.set()
        with self._send_lock:
            try:
                self.ws.close(CLOSE[reason], message[:120])
            except Exception:  # already closed
                pass

    def fail(self, reason: str, code: str, message: str, recoverable: bool = False) -> None:
        """Send the protocol's error for ``code`` and close with ``reason``'s close code."""
        extra = {"retry_after_ms": RETRY_AFTER_MS} if recoverable else {}
        self._error = self._error or f"{code}: {message}"
        self.send(self.protocol.error(code, message, recoverable=recoverable, **extra))
        self.close(reason, message)

    # -- the session --------------------------------------------------------------------
    def run(self) -> None:
        status, worker = self.relay.reserve(self.session_id, self.settings.realtime_session_limit)
        if status != "ok":
            reason = "session_limit" if status == "session_limit" else "no_capacity"
            message = (
                "the realtime session limit is reached; retry later"
                if status == "session_limit"
                else "no realtime worker has a free slot; retry later"
            )
            self.fail(reason, reason, message, recoverable=True)
            return
        self.worker_id = worker
        if self.recorder:
            self.recorder.begin(worker)
        self.relay.start(worker, self.session_id, self.protocol.worker_config())
        self.send(self.protocol.begin(self.session_id))
        pump = threading.Thread(target=self._pump, name=f"rt-pump-{self.session_id}", daemon=True)
        pump.start()
        try:
            self._receive_loop()
        finally:
            if not self._done.is_set():
                self.relay.push_input(self.session_id, control_frame({"type": "end"}))
            pump.join(END_TIMEOUT)
            if self.recorder:
                self.recorder.finish(self.summary, self._close_code, self._error)
                if self.summary is not None:
                    self.summary = dict(self.summary, enhance_job_id=self.recorder.enhance_job_id)
            if self.summary is not None and not self.closed.is_set():
                self.send(self.protocol.end(self.session_id, self.summary))
                self.close("normal")
            self.relay.drop_session(self.session_id)

    def _receive_loop(self) -> None:
        last_frame = time.monotonic()
        while not self.closed.is_set():
            try:
                message = self.ws.receive(timeout=0.5)
            except ConnectionClosed:
                self.closed.set()
                return
            now = time.monotonic()
            if message is None:
                if now - last_frame > self.settings.realtime_idle_timeout:
                    self.fail(
                        "idle_timeout",
                        self.protocol.codes["idle_timeout"],
                        f"no audio or message for {self.settings.realtime_idle_timeout:g} s",
                    )
                continue
            last_frame = now
            try:
                if len(message) > self.settings.realtime_max_frame_bytes:
                    raise ProtocolError(
                        self.protocol.codes["frame_too_large"],
                        f"a frame of {len(message)} bytes is over the limit of "
                        f"{self.settings.realtime_max_frame_bytes}",
                    )
                commands = (
                    self.protocol.on_binary(message)
                    if isinstance(message, (bytes, bytearray))
                    else self.protocol.on_text(message)
                )
                for command in commands:
                    if self._command(command):
                        return
            except ProtocolError as exc:
                self.send(self.protocol.error(exc.code, exc.message))
                if exc.fatal:
                    self.close("bad_request", exc.message)
                    return
            except AudioFormatError as exc:
                self.send(self.protocol.error(self.protocol.codes["invalid_audio"], str(exc)))

    def _command(self, command: tuple) -> bool:
        """Relay one command; True when it ends the session."""
        kind = command[0]
        if kind == "audio":
            pcm = command[1]
            if pcm:
                self.relay.push_input(self.session_id, audio_frame(pcm))
                if self.recorder:
                    self.recorder.audio(pcm)
                seconds = len(pcm) / 32000
                self.sent_seconds += seconds
                self.uncommitted_seconds += seconds
                limit = self.protocol.auto_commit_seconds
                if limit and self.uncommitted_seconds >= limit:
                    self._command(("commit", "auto"))
            return False
        if kind == "commit":
            self.uncommitted_seconds = 0.0
            reason = command[1] if len(command) > 1 else "manual"
            self.relay.push_input(
                self.session_id, control_frame({"type": "commit", "reason": reason})
            )
        elif kind == "clear":
            self.uncommitted_seconds = 0.0
            self.relay.push_input(self.session_id, control_frame({"type": "clear"}))
        elif kind == "config":
            self.relay.push_input(self.session_id, control_frame(dict(command[1], type="config")))
        elif kind == "reply":  # the protocol answers the client itself (session.updated…)
            self.send(command[1])
        elif kind == "end":
            self.relay.push_input(self.session_id, control_frame({"type": "end"}))
            self._done.set()
            return True
        return False

    def _pump(self) -> None:
        """Worker events → client, until the worker says the session ended (or dies)."""
        quiet_since = time.monotonic()
        while True:
            try:
                events = self.relay.pop_events(self.session_id, timeout=0.5)
            except Exception as exc:
                log.exception("realtime relay failed")
                self.fail("internal_error", self.protocol.codes["internal_error"], str(exc)[:200])
                return
            now = time.monotonic()
            if not events:
                if self._check_lag():
                    return
                if now - quiet_since > self.settings.realtime_heartbeat_timeout and not (
                    self.relay.worker_alive(self.worker_id)
                ):
                    self.fail(
                        "worker_lost",
                        self.protocol.codes["worker_lost"],
                        "the realtime worker serving this session stopped; reconnect",
                        recoverable=True,
                    )
                    return
                continue
            quiet_since = now
            for event in events:
                kind = event.get("type")
                if kind == "progress":
                    self.processed_seconds = event["processed"]
                    if self._check_lag():
                        return
                elif kind == "ended":
                    self.summary = event
                    return
                elif kind == "error":
                    self.send(
                        self.protocol.error(self.protocol.codes["internal_error"], event["message"])
                    )
                else:
                    self.send(self.protocol.render(event))

    def _check_lag(self) -> bool:
        """Warn past the first threshold; past the second, close (True)."""
        lag = self.sent_seconds - self.processed_seconds
        warn, hard = self.settings.realtime_lag_warning, self.settings.realtime_lag_hard
        if lag >= hard:
            self.fail(
                "lag_exceeded",
                self.protocol.codes["lag_exceeded"],
                f"processing is {lag:.1f} s behind the audio (limit {hard:g} s)",
            )
            return True
        if lag >= warn and time.monotonic() - self._last_warning >= WARNING_INTERVAL:
            self._last_warning = time.monotonic()
            self.send(self.protocol.warning(lag, warn, hard))
        return False
