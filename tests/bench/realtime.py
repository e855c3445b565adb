"""Realtime benchmark (``make bench-realtime``): Dalston's live sessions and WhisperLive's, one run.

Everything streams speech (jfk.flac and two 30 s AMI meeting excerpts from
``shared/fixtures/audio``, and 60 s of espeak-ng reading known text) at real-time pace in
100 ms frames, through the real API
(werkzeug, flask-sock), the Redis relay (in-memory if no Redis) and a realtime worker
thread on tiny.en int8 (``DALSTON_CPU_THREADS=2``). Figures:

* **relay**: round trip of one frame API → worker → event → API, no model (Redis, memory).
* **end of speech → commit**: from the moment the VAD's silence threshold
  (``min_silence_ms``, reported separately) had passed after the end of speech to the
  arrival of ``transcript.final``; and, to compare with a peer that has no such threshold,
  from the end of the utterance's last word (threshold included).
* **time to first partial** after speech starts, **partial cadence** (seconds between
  partials), **slowest decode against utterance length** (bins of the utterance's length
  when a decode ran: it must stay flat), **CPU per session** (process CPU seconds per
  second of audio, API and worker together), **concurrency**: 1, 2, 4, 6 … sessions at
  once on one worker; a session lags when the API warns that processing is
  ``LAG_WARNING`` s behind the audio; the ramp stops at the first count that lags.
* **WER** of the committed text against a batch transcription of the same audio with the
  same model (faster-whisper, beam 5, Silero VAD filter); and, where the fixtures have a
  reference text (jfk.flac, and the synthetic speech's script: the AMI excerpts come with
  speaker turns, not words), the WER of both against it (``wer_vs_reference``).
* **WhisperLive 0.10** (faster-whisper backend, the same tiny.en directory, int8, 2
  threads, its VAD on) on the same files and pace: first partial, end of the last word →
  its segment marked ``completed``, WER of the completed text against the same batch run.

Figures depend on the CPU and its load (the development machines are shared): the load
average at the start and the end goes into the JSON. JSON goes to
``bench-results/realtime.json``; a table is printed. ``--files``, ``--ramp`` and
``--no-peer`` make a shorter run (targeted measurements; the full run is the figure).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REDIS = "redis://127.0.0.1:6379/15"
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "audio"
#: ``SYNTHETIC`` is espeak-ng reading known text (``tests.bench.longaudio``, two voices,
#: pauses between paragraphs): with jfk, the streams whose words are known, so the streamed
#: and the batch transcript are each scored against the truth, not only against each other.
SYNTHETIC = "synthetic-60s"
FILES = ("jfk.flac", "trn03.wav", "trn06.wav", SYNTHETIC)
FRAME_SECONDS = 0.1
TRAILING_SILENCE = 3.0
#: A session lags when the API warns it is this far behind (the product default is 3 s).
LAG_WARNING = 2.0
#: How long WhisperLive is given after the audio to complete its last segments.
PEER_GRACE = 10.0
RAMP = (1, 2, 4, 6, 8)
OUT = Path("bench-results/realtime.json")
#: The fixtures' reference texts (shared/fixtures/audio/README.md).
REFERENCE = {
    "jfk.flac": "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
}


def _pct(values, q):
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


def _sent(t0: float, seconds: float) -> float:
    """When the frame holding the audio at ``seconds`` was sent (frames go out at their
    start: the server has that audio from then on)."""
    return t0 + int(seconds / FRAME_SECONDS) * FRAME_SECONDS


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w' ]", " ", text.lower()).split())


def _wer(reference: str, hypothesis: str) -> float:
    import jiwer

    return round(jiwer.wer(_norm(reference), _norm(hypothesis) or "-"), 4)


def model_path() -> str:
    from dalston.config import Settings
    from dalston.engines import models

    settings = Settings.from_env()
    return str(models.resolve("tiny.en", settings.model_dir))


def load_audio(name: str) -> np.ndarray:
    from dalston import audio

    if name == SYNTHETIC:
        from tests.bench import longaudio

        samples, REFERENCE[name] = longaudio.build(60.0)
    else:
        samples = audio.decode(FIXTURES / name).mono
    silence = np.zeros(int(16000 * TRAILING_SILENCE), dtype="float32")
    return np.concatenate([samples, silence])


def batch_texts(path: str, audio: dict[str, np.ndarray]) -> dict[str, str]:
    from faster_whisper import WhisperModel

    model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=2)
    return {name: batch_text(model, audio[name]) for name in FILES}


def batch_text(model, samples: np.ndarray) -> str:
    """A batch transcript of ``samples``: beam 5, Silero VAD filter, one call."""
    segments, _ = model.transcribe(samples, beam_size=5, vad_filter=True)
    return " ".join(s.text.strip() for s in segments)


# -- relay ---------------------------------------------------------------------------------
def relay_round_trip(relay, n: int = 300) -> dict:
    from dalston.relay import audio_frame

    sid = f"bench-{time.time_ns()}"

    def echo():
        for _ in range(n):
            frames = []
            while not frames:
                frames = relay.pop_input(sid, timeout=1.0)
            for _ in frames:
                relay.push_event(sid, {"type": "progress", "processed": 0})

    worker = threading.Thread(target=echo, daemon=True)
    worker.start()
    times = []
    frame = audio_frame(b"\x00" * 3200)
    for _ in range(n):
        began = time.perf_counter()
        relay.push_input(sid, frame)
        got = []
        while not got:
            got = relay.pop_events(sid, timeout=1.0)
        times.append((time.perf_counter() - began) * 1000)
    worker.join(5)
    relay.drop_session(sid)
    return {"p50_ms": _pct(times, 0.5), "p95_ms": _pct(times, 0.95)}


# -- Dalston -------------------------------------------------------------------------------
class Dalston:
    """The API and one realtime worker thread in this process; engines recorded."""

    def __init__(self, url: str, model_dir: str, capacity: int):
        from dalston.config import Settings
        from dalston.streaming import worker as worker_module
        from dalston.streaming.worker import RealtimeWorker
        from tests.realtime_helpers import ApiServer

        tmp = Path(tempfile.mkdtemp(prefix="dalston-bench-rt-"))
        config = {
            "DALSTON_REALTIME_URL": url,
            "DALSTON_DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite'}",
            "DALSTON_MODEL_DIR": model_dir,
            "DALSTON_REALTIME_MODEL": "tiny.en",
            "DALSTON_CPU_THREADS": "2",
            "DALSTON_REALTIME_CAPACITY": str(capacity),
            "DALSTON_REALTIME_LAG_WARNING_SECONDS": str(LAG_WARNING),
            "DALSTON_REALTIME_LAG_HARD_SECONDS": "600",
        }
        from dalston.db.migrate import upgrade

        upgrade(config["DALSTON_DATABASE_URL"])  # sessions are recorded, as in production
        self.engines = []
        base = worker_module.StreamingTranscriber
        engines = self.engines

        class Recorded(base):  # the benchmark reads each session's decode times
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                engines.append(self)

        worker_module.StreamingTranscriber = Recorded
        self.api = ApiServer(config)
        self.worker = RealtimeWorker(Settings.from_env(overrides=config), self.api.relay).start()
        self.min_silence = self._min_silence()

    @staticmethod
    def _min_silence() -> float:
        from dalston.streaming.engine import StreamConfig

        return StreamConfig().min_silence_ms / 1000

    def stop(self):
        self.worker.stop()
        self.api.stop()

    def session(self, samples: np.ndarray, results: list, delay: float = 0.0) -> None:
        from tests.realtime_helpers import NativeClient, pcm16

        time.sleep(delay)
        client = NativeClient(self.api.ws + "/v1/audio/transcriptions/stream")
        client.recv()
        arrivals = []

        def read():
            while True:
                message = client.recv(300)
                arrivals.append((time.monotonic(), message))
                if message["type"] == "session.end":
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        data = pcm16(samples)
        step = int(32000 * FRAME_SECONDS)
        t0 = time.monotonic()
        for i in range(0, len(data), step):
            client.ws.send(data[i : i + step])
            time.sleep(max(0.0, t0 + (i + step) / 32000 - time.monotonic()))
        sent_end = time.monotonic()
        client.ws.send(json.dumps({"type": "end"}))
        reader.join(300)
        try:
            client.close()
        except Exception:  # the server closed it after session.end
            pass
        results.append(self._figures(t0, sent_end, arrivals))

    def _figures(self, t0, sent_end, arrivals) -> dict:
        first_partial, cadence, commit, commit_word = [], [], [], []
        speech_start, speech_end, last_partial, finals, warnings = (
            None,
            None,
            None,
            [],
            0,
        )
        for at, message in arrivals:
            kind = message["type"]
            if kind == "vad.speech_start":
                speech_start, last_partial = message["timestamp"], None
            elif kind == "transcript.partial":
                if speech_start is not None and last_partial is None:
                    first_partial.append(at - _sent(t0, speech_start))
                if last_partial is not None:
                    cadence.append(at - last_partial)
                last_partial = at
            elif kind == "vad.speech_end":
                speech_end = message["timestamp"]
            elif kind == "transcript.final":
                finals.append(message["text"])
                if message.get("reason") == "vad" and speech_end is not None:
                    commit.append(at - _sent(t0, speech_end + self.min_silence))
                    commit_word.append(at - _sent(t0, message["end"]))
                last_partial = None
            elif kind == "warning":
                warnings += 1
        ended = arrivals[-1][0] if arrivals else sent_end
        return {
            "first_partial": first_partial,
            "cadence": cadence,
            "commit": commit,
            "commit_from_last_word": commit_word,
            "text": " ".join(t for t in finals if t),
            "lag_warnings": warnings,
            "end_to_session_end": ended - sent_end,
        }


# -- WhisperLive ---------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WhisperLive:
    """WhisperLive's server in a subprocess, on the same tiny.en directory (int8, 2 threads)."""

    def __init__(self, path: str, log_path: Path):
        import faster_whisper

        # Its tensorrt path's VAD would download Silero v5 here; the faster-whisper backend
        # uses faster-whisper's bundled model. Put the bundled one where it looks anyway.
        cache = Path.home() / ".cache" / "whisper-live"
        cache.mkdir(parents=True, exist_ok=True)
        bundled = Path(faster_whisper.__file__).parent / "assets" / "silero_vad_v6.onnx"
        if not (cache / "silero_vad.onnx").exists():
            shutil.copy(bundled, cache / "silero_vad.onnx")
        self.port = _free_port()
        code = (
            "import logging; logging.basicConfig(level=logging.INFO);"
            "from whisper_live.server import TranscriptionServer;"
            f"TranscriptionServer().run('127.0.0.1', {self.port}, backend='faster_whisper',"
            f"faster_whisper_custom_model_path={path!r}, single_model=True, max_clients=16)"
        )
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "OMP_NUM_THREADS": "2", "CUDA_VISIBLE_DEVICES": ""},
        )
        self.path = path
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"WhisperLive exited ({self.proc.returncode}); see {log_path}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("WhisperLive did not listen within 120 s")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()

    def session(self, samples: np.ndarray, results: list, delay: float = 0.0) -> None:
        from websockets.sync.client import connect

        time.sleep(delay)
        uid = f"bench-{time.time_ns()}"
        ws = connect(f"ws://127.0.0.1:{self.port}", max_size=None, open_timeout=60)
        ws.send(
            json.dumps(
                {
                    "uid": uid,
                    "language": "en",
                    "task": "transcribe",
                    "model": self.path,
                    "use_vad": True,
                }
            )
        )
        while json.loads(ws.recv(120)).get("message") != "SERVER_READY":
            pass
        arrivals = []
        stop = threading.Event()

        def read():
            while not stop.is_set():
                try:
                    message = ws.recv(0.5)
                except TimeoutError:
                    continue
                except Exception:
                    return
                arrivals.append((time.monotonic(), json.loads(message)))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        step = int(16000 * FRAME_SECONDS)
        t0 = time.monotonic()
        for i in range(0, len(samples), step):
            ws.send(samples[i : i + step].astype("float32").tobytes())
            time.sleep(max(0.0, t0 + (i + step) / 16000 - time.monotonic()))
        time.sleep(PEER_GRACE)  # its last segment completes only after repeated decodes
        stop.set()
        reader.join(5)
        try:
            ws.send(b"END_OF_AUDIO")
            ws.close()
        except Exception:
            pass
        completed, first_partial, cadence, last = {}, [], [], None
        for at, message in arrivals:
            segments = message.get("segments") or []
            if segments and last is not None:
                cadence.append(at - last)
            if segments:
                last = at
            for seg in segments:
                start = round(float(seg["start"]), 2)
                if not first_partial and seg.get("text", "").strip():
                    first_partial.append(at - _sent(t0, start))
                if seg.get("completed") and start not in completed:
                    completed[start] = (at, float(seg["end"]), seg["text"].strip())
        ordered = [completed[k] for k in sorted(completed)]
        # Its text at the end: the completed segments, then what it had not completed yet
        # (a last segment is completed only after it repeats; counted for WER, not latency).
        done_until = max(completed, default=-1.0)
        last = next((m for _, m in reversed(arrivals) if m.get("segments")), {})
        pending = [
            s["text"].strip()
            for s in last.get("segments", [])
            if not s.get("completed") and round(float(s["start"]), 2) > done_until
        ]
        results.append(
            {
                "first_partial": first_partial,
                "cadence": cadence,
                "commit_from_last_word": [at - _sent(t0, end) for at, end, _ in ordered],
                "text": " ".join([text for _, _, text in ordered] + pending),
                "uncompleted_at_end": len(pending),
            }
        )


