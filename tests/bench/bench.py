"""Benchmark v0: the Dalston pipeline against plain faster-whisper on a 10-minute file.

The question (Benchmark v0 in the issue) is what the pipeline costs on one machine, and
what it buys when the work is spread over more than one transcribe worker. One run of
``python -m tests.bench.bench`` measures, on the same 10-minute recording built by
:mod:`tests.bench.longaudio`:

* **plain** — faster-whisper in this process, the way a user would call it without
  Dalston: ``WhisperModel(..., compute_type="int8", cpu_threads=2)`` and
  ``transcribe(path, beam_size=5, word_timestamps=True, vad_filter=True)``. Wall time is
  model load + transcription (the load is reported on its own too), after an untimed
  5-second warm-up transcription so first-call costs (imports, the VAD model) are out,
  as they are for the warmed-up pipeline. A 1-thread run is added for information, and a
  run of faster-whisper's *batched* pipeline on the whole file with the settings of
  Dalston's transcribe engine (``BatchedInferencePipeline``, ``DALSTON_BATCH_SIZE``, the
  engine's VAD options, temperature 0): the same decoder as the pipeline, so the pipeline
  against it is the cost of the pipeline itself, and the sequential reference against it
  is what the choice of decoder buys.
* **pipeline A** — distributed Dalston on this machine: the API in this process (werkzeug
  on a loopback port), ``prepare``/``align``/``merge`` workers and ONE transcribe worker with
  ``DALSTON_CPU_THREADS=2`` as subprocesses on a private Redis database, a throwaway
  SQLite database and local artifact storage, all started by ``tests/cluster.py`` as for
  the integration tests. Wall time is HTTP submit → ``completed``.
* **pipeline B** — the same with TWO transcribe workers of one thread each.

Transcribe workers are warmed up with a short job first, so their model load is NOT in
the pipeline's wall time (compare with the plain run's load time, printed separately).
The transcripts are compared by WER against the plain sequential 2-thread transcript,
the plain batched one, and the text the recording speaks where ``tests.bench.longaudio``
returns it. CPU seconds of every run, and those other processes used meanwhile, are
reported too: on a shared machine other load stretches wall times, and the report says
which runs were disturbed.

Targets: pipeline A / plain <= 1.15 and pipeline B / plain < 1.00. Missing a target is a
result, not an error: the exit status is non-zero only when a job failed. Results are
also written as JSON (``--out``).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import gc
import json
import logging
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.evaluation.metrics import normalise, wer
from tests.cluster import REPO, Cluster, ClusterError

DEFAULT_FIXTURES = REPO.parent / "shared" / "fixtures" / "audio"
TARGET_ONE_WORKER = 1.15
TARGET_TWO_WORKERS = 1.00
WARMUP_SECONDS = 5.0
#: Other processes' CPU use (in cores, averaged over a run) above which timings are suspect.
DISTURBED = 0.1


class BenchError(ClusterError):
    """A run that could not be measured (a job failed, a warm-up missed a worker)."""


# -- helpers -------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def own_cpu_seconds() -> float:
    """User + system CPU seconds of this process (all its threads) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds() -> float:
    """Busy CPU seconds of the whole machine (all processes) since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process and its live children, from /proc.

    CPU time is what a run costs whatever else the machine is doing, so it is reported
    next to wall time, which other load on a shared machine can stretch.
    """
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except (OSError, ValueError, IndexError):
        return total
    return total + sum(tree_cpu_seconds(int(child)) for child in children)