# -- the run -------------------------------------------------------------------------------
def run_files(system, audio: dict) -> dict:
    out = {}
    for name, samples in audio.items():
        results: list = []
        cpu = time.process_time()
        system.session(samples, results)
        out[name] = dict(results[0], cpu_seconds=time.process_time() - cpu)
    return out


def ramp(system, samples: np.ndarray) -> list[dict]:
    rows = []
    for count in RAMP:
        results: list = []
        threads = [
            threading.Thread(target=system.session, args=(samples, results, 0.37 * i))
            for i in range(count)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(600)
        commits = [x for r in results for x in r["commit"]]
        cadence = [x for r in results for x in r["cadence"]]
        row = {
            "sessions": count,
            "commit_p50_s": _pct(commits, 0.5),
            "commit_p95_s": _pct(commits, 0.95),
            "partial_cadence_p50_s": _pct(cadence, 0.5),
            "partial_cadence_p95_s": _pct(cadence, 0.95),
            "load": _load(),
            "lag_warnings": sum(r["lag_warnings"] for r in results),
            "end_to_session_end_max_s": round(max(r["end_to_session_end"] for r in results), 3),
        }
        rows.append(row)
        print(f"  ramp: {row}", file=sys.stderr)
        if row["lag_warnings"]:
            break
    return rows


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def summarize(per_file: dict, batch: dict, min_silence: float | None) -> dict:
    def pool(key):
        return [x for r in per_file.values() for x in r.get(key, [])]

    out = {
        "first_partial_p50_s": _pct(pool("first_partial"), 0.5),
        "partial_cadence_p50_s": _pct(pool("cadence"), 0.5),
        "partial_cadence_p95_s": _pct(pool("cadence"), 0.95),
        "last_word_to_commit_p50_s": _pct(pool("commit_from_last_word"), 0.5),
        "last_word_to_commit_p95_s": _pct(pool("commit_from_last_word"), 0.95),
        "wer_vs_batch": {name: _wer(batch[name], r["text"]) for name, r in per_file.items()},
        "wer_vs_reference": {
            name: {
                "streamed": _wer(REFERENCE[name], r["text"]),
                "batch": _wer(REFERENCE[name], batch[name]),
            }
            for name, r in per_file.items()
            if name in REFERENCE
        },
        "texts": {name: r["text"] for name, r in per_file.items()},
    }
    if min_silence is not None:
        out.update(
            end_of_speech_to_commit_p50_s=_pct(pool("commit"), 0.5),
            end_of_speech_to_commit_p95_s=_pct(pool("commit"), 0.95),
            commits=len(pool("commit")),
            vad_silence_threshold_s=min_silence,
        )
    return out


def decode_flatness(engines) -> dict:
    """The slowest decode per bin of utterance length (seconds) at the time of the decode."""
    bins: dict[str, float] = {}
    for engine in engines:
        for (window, took), length in zip(engine.decode_stats, engine.decode_utterance):
            edge = f"{int(length // 5) * 5}-{int(length // 5) * 5 + 5}s"
            bins[edge] = round(max(bins.get(edge, 0.0), took), 3)
    return dict(sorted(bins.items(), key=lambda kv: int(kv[0].split("-")[0])))


def table(results: dict) -> str:
    d, p = results["dalston"], results.get("whisperlive") or {}
    rows = [
        (
            "end of speech → commit p50 / p95 (VAD threshold excluded)",
            f"{d['end_of_speech_to_commit_p50_s']} / {d['end_of_speech_to_commit_p95_s']} s",
            "—",
        ),
        ("VAD silence threshold", f"{d['vad_silence_threshold_s']} s", "—"),
        (
            "end of last word → commit p50 / p95",
            f"{d['last_word_to_commit_p50_s']} / {d['last_word_to_commit_p95_s']} s",
            f"{p.get('last_word_to_commit_p50_s')} / {p.get('last_word_to_commit_p95_s')} s",
        ),
        (
            "time to first partial p50",
            f"{d['first_partial_p50_s']} s",
            f"{p.get('first_partial_p50_s')} s",
        ),
        (
            "partial cadence p50 / p95",
            f"{d['partial_cadence_p50_s']} / {d['partial_cadence_p95_s']} s",
            f"{p.get('partial_cadence_p50_s')} / {p.get('partial_cadence_p95_s')} s",
        ),
        (
            "WER vs batch " + ", ".join(FILES),
            ", ".join(str(v) for v in d["wer_vs_batch"].values()),
            ", ".join(str(v) for v in (p.get("wer_vs_batch") or {}).values()),
        ),
        (
            "WER vs reference (streamed / batch) " + ", ".join(d["wer_vs_reference"]),
            ", ".join(f"{v['streamed']} / {v['batch']}" for v in d["wer_vs_reference"].values()),
            ", ".join(
                f"{v['streamed']} / {v['batch']}"
                for v in (p.get("wer_vs_reference") or {}).values()
            ),
        ),
        (
            "slowest decode by utterance length",
            json.dumps(results["slowest_decode_by_length_s"]),
            "—",
        ),
        ("CPU per session (cores)", str(results["cpu_cores_per_session"]), "—"),
        (
            "relay round trip p50 (Redis / memory)",
            f"{results['relay'].get('redis', {}).get('p50_ms')} / "
            f"{results['relay']['memory']['p50_ms']} ms",
            "—",
        ),
        ("sessions on one worker without lag", str(results["sustained_sessions"]), "—"),
        ("partials shed (model busy)", str(results.get("partials_shed")), "—"),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"{'':{width}}  {'Dalston':<34}  WhisperLive 0.10", "-" * (width + 60)]
    lines += [f"{a:{width}}  {b:<34}  {c}" for a, b, c in rows]
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default=",".join(FILES), help="comma-separated fixtures")
    parser.add_argument("--ramp", type=int, default=max(RAMP), help="most sessions at once")
    parser.add_argument("--no-peer", action="store_true", help="skip WhisperLive")
    parser.add_argument("--out", type=Path, default=OUT)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    global FILES, RAMP
    from dalston.relay import MemoryRelay, RedisRelay

    args = parse_args(argv)
    FILES = tuple(args.files.split(","))
    RAMP = tuple(n for n in RAMP if n <= args.ramp)
    results: dict = {"load_at_start": _load(), "relay": {"memory": relay_round_trip(MemoryRelay())}}
    url = "memory://"
    try:
        redis_relay = RedisRelay(REDIS)
        redis_relay.redis.ping()
        results["relay"]["redis"] = relay_round_trip(redis_relay)
        url = REDIS
    except Exception as exc:  # no Redis here: the in-memory relay only
        results["relay"]["redis"] = {"unavailable": str(exc)}
    path = model_path()
    model_dir = os.environ.get("DALSTON_MODEL_DIR", str(Path(".dalston/models").absolute()))
    audio = {name: load_audio(name) for name in FILES}
    batch = batch_texts(path, audio)
    results["batch_texts"] = batch

    dalston = Dalston(url, model_dir, capacity=max(RAMP))
    per_file = run_files(dalston, audio)
    results["dalston"] = summarize(per_file, batch, dalston.min_silence)
    results["slowest_decode_by_length_s"] = decode_flatness(dalston.engines)
    seconds = sum(len(a) / 16000 for a in audio.values())
    cpu = sum(r["cpu_seconds"] for r in per_file.values())
    results["cpu_cores_per_session"] = round(cpu / seconds, 3)
    results["ramp"] = ramp(dalston, audio.get("jfk.flac", load_audio("jfk.flac")))
    results["partials_shed"] = dalston.worker.decoder.shed  # all while sessions overlapped
    fine = [r["sessions"] for r in results["ramp"] if not r["lag_warnings"]]
    results["sustained_sessions"] = max(fine) if fine else 0
    dalston.stop()

    try:
        if args.no_peer:
            raise RuntimeError("not run (--no-peer)")
        peer = WhisperLive(path, Path(tempfile.mkdtemp(prefix="whisperlive-")) / "server.log")
    except Exception as exc:  # not installed, or it cannot start here: say why
        results["whisperlive"] = {"unavailable": f"{exc.__class__.__name__}: {exc}"}
    else:
        try:
            results["whisperlive"] = summarize(run_files(peer, audio), batch, None)
        finally:
            peer.stop()

    results["load_at_end"] = _load()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(table(results))
    print(
        f"\n(JSON: {args.out}; load average at start {results['load_at_start']}, "
        f"at end {results['load_at_end']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