def proc_peak_rss_mb(pid: int) -> float | None:
    """VmHWM (peak RSS) of a running process, from /proc; None where unavailable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return None


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    stamp = dt.datetime.fromisoformat(value)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)


def seconds_between(a: dt.datetime | None, b: dt.datetime | None) -> float | None:
    return round((b - a).total_seconds(), 3) if a and b else None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from dalston.config import Settings

    settings = Settings.from_env()  # defaults as the server would read them
    p = argparse.ArgumentParser(
        prog="python -m tests.bench.bench", description=__doc__.split("\n")[0]
    )
    p.add_argument(
        "--fixtures",
        type=Path,
        default=DEFAULT_FIXTURES,
        help="shared audio fixtures: jfk.flac for warm-up jobs, and the long file "
        "where longaudio joins them (default: %(default)s)",
    )
    p.add_argument(
        "--seconds",
        type=float,
        default=600.0,
        help="length of the test recording (default: %(default)s)",
    )
    p.add_argument("--model", default="tiny.en", help="Whisper model (default: %(default)s)")
    p.add_argument(
        "--model-dir",
        type=Path,
        default=settings.model_dir,
        help="DALSTON_MODEL_DIR for plain and pipeline runs (default: %(default)s)",
    )
    p.add_argument(
        "--redis",
        default="redis://127.0.0.1:6379",
        help="Redis server, without a database number (default: %(default)s)",
    )
    p.add_argument(
        "--redis-db",
        type=int,
        default=12,
        help="Redis database used as broker and result backend; FLUSHED before and "
        "after (default: %(default)s)",
    )
    p.add_argument(
        "--chunk-seconds",
        type=float,
        default=120.0,
        help="DALSTON_CHUNK_SECONDS (default: %(default)s, the server default)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=settings.batch_size,
        help="DALSTON_BATCH_SIZE, and the batch of the plain batched run (default: %(default)s)",
    )
    p.add_argument(
        "--poll", type=float, default=0.2, help="seconds between job polls (default: %(default)s)"
    )
    p.add_argument(
        "--job-timeout",
        type=float,
        default=1200.0,
        help="give up on a job after this many seconds (default: %(default)s)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("bench-results/bench-v0.json"),
        help="JSON results file (default: %(default)s)",
    )
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (logs, database)")
    return p.parse_args(argv)


# -- plain faster-whisper ------------------------------------------------------------------


def warm_up_plain(clip: Path, model_path: str) -> None:
    """Untimed: import and first-call costs (VAD model, decoder) out of the plain timings."""
    from faster_whisper import WhisperModel

    model = WhisperModel(model_path, device="cpu", compute_type="int8", cpu_threads=2)
    segments, _info = model.transcribe(
        str(clip), beam_size=5, word_timestamps=True, vad_filter=True
    )
    list(segments)
    del model
    gc.collect()


def transcribe_batched(model, path: Path, batch_size: int):
    """The decoder the pipeline's transcribe engine uses, with the engine's settings."""
    from faster_whisper import BatchedInferencePipeline

    from dalston.vad import VAD_OPTIONS

    return BatchedInferencePipeline(model).transcribe(
        str(path),
        beam_size=5,
        word_timestamps=True,
        vad_filter=True,
        vad_parameters=dict(VAD_OPTIONS),
        batch_size=batch_size,
        temperature=0.0,
    )


def run_plain(path: Path, model_path: str, threads: int, batch_size: int = 0) -> dict:
    """faster-whisper on the whole file in one call; wall = model load + transcription.

    ``batch_size`` 0 is faster-whisper's ordinary sequential ``transcribe`` (the reference);
    above 0 it is its batched pipeline, as the pipeline's engine runs it on each chunk.
    """
    from faster_whisper import WhisperModel

    cpu, busy = own_cpu_seconds(), machine_busy_seconds()
    start = time.perf_counter()
    model = WhisperModel(model_path, device="cpu", compute_type="int8", cpu_threads=threads)
    loaded = time.perf_counter()
    if batch_size:
        segments, _info = transcribe_batched(model, path, batch_size)
    else:
        segments, _info = model.transcribe(
            str(path), beam_size=5, word_timestamps=True, vad_filter=True
        )
    text = " ".join(s.text.strip() for s in segments)  # consuming the generator does the work
    done = time.perf_counter()
    cpu = own_cpu_seconds() - cpu
    others = machine_busy_seconds() - busy - cpu
    del model
    gc.collect()
    how = f"batched x{batch_size}" if batch_size else "sequential"
    return {
        "run": f"plain {how}, {threads} thread{'s' if threads > 1 else ''}",
        "kind": "plain",
        "batch_size": batch_size,
        "threads": threads,
        "wall_s": round(done - start, 2),
        "load_s": round(loaded - start, 2),
        "cpu_s": round(cpu, 1),
        "others_cpu_s": round(max(others, 0.0), 1),
        "transcribe_s": round(done - loaded, 2),
        "text": text,
    }


# -- the distributed pipeline --------------------------------------------------------------


def configure_environment(tmp: Path, args: argparse.Namespace) -> dict[str, str]:
    """Point every DALSTON_* setting at throwaway state; must run before importing the apps."""
    broker = f"{args.redis.rstrip('/')}/{args.redis_db}"
    env = {
        "DALSTON_BROKER_URL": broker,
        "DALSTON_RESULT_BACKEND": broker,
        "DALSTON_DATA_DIR": str(tmp / "data"),
        "DALSTON_DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
        "DALSTON_STORAGE_DIR": str(tmp / "artifacts"),
        "DALSTON_DEFAULT_MODEL": args.model,
        "DALSTON_MODEL_DIR": str(args.model_dir.absolute()),
        "DALSTON_COMPUTE_TYPE": "int8",
        "DALSTON_DEVICE": "cpu",
        "DALSTON_CHUNK_SECONDS": str(args.chunk_seconds),
        "DALSTON_BATCH_SIZE": str(args.batch_size),
        "DALSTON_ALLOW_PRIVATE_URLS": "false",
    }
    for name in (
        "DALSTON_S3_BUCKET",
        "DALSTON_S3_ENDPOINT_URL",
        "DALSTON_WORKER_ARGS",
        "DALSTON_CPU_THREADS",
    ):
        os.environ.pop(name, None)
    os.environ.update(env)
    return env


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def workers_cpu_seconds(cluster: Cluster) -> float:
    """CPU seconds of every worker process (and prefork child) now alive."""
    return sum(tree_cpu_seconds(proc.pid) for proc in cluster.workers.values())


def transcribe_runs(job: dict) -> list[dict]:
    return [s for s in job.get("stages", []) if s["stage"] == "transcribe"]


def check_completed(job: dict, what: str) -> None:
    if job["status"] != "completed":
        raise BenchError(f"{what}: job {job['id']} ended {job['status']}: {job.get('error')}")


def wait(cluster: Cluster, job_id: str, args: argparse.Namespace) -> dict:
    """The job once it has ended; a worker that dies meanwhile fails the run at once."""
    return cluster.wait(job_id, args.job_timeout, poll=args.poll, watch_workers=True)


def warm_up(cluster: Cluster, clip: Path, model: str, workers: list[str], args) -> float:
    """Run short jobs until every transcribe worker has transcribed once (model loaded).

    Each round submits max(2, workers) jobs at once, so both prefork children of prepare
    and merge see work too. Returns the seconds spent.
    """
    start = time.perf_counter()
    warmed: set[str] = set()
    for _round in range(5):
        ids = [cluster.submit(clip, model=model) for _ in range(max(2, len(workers)))]
        for job_id in ids:
            job = wait(cluster, job_id, args)
            check_completed(job, "warm-up")
            warmed.update(s["worker"] for s in transcribe_runs(job))
        if warmed >= set(workers):
            return round(time.perf_counter() - start, 2)
    raise BenchError(f"warm-up reached only {sorted(warmed)} of {sorted(workers)}")


def stage_breakdown(job: dict) -> dict:
    """Where the pipeline's time went, from the job's stage rows (seconds)."""
    stages = job["stages"]
    prep = next((s for s in stages if s["stage"] == "prepare"), None)
    merge = next((s for s in stages if s["stage"] == "merge"), None)
    chunks = transcribe_runs(job)
    starts = [parse_time(s["started_at"]) for s in chunks if s["started_at"]]
    ends = [parse_time(s["completed_at"]) for s in chunks if s["completed_at"]]
    first_start, last_end = (min(starts) if starts else None), (max(ends) if ends else None)
    created, completed = parse_time(job["created_at"]), parse_time(job["completed_at"])
    p_start = parse_time(prep and prep["started_at"])
    p_end = parse_time(prep and prep["completed_at"])
    m_start = parse_time(merge and merge["started_at"])
    m_end = parse_time(merge and merge["completed_at"])
    return {
        "created_to_prepare_start": seconds_between(created, p_start),
        "prepare": seconds_between(p_start, p_end),
        "prepare_end_to_first_chunk": seconds_between(p_end, first_start),
        "transcribe_span": seconds_between(first_start, last_end),
        "transcribe_sum": round(sum((s["duration_ms"] or 0) for s in chunks) / 1000.0, 3),
        "last_chunk_to_merge_start": seconds_between(last_end, m_start),
        "merge": seconds_between(m_start, m_end),
        "merge_end_to_completed": seconds_between(m_end, completed),
        "created_to_completed": seconds_between(created, completed),
        "chunk_seconds": [round((s["duration_ms"] or 0) / 1000.0, 2) for s in chunks],
    }


def run_pipeline(
    cluster: Cluster,
    label: str,
    audio_path: Path,
    clip: Path,
    threads_per_worker: int,
    count: int,
    args,
) -> dict:
    """Start ``count`` transcribe workers, warm them up, time the long job, stop them."""
    names = [
        cluster.start_worker(
            "transcribe",
            f"transcribe-{label}{i + 1}",
            {"DALSTON_CPU_THREADS": str(threads_per_worker)},
        )
        for i in range(count)
    ]
    try:
        cluster.wait_for_workers(names, timeout=90)
        warmup_s = warm_up(cluster, clip, args.model, names, args)
        load_before = load_average()
        cpu_workers, cpu_api = workers_cpu_seconds(cluster), own_cpu_seconds()
        busy = machine_busy_seconds()
        start = time.perf_counter()
        job_id = cluster.submit(audio_path, http_timeout=300, model=args.model)
        submitted = time.perf_counter()
        job = wait(cluster, job_id, args)
        wall = time.perf_counter() - start
        cpu_workers = workers_cpu_seconds(cluster) - cpu_workers
        cpu_api = own_cpu_seconds() - cpu_api
        others = machine_busy_seconds() - busy - cpu_workers - cpu_api
        check_completed(job, label)
        rss = {h: proc_peak_rss_mb(cluster.workers[h].pid) for h in names}
    finally:
        for hostname in names:
            if hostname in cluster.workers:
                cluster.stop(hostname)
    chunks = transcribe_runs(job)
    plural = "s" if count > 1 else ""
    return {
        "run": f"pipeline {label}: {count} worker{plural} x {threads_per_worker} thread"
        f"{'s' if threads_per_worker > 1 else ''}",
        "kind": "pipeline",
        "label": label,
        "workers": count,
        "threads_per_worker": threads_per_worker,
        "wall_s": round(wall, 2),
        "submit_s": round(submitted - start, 2),
        "cpu_s": round(cpu_workers + cpu_api, 1),
        "cpu_workers_s": round(cpu_workers, 1),
        "cpu_api_and_polling_s": round(cpu_api, 1),
        "others_cpu_s": round(max(others, 0.0), 1),
        "warmup_s": warmup_s,
        "chunks": len(chunks),
        "chunks_per_worker": dict(collections.Counter(s["worker"] for s in chunks)),
        "breakdown": stage_breakdown(job),
        "worker_peak_rss_mb": rss,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "audio_duration_s": job["audio_duration_seconds"],
        "job_id": job_id,
        "text": job["text"],
    }


def start_base_cluster(cluster: Cluster) -> None:
    # Word timestamps (the default) run an align task after each chunk: one align worker.
    names = [cluster.start_worker(q, q) for q in ("prepare", "align", "merge")]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per poll
    cluster.start_api()
    cluster.wait_for_workers(names, timeout=90)


def build_recording(args: argparse.Namespace, path: Path) -> tuple[Path, str | None]:
    """The long test file (synthetic speech, :mod:`tests.bench.longaudio`) and its text."""
    from tests.bench import longaudio

    return longaudio.write(path, args.seconds)


def write_clip(fixtures: Path, path: Path, seconds: float) -> Path:
    """The first ``seconds`` of jfk.flac as a WAV, for warm-up jobs."""
    from dalston import audio

    mono = audio.decode(fixtures / "jfk.flac").mono
    path.write_bytes(audio.to_wav_bytes(mono[: int(seconds * audio.SAMPLE_RATE)]))
    return path


# -- report --------------------------------------------------------------------------------


def score(results: list[dict], reference: dict, batched: dict, script: str | None) -> None:
    for row in results:
        row["ratio"] = round(row["wall_s"] / reference["wall_s"], 3)
        row["ratio_vs_batched"] = round(row["wall_s"] / batched["wall_s"], 3)
        row["wer"] = round(wer(reference["text"], row["text"]), 4)
        row["wer_vs_batched"] = round(wer(batched["text"], row["text"]), 4)
        row["wer_vs_script"] = round(wer(script, row["text"]), 4) if script else None


def print_table(results: list[dict]) -> None:
    header = (
        f"{'run':<34} {'wall s':>7} {'/plain':>6} {'cpu s':>6} {'others':>6} {'WER':>6} "
        f"{'WER b':>6} {'script':>6} {'chunks':>6}  chunks per worker"
    )
    print(header)
    print("-" * len(header))
    for row in results:
        chunks = row.get("chunks", "-")
        per_worker = ", ".join(
            f"{w}: {n}" for w, n in sorted(row.get("chunks_per_worker", {}).items())
        )
        vs_script = "-" if row["wer_vs_script"] is None else f"{row['wer_vs_script']:.4f}"
        print(
            f"{row['run']:<34} {row['wall_s']:>7.2f} {row['ratio']:>6.2f} {row['cpu_s']:>6.1f} "
            f"{row['others_cpu_s']:>6.1f} {row['wer']:>6.4f} {row['wer_vs_batched']:>6.4f} "
            f"{vs_script:>6} {chunks!s:>6}  "
            f"{per_worker or '-'}"
        )


def print_details(plains: list[dict], pipelines: list[dict]) -> None:
    print()
    for row in plains:
        rss = f"; peak RSS {row['peak_rss_mb']:.0f} MB" if row.get("peak_rss_mb") else ""
        print(
            f"{row['run']}: model load {row['load_s']:.2f} s + transcription "
            f"{row['transcribe_s']:.2f} s{rss}"
        )
    print("plain runs follow an untimed 5 s warm-up transcription (imports, VAD model).")
    print(
        "pipeline wall = HTTP submit -> 'completed' seen by polling every "
        f"{pipelines[0]['poll_s'] if pipelines else 0} s.\nThe transcribe workers were "
        "warmed up first: their model load is NOT included (compare the plain load above)."
    )
    for row in pipelines:
        b = row["breakdown"]
        rss = ", ".join(f"{h}: {v:.0f} MB" for h, v in row["worker_peak_rss_mb"].items() if v)
        print(
            f"\n{row['run']} (warm-up {row['warmup_s']:.1f} s, upload+submit "
            f"{row['submit_s']:.2f} s, load avg before {row['load_average_before']})"
        )
        print(
            f"  created->prepare {b['created_to_prepare_start']} s | prepare {b['prepare']} s | "
            f"prepare->1st chunk {b['prepare_end_to_first_chunk']} s"
        )
        print(
            f"  transcribe span {b['transcribe_span']} s (sum of chunks {b['transcribe_sum']} s;"
            f" per chunk {b['chunk_seconds']})"
        )
        print(
            f"  last chunk->merge {b['last_chunk_to_merge_start']} s | merge {b['merge']} s | "
            f"merge->completed {b['merge_end_to_completed']} s | server-side total "
            f"{b['created_to_completed']} s"
        )
        print(
            f"  CPU: workers {row['cpu_workers_s']} s, API + polling (this process) "
            f"{row['cpu_api_and_polling_s']} s"
        )
        print(f"  transcribe worker peak RSS: {rss or 'n/a'}")


def print_targets(plain: dict, batched: dict, by_label: dict[str, dict]) -> None:
    print()
    transcribe_only = plain["wall_s"] - plain["load_s"]
    if "A" in by_label:
        a = by_label["A"]
        print(
            f"pipeline 1 worker / plain = {a['ratio']:.2f} (target <= {TARGET_ONE_WORKER:.2f}) "
            f"[vs plain without model load: {a['wall_s'] / transcribe_only:.2f}]"
        )
    if "B" in by_label:
        b = by_label["B"]
        print(
            f"pipeline 2x1-thread workers vs plain 2 threads: {b['ratio']:.2f} "
            f"(target < {TARGET_TWO_WORKERS:.2f}) "
            f"[vs plain without model load: {b['wall_s'] / transcribe_only:.2f}]"
        )
    print(
        "same decoder (pipeline / plain batched, 2 threads): "
        + ", ".join(f"{label} {row['ratio_vs_batched']:.2f}" for label, row in by_label.items())
        + "; WER vs plain batched: "
        + ", ".join(f"{label} {row['wer_vs_batched']:.4f}" for label, row in by_label.items())
    )


def disturbed_runs(results: list[dict]) -> list[str]:
    """Runs during which other processes used more than DISTURBED of a core on average."""
    return [r["run"] for r in results if r["others_cpu_s"] > DISTURBED * r["wall_s"]]


def write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


# -- main ----------------------------------------------------------------------------------


def run_all(args: argparse.Namespace, tmp: Path) -> tuple[list[dict], dict]:
    from dalston.engines import models

    audio_path, script = build_recording(args, tmp / "ten-minutes.wav")
    clip = write_clip(args.fixtures, tmp / "warm-up.wav", WARMUP_SECONDS)
    model_path = models.resolve(args.model, args.model_dir)
    print(
        f"audio: {audio_path.name}, {args.seconds:.0f} s; model {args.model} ({model_path}), "
        f"int8; load average {load_average()}",
        flush=True,
    )

    warm_up_plain(clip, model_path)
    print("plain faster-whisper, 2 threads ...", flush=True)
    plain = run_plain(audio_path, model_path, 2)
    plain["peak_rss_mb"] = round(peak_rss_mb(), 1)
    print("plain faster-whisper, 1 thread ...", flush=True)
    plain_one = run_plain(audio_path, model_path, 1)
    print(
        f"plain faster-whisper batched (batch {args.batch_size}, as the pipeline decodes), "
        "2 threads ...",
        flush=True,
    )
    plain_batched = run_plain(audio_path, model_path, 2, args.batch_size)

    env = configure_environment(tmp, args)
    broker = env["DALSTON_BROKER_URL"]
    flush_redis(broker)
    from dalston.db.migrate import upgrade

    upgrade(env["DALSTON_DATABASE_URL"])
    cluster = Cluster(tmp, env, host="bench")
    pipelines: list[dict] = []
    try:
        start_base_cluster(cluster)
        for label, threads, count in (("A", 2, 1), ("B", 1, 2)):
            print(
                f"pipeline {label}: {count} transcribe worker(s) x {threads} thread(s) ...",
                flush=True,
            )
            row = run_pipeline(cluster, label, audio_path, clip, threads, count, args)
            row["poll_s"] = args.poll
            pipelines.append(row)
    except BaseException:
        cluster.print_log_tails()
        raise
    finally:
        cluster.stop_api()
        cluster.stop_all()
        flush_redis(broker)
    results = [plain, plain_one, plain_batched, *pipelines]
    return results, {"model_path": model_path, "script": script}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.fixtures = args.fixtures.absolute()
    out = args.out if args.out.is_absolute() else Path.cwd() / args.out
    tmp = Path(tempfile.mkdtemp(prefix="dalston-bench-"))
    started = load_average()
    try:
        results, context = run_all(args, tmp)
    except (ClusterError, TimeoutError) as exc:
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep_tmp:
            print(f"temp dir kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    plain, batched = results[0], results[2]
    script = context["script"]
    score(results, plain, batched, script)
    print()
    print_table(results)
    print(
        "cpu s: user+system CPU seconds of the run (plain: this process; pipeline: every "
        "worker\nprocess and this one, which serves the API) -- less disturbed by other load "
        "than wall.\nothers: CPU seconds that OTHER processes used meanwhile; well above 0 "
        "means the\nwall times were stretched by other load (re-run on a quiet machine)."
    )
    print(
        "/plain and WER: against plain sequential, 2 threads (the reference); WER b: against "
        "plain batched\n(the decoder the pipeline runs); script: against the text the "
        "recording speaks."
    )
    pipelines = [r for r in results if r["kind"] == "pipeline"]
    print_details([r for r in results if r["kind"] == "plain"], pipelines)
    print_targets(plain, batched, {r["label"]: r for r in pipelines})
    print(
        f"\nload average: at start {started}, at end {load_average()} " f"({os.cpu_count()} CPUs)"
    )
    disturbed = disturbed_runs(results)
    if disturbed:
        print(
            f"WARNING: other processes were busy during: {'; '.join(disturbed)} -- "
            "those wall times are stretched; run again on a quiet machine."
        )
    write_json(
        out,
        {
            "benchmark": "v0",
            "seconds": args.seconds,
            "model": args.model,
            "compute_type": "int8",
            "chunk_seconds": args.chunk_seconds,
            "cpus": os.cpu_count(),
            "load_average_start": started,
            "load_average_end": load_average(),
            "model_path": context["model_path"],
            "disturbed_runs": disturbed,
            "script_words": len(normalise(script).split()) if script else None,
            "targets": {
                "one_worker_max_ratio": TARGET_ONE_WORKER,
                "two_workers_max_ratio": TARGET_TWO_WORKERS,
            },
            "results": results,
        },
    )
    print(f"results written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
