"""Benchmark v1: what the pipeline costs beyond the model, how it scales, and whether it is fair.

One run of ``python -m tests.bench.bench`` (``make bench``) measures, in distributed mode
(Redis on a private port, a throwaway PostgreSQL database, S3 on moto; the API and every
worker a process of its own, all warmed up), each figure as a ratio to a baseline measured
in the same run:

1. 10-minute file (:mod:`tests.bench.longaudio`), ONE transcribe worker with 2 threads,
   ``align_engine=whisper`` (the baseline's work): pipeline wall (submit → ``completed``)
   ÷ plain ``BatchedInferencePipeline`` with ``word_timestamps=True`` in this process, same
   model, threads, batch and VAD options, warm model (transcription time only).
2. The same with the default forced alignment ÷ the same baseline, and the alignment's
   CPU seconds (the align worker's) per audio minute.
3. Scale-out: the fake transcriber (``tests.fakes_transcriber``), a fixed cost per chunk
   that sleeps, on a 64-chunk job with K = 1, 2, 4, 8, 16 transcribe slots (one worker
   process, threads pool, concurrency K; ``--scale-pool processes``: K solo worker
   processes, as deployed, whose bookkeeping then competes for this machine's two cores —
   on 2026-12-02 K = 16 reached 0.63·K that way, 0.93·K with threads): wall from the first
   fanned-out chunk's start to ``completed``, speed-up against K = 1, and orchestration cost
   per chunk = (that wall − engine time) / chunks, where engine time = chunks × cost / K.
   The chunks are those prepare fans out once it has planned the file; the first chunk,
   sent while prepare still decodes, runs before them and is left out of the span and the
   count. prepare's own time is reported beside it.
4. Per-job overhead: 50 three-second clips one at a time: submit → ``completed`` minus the
   transcribe stage's own time, p50 and p95.
5. Short jobs: 100 copies of an 11-second clip from 8 concurrent clients against one
   transcribe worker: jobs per minute ÷ plain batched faster-whisper on the same files
   back to back in one process.

The baselines of figures 1, 2 and 5 run before the deployment starts and again after it
stops; the ratios are against the mean of the two (the machine's speed drifts), and both
runs are reported.
6. Fairness: a 3-second job submitted while a 30-minute job is being transcribed: its
   submit → ``completed`` minus the same job's latency on an idle pipeline (figure 4's
   p50), against the decode time of one of the long job's chunks.
7. Peak resident memory of every worker process (with its children) and of the API.

Plus the WER of figure 1's transcript against the plain batched one (target ≤ 0.02). CPU
seconds other processes used meanwhile are reported per figure: on a shared machine their
load stretches wall times. Missing a target is a result, not an error: the exit status is
non-zero only when a job failed. The JSON goes to ``--out``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime as dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

from tests.bench.evaluation.metrics import wer
from tests.cluster import REPO, Cluster, ClusterError
from tests.servers import free_port, wait_port

DEFAULT_FIXTURES = REPO.parent / "shared" / "fixtures" / "audio"
PG_ADMIN = os.environ.get(
    "DALSTON_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
TARGETS = {
    "fig1_ratio": 1.05,
    "fig2_ratio": 1.25,
    "scale_speedup_per_k": 0.9,
    "orchestration_ms_per_chunk": 20.0,
    "overhead_p50_ms": 150.0,
    "short_jobs_ratio": 0.9,
}
#: Seconds a benchmark client's long poll lasts (the API's longest, ``wait=60``).
CLIENT_LONG_POLL = 60.0
#: Other processes' CPU use (cores, averaged over a figure) above which it was disturbed.
DISTURBED = 0.1
FAKE_PLUGIN = "tests.fakes_transcriber"


class BenchError(ClusterError):
    """A run that could not be measured (a job failed)."""


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


def tree_peak_rss_mb(pid: int) -> float | None:
    """The largest peak RSS among a process and its live children (prefork pools)."""
    peaks = [proc_peak_rss_mb(pid)]
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            peaks.append(proc_peak_rss_mb(int(child)))
    peaks = [p for p in peaks if p]
    return round(max(peaks), 1) if peaks else None


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def database_backends(database: str | None) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving ``database`` (its title names it)."""
    if not database:
        return {}
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="ignore")
            if title.startswith("postgres:") and f" {database} " in title:
                out[int(entry.name)] = tree_cpu_seconds(int(entry.name))
    return out


class Meter:
    """Wall time, and CPU seconds other processes used meanwhile, around a measured piece.

    The deployment's own processes (``pids``: workers, API, Redis; and the PostgreSQL
    backends serving ``database``) are the system under test, not "others".
    """

    def __init__(self, *pids: int, database: str | None = None):
        self.pids = pids
        self.database = database

    def _deployment_cpu(self) -> tuple[float, dict[int, float]]:
        return own_cpu_seconds() + sum(tree_cpu_seconds(p) for p in self.pids), (
            database_backends(self.database)
        )

    def __enter__(self):
        self.start = time.perf_counter()
        self.busy = machine_busy_seconds()
        self.own, self.backends = self._deployment_cpu()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.start
        own, backends = self._deployment_cpu()
        own -= self.own
        own += sum(cpu - self.backends.get(pid, 0.0) for pid, cpu in backends.items())
        self.cpu = own
        self.others = max(0.0, machine_busy_seconds() - self.busy - own)

    @property
    def disturbed(self) -> bool:
        return self.others > DISTURBED * self.wall


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from dalston.config import Settings

    settings = Settings.from_env()
    p = argparse.ArgumentParser(
        prog="python -m tests.bench.bench", description=__doc__.split("\n")[0]
    )
    p.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    p.add_argument("--seconds", type=float, default=600.0, help="figures 1-2 file length")
    p.add_argument("--model", default="tiny.en")
    p.add_argument("--model-dir", type=Path, default=settings.model_dir)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=settings.batch_size)
    p.add_argument("--chunk-seconds", type=float, default=120.0)
    p.add_argument("--pairs", type=int, default=3, help="figures 1-2: baseline-then-pipeline runs")
    p.add_argument("--fake-chunk-seconds", type=float, default=1.0, help="figure 3 cost per chunk")
    p.add_argument("--scale-chunks", type=int, default=64)
    p.add_argument("--scale-workers", default="1,2,4,8,16")
    p.add_argument(
        "--scale-pool",
        choices=("threads", "processes"),
        default="threads",
        help="figure 3: one worker with K threads, or K solo worker processes",
    )
    p.add_argument("--overhead-jobs", type=int, default=50)
    p.add_argument("--short-jobs", type=int, default=100)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--figures", default="1,2,3,4,5,6", help="which figures to run (7 always)")
    p.add_argument("--poll", type=float, default=0.05)
    p.add_argument("--job-timeout", type=float, default=1800.0)
    p.add_argument("--out", type=Path, default=Path("bench-results/bench.json"))
    p.add_argument("--keep-tmp", action="store_true")
    return p.parse_args(argv)


# -- the distributed deployment ----------------------------------------------------------


class Deployment:
    """Redis (own port), PostgreSQL (own database), moto S3, the API as a process, workers."""

    def __init__(self, tmp: Path, args: argparse.Namespace):
        import sqlalchemy as sa

        self.tmp, self.args = tmp, args
        self.redis_port = free_port()
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--save", "", "--appendonly", "no"],
            cwd=tmp,
            stdout=subprocess.DEVNULL,
        )
        self.db = f"dalston_bench_{os.getpid()}"
        self.admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{self.db}"'))
        # moto in a process of its own, as S3 is: in this one its threads would wait for the
        # interpreter lock while the harness polls, and storage would look slower than it is.
        host, port = "127.0.0.1", free_port()
        self.moto = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import logging, sys, threading; from moto.server import ThreadedMotoServer; "
                "logging.getLogger('werkzeug').setLevel(logging.WARNING); "
                "ThreadedMotoServer(ip_address='127.0.0.1', port=int(sys.argv[1]), "
                "verbose=False).start(); threading.Event().wait()",
                str(port),
            ],
            stdout=open(tmp / "moto.log", "wb"),
            stderr=subprocess.STDOUT,
        )
        wait_port(port)
        broker = f"redis://127.0.0.1:{self.redis_port}/0"
        self.env = {
            "DALSTON_BROKER_URL": broker,
            "DALSTON_RESULT_BACKEND": broker,
            "DALSTON_DATA_DIR": str(tmp / "data"),
            "DALSTON_DATABASE_URL": PG_ADMIN.rsplit("/", 1)[0] + f"/{self.db}",
            "DALSTON_S3_BUCKET": "bench",
            "DALSTON_S3_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "DALSTON_DEFAULT_MODEL": args.model,
            "DALSTON_MODEL_DIR": str(args.model_dir.absolute()),
            "DALSTON_COMPUTE_TYPE": "int8",
            "DALSTON_DEVICE": "cpu",
            "DALSTON_CHUNK_SECONDS": str(args.chunk_seconds),
            "DALSTON_BATCH_SIZE": str(args.batch_size),
            "DALSTON_CPU_THREADS": "1",
            "HF_HUB_OFFLINE": "1",
            # Loopback only, no keys: the figures measure the pipeline, not authentication.
            "DALSTON_REQUIRE_AUTH": "false",
        }
        for name in ("DALSTON_WORKER_ARGS", "DALSTON_ENGINE_PLUGINS", "DALSTON_STORAGE_DIR"):
            os.environ.pop(name, None)
        os.environ.update(self.env)  # before anything imports the Celery app
        import boto3

        boto3.client("s3", endpoint_url=self.env["DALSTON_S3_ENDPOINT_URL"]).create_bucket(
            Bucket="bench"
        )
        from dalston.db.migrate import upgrade

        upgrade(self.env["DALSTON_DATABASE_URL"])
        self.cluster = Cluster(tmp, self.env, host="bench")
        api_port = free_port()
        self.api = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import logging, sys; from werkzeug.serving import run_simple; "
                "from dalston.app import create_app; "
                "logging.getLogger('werkzeug').setLevel(logging.WARNING); "
                "run_simple('127.0.0.1', int(sys.argv[1]), create_app(), threaded=True)",
                str(api_port),
            ],
            cwd=REPO,
            env=self.cluster.env,
            stdout=open(tmp / "api.log", "wb"),
            stderr=subprocess.STDOUT,
        )
        self.cluster.base_url = f"http://127.0.0.1:{api_port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(self.cluster.base_url + "/health", timeout=2).ok:
                    break
            time.sleep(0.3)

    @contextlib.contextmanager
    def workers(self, specs: list[tuple[str, str, dict, list]]):
        """Start ``(queue, name, env, args)`` workers, wait until they answer, stop them after."""
        names = [self.cluster.start_worker(q, n, e, a) for q, n, e, a in specs]
        try:
            self.cluster.wait_for_workers(names, timeout=180)
            yield names
        finally:
            for name in names:
                if name in self.cluster.workers:
                    self.cluster.stop(name)

    def meter(self) -> Meter:
        """A :class:`Meter` that counts every process of this deployment as its own."""
        pids = [p.pid for p in self.cluster.workers.values()]
        pids += [self.api.pid, self.redis.pid, self.moto.pid]
        return Meter(*pids, database=self.db)

    def submit(self, path: Path, **fields) -> str:
        return self.cluster.submit(path, http_timeout=300, **fields)

    def wait(self, job_id: str) -> dict:
        # One long poll per job, as a client of the API would wait (not the tests' 2 s
        # renewals, which notice a dead worker sooner): the figures measure the service.
        job = self.cluster.wait(
            job_id,
            self.args.job_timeout,
            poll=self.args.poll,
            watch_workers=True,
            renew=CLIENT_LONG_POLL,
        )
        if job["status"] != "completed":
            raise BenchError(f"job {job_id} ended {job['status']}: {job.get('error')}")
        return job

    def run(self, path: Path, **fields) -> tuple[dict, float]:
        start = time.perf_counter()
        job = self.wait(self.submit(path, **fields))
        return job, time.perf_counter() - start

    def close(self) -> None:
        import sqlalchemy as sa

        with contextlib.suppress(Exception):
            self.api.terminate()
            self.api.wait(timeout=30)
        self.cluster.stop_all()
        self.redis.terminate()
        self.redis.wait(timeout=30)
        self.moto.terminate()
        self.moto.wait(timeout=30)
        from dalston.db.session import dispose_all

        dispose_all()
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)'))


def transcribe_rows(job: dict) -> list[dict]:
    return [s for s in job["stages"] if s["stage"] == "transcribe"]


def stage_seconds(job: dict, stage: str) -> float:
    return sum((s["duration_ms"] or 0) for s in job["stages"] if s["stage"] == stage) / 1000.0


def stage_breakdown(job: dict) -> dict:
    """Where the pipeline's time went, from the job's stage rows (seconds)."""
    stages = job["stages"]
    prep = next((s for s in stages if s["stage"] == "prepare"), None)
    merge = next((s for s in stages if s["stage"] == "merge"), None)
    chunks = transcribe_rows(job)
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
        # The first chunk starts while prepare still decodes (negative: before it ended).
        "prepare_start_to_first_chunk": seconds_between(p_start, first_start),
        "prepare_end_to_first_chunk": seconds_between(p_end, first_start),
        "transcribe_span": seconds_between(first_start, last_end),
        "transcribe_sum": round(sum((s["duration_ms"] or 0) for s in chunks) / 1000.0, 3),
        "last_chunk_to_merge_start": seconds_between(last_end, m_start),
        "merge": seconds_between(m_start, m_end),
        "merge_end_to_completed": seconds_between(m_end, completed),
        "created_to_completed": seconds_between(created, completed),
        "chunk_seconds": [round((s["duration_ms"] or 0) / 1000.0, 2) for s in chunks],
    }


# -- audio ----------------------------------------------------------------------------------


def build_audio(tmp: Path, args: argparse.Namespace) -> dict:
    from dalston import audio
    from tests.bench import longaudio

    ten, script = longaudio.build(args.seconds)
    jfk = audio.decode(args.fixtures / "jfk.flac").mono
    paths = {
        "ten": tmp / "ten-minutes.wav",
        "thirty": tmp / "thirty-minutes.wav",
        "clip11": tmp / "eleven-seconds.wav",
        "clip3": tmp / "three-seconds.wav",
    }
    paths["ten"].write_bytes(audio.to_wav_bytes(ten))
    paths["thirty"].write_bytes(audio.to_wav_bytes(np.tile(ten, 3)))
    paths["clip11"].write_bytes(audio.to_wav_bytes(jfk))
    paths["clip3"].write_bytes(audio.to_wav_bytes(np.ascontiguousarray(jfk[16000 : 4 * 16000])))
    return {"paths": paths, "script": script, "ten": ten}


def scale_audio(tmp: Path, ten: np.ndarray, chunks: int) -> tuple[Path, int]:
    """Speech that prepare (chunk target 1 s: one chunk per decoding window) cuts in ``chunks``."""
    from dalston import audio
    from dalston.stages.prepare import plan_chunks
    from dalston.vad import find_speech

    samples = np.tile(ten, 1 + int(chunks * 35 * 16000 // len(ten)))
    plan = plan_chunks(find_speech(samples), len(samples) / 16000, 1.0)
    end = plan[min(chunks, len(plan)) - 1][1]
    path = tmp / "scale.wav"
    path.write_bytes(audio.to_wav_bytes(samples[: int(end * 16000)]))
    return path, min(chunks, len(plan))


# -- plain faster-whisper ---------------------------------------------------------------


class Plain:
    """Warm batched faster-whisper in this process: the baseline every ratio is taken to."""

    def __init__(self, args, model_path: str):
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        model = WhisperModel(
            model_path, device="cpu", compute_type="int8", cpu_threads=args.threads
        )
        self.pipe = BatchedInferencePipeline(model)
        self.batch_size = args.batch_size

    def text(self, path: Path) -> str:
        from dalston.vad import VAD_OPTIONS

        segments, _info = self.pipe.transcribe(
            str(path),
            beam_size=5,
            word_timestamps=True,
            vad_filter=True,
            vad_parameters=dict(VAD_OPTIONS),
            batch_size=self.batch_size,
            temperature=0.0,
        )
        return " ".join(s.text.strip() for s in segments)

    def timed(self, path: Path) -> tuple[dict, str]:
        with Meter() as m:
            text = self.text(path)
        return {
            "wall_s": round(m.wall, 2),
            "cpu_s": round(m.cpu, 1),
            "others_cpu_s": round(m.others, 1),
        }, text


def plain_runs(plain: Plain, paths: dict, short_jobs: int) -> dict:
    """The baselines: the 10-minute file, and the 11-s clips back to back."""
    plain.text(paths["clip3"])  # warm-up: VAD model, first-call costs
    out = {}
    out["ten"], out["ten_text"] = plain.timed(paths["ten"])
    with Meter() as m:
        for _ in range(short_jobs):
            plain.text(paths["clip11"])
    out["short"] = {
        "wall_s": round(m.wall, 2),
        "jobs_per_min": round(60 * short_jobs / m.wall, 2),
        "others_cpu_s": round(m.others, 1),
    }
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


# -- figures -----------------------------------------------------------------------------


def base_workers() -> list[tuple[str, str, dict, list]]:
    return [("prepare", "prepare", {}, []), ("align", "align", {}, []), ("merge", "merge", {}, [])]


def real_transcriber(args) -> tuple[str, str, dict, list]:
    return (
        "transcribe",
        "transcribe",
        {"DALSTON_CPU_THREADS": str(args.threads)},
        ["--concurrency", "1"],
    )


def figure_long(
    dep: Deployment, path: Path, plain: Plain, pairs: int, fields: dict, align_pid
) -> dict:
    """Figures 1 and 2: the 10-minute file through the pipeline, in pairs with the baseline.

    Each pair runs the plain baseline, then the pipeline, back to back; the ratio is the
    median of the pairs' ratios. This VM's speed drifts by 15-30 % within minutes, so a
    pipeline run is compared with the baseline measured next to it, not an hour away.
    """
    runs = []
    for _ in range(pairs):
        base, plain_text = plain.timed(path)
        align_cpu = tree_cpu_seconds(align_pid)
        with dep.meter() as m:
            job, wall = dep.run(path, **fields)
        align_cpu = tree_cpu_seconds(align_pid) - align_cpu
        runs.append(
            {
                "plain_s": base["wall_s"],
                "plain_cpu_s": base["cpu_s"],
                "wall_s": round(wall, 2),
                "cpu_s": round(m.cpu, 1),  # the deployment's: API, workers, backends, clients
                "ratio": round(wall / base["wall_s"], 3),
                "others_cpu_s": round(m.others, 1),
                "disturbed": m.disturbed,
                "align_cpu_s": round(align_cpu, 1),
                "breakdown": stage_breakdown(job),
            }
        )
    middle = sorted(runs, key=lambda r: r["ratio"])[len(runs) // 2]
    return {
        "wall_s": middle["wall_s"],
        "plain_s": middle["plain_s"],
        "ratio": middle["ratio"],
        "pairs": [
            {k: r[k] for k in ("plain_s", "wall_s", "ratio", "plain_cpu_s", "cpu_s", "disturbed")}
            for r in runs
        ],
        "others_cpu_s": middle["others_cpu_s"],
        "disturbed": any(r["disturbed"] for r in runs),
        "align_cpu_s": middle["align_cpu_s"],
        "align_cpu_s_per_audio_min": round(
            middle["align_cpu_s"] / (job["audio_duration_seconds"] / 60), 2
        ),
        "chunks": len(transcribe_rows(job)),
        "breakdown": middle["breakdown"],
        "text": job["text"],
        "plain_text": plain_text,
    }


def figure_overhead(dep: Deployment, clip: Path, jobs: int) -> dict:
    """Figure 4: one short job at a time; latency minus the transcribe stage's own time."""
    latencies, overheads = [], []
    with dep.meter() as m:
        for _ in range(jobs):
            job, wall = dep.run(clip, align_engine="whisper")
            latencies.append(wall)
            overheads.append(wall - stage_seconds(job, "transcribe"))
    return {
        "jobs": jobs,
        "latency_p50_ms": round(1000 * percentile(latencies, 50), 1),
        "overhead_p50_ms": round(1000 * percentile(overheads, 50), 1),
        "overhead_p95_ms": round(1000 * percentile(overheads, 95), 1),
        "others_cpu_s": round(m.others, 1),
        "disturbed": m.disturbed,
        "last_breakdown": stage_breakdown(job),
    }


def figure_short_jobs(dep: Deployment, clip: Path, jobs: int, clients: int, plain: dict) -> dict:
    """Figure 5: ``jobs`` copies from ``clients`` concurrent clients, one transcribe worker."""
    with dep.meter() as m:
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            list(pool.map(lambda _: dep.run(clip, align_engine="whisper"), range(jobs)))
    rate = 60 * jobs / m.wall
    return {
        "jobs": jobs,
        "clients": clients,
        "wall_s": round(m.wall, 2),
        "jobs_per_min": round(rate, 2),
        "ratio": round(rate / plain["jobs_per_min"], 3),
        "others_cpu_s": round(m.others, 1),
        "disturbed": m.disturbed,
    }


def figure_fairness(dep: Deployment, long: Path, clip: Path, alone_s: float) -> dict:
    """Figure 6: the short job's latency while a long job transcribes, minus its latency alone."""
    long_id = dep.submit(long, align_engine="whisper")
    deadline = time.monotonic() + dep.args.job_timeout
    while time.monotonic() < deadline:
        job = dep.cluster.job(long_id)
        if any(s["status"] == "running" for s in transcribe_rows(job)):
            break
        time.sleep(0.1)
    time.sleep(1.0)  # well inside the running chunk
    with dep.meter() as m:
        short, wall = dep.run(clip, align_engine="whisper")
    # The long job's chunk that was running must end before its decode time is known.
    while time.monotonic() < deadline:
        job = dep.cluster.job(long_id)
        done = [s for s in transcribe_rows(job) if s["status"] == "completed"]
        if done:
            break
        time.sleep(0.2)
    requests.post(dep.cluster.url(f"/v1/audio/transcriptions/{long_id}/cancel"), timeout=30)
    chunk_s = statistics.median((s["duration_ms"] or 0) / 1000 for s in done)
    added = wall - alone_s
    return {
        "latency_s": round(wall, 2),
        "alone_s": round(alone_s, 2),
        "added_wait_s": round(added, 2),
        "chunk_decode_s": round(chunk_s, 2),
        "ratio_to_chunk": round(added / chunk_s, 3) if chunk_s else None,
        "others_cpu_s": round(m.others, 1),
        "disturbed": m.disturbed,
    }


def figure_scale(dep: Deployment, path: Path, chunks: int, ks: list[int], cost: float) -> dict:
    """Figure 3: the fake transcriber (fixed cost, sleeping) on K slots."""
    rows = []
    env = {"DALSTON_ENGINE_PLUGINS": FAKE_PLUGIN, "DALSTON_FAKE_BEHAVIOUR": f"sleep:{cost}"}
    for k in ks:
        if dep.args.scale_pool == "threads":
            specs = [
                (
                    "transcribe",
                    f"transcribe-fake{k}",
                    env,
                    ["--pool", "threads", "--concurrency", str(k)],
                )
            ]
        else:  # K workers as deployed: the stage's own pool (solo), one process each
            specs = [("transcribe", f"transcribe-fake{k}-{i}", env, []) for i in range(k)]
        with dep.workers(specs) as names:
            dep.run(dep.args.clip3, timestamps_granularity="segment")  # warm
            with dep.meter() as m:
                job, wall = dep.run(path, timestamps_granularity="segment")
            rss = {names[0]: tree_peak_rss_mb(dep.cluster.workers[names[0]].pid)}
        prep = next(s for s in job["stages"] if s["stage"] == "prepare")
        every = transcribe_rows(job)
        # The fan-out: chunk 0, sent while prepare still decoded, ran before it, on its own.
        rows_t = [
            s
            for s in every
            if s["part"] != 0 or parse_time(s["started_at"]) >= parse_time(prep["completed_at"])
        ]
        first = min(parse_time(s["started_at"]) for s in rows_t)
        span = seconds_between(first, parse_time(job["completed_at"]))
        engine = len(rows_t) * cost / k
        # Where a chunk's orchestration goes: inside its task (its row's duration minus the
        # engine's cost: rows, storage) and between tasks on one slot (K = 1: the hop).
        inside = [(s["duration_ms"] or 0) - 1000 * cost for s in rows_t]
        spans = sorted((parse_time(s["started_at"]), parse_time(s["completed_at"])) for s in rows_t)
        gaps = [1000 * (b[0] - a[1]).total_seconds() for a, b in zip(spans, spans[1:])]
        first_end = min(parse_time(s["completed_at"]) for s in rows_t)
        last_end = max(parse_time(s["completed_at"]) for s in rows_t)
        rows.append(
            {
                "k": k,
                # The spread of the chunks' starts and ends (how far the slots drift apart),
                # and the tail from the last chunk's end to completed (chord, merge).
                "last_chunk_end_s": seconds_between(first, last_end),
                "first_chunk_end_s": seconds_between(first, first_end),
                "tail_s": seconds_between(last_end, parse_time(job["completed_at"])),
                "chunks": len(rows_t),
                "sent_early": len(every) - len(rows_t),
                "wall_s": round(span, 2),
                "submit_to_completed_s": round(wall, 2),
                "prepare_s": stage_breakdown(job)["prepare"],
                "engine_s": round(engine, 2),
                "orchestration_ms_per_chunk": round(1000 * (span - engine) / len(rows_t), 1),
                "in_task_ms_p50": round(percentile(inside, 50), 1),
                "between_tasks_ms_p50": round(percentile(gaps, 50), 1) if k == 1 else None,
                "others_cpu_s": round(m.others, 1),
                "disturbed": m.disturbed,
                "peak_rss_mb": rss,
            }
        )
    for row in rows:
        row["speedup"] = round(rows[0]["wall_s"] / row["wall_s"], 2)
        row["speedup_per_k"] = round(row["speedup"] / row["k"], 3)
    return {"cost_per_chunk_s": cost, "pool": dep.args.scale_pool, "runs": rows}


# -- main ----------------------------------------------------------------------------------


def run_all(args: argparse.Namespace, tmp: Path) -> dict:
    from dalston.engines import models

    figures = {int(f) for f in args.figures.split(",") if f.strip()}
    audio_files = build_audio(tmp, args)
    paths = audio_files["paths"]
    args.clip3 = paths["clip3"]
    model_path = models.resolve(args.model, args.model_dir)
    print(f"model {args.model} ({model_path}), int8; load average {load_average()}", flush=True)
    print("plain batched faster-whisper (baselines) ...", flush=True)
    baseline_model = Plain(args, model_path)
    plain = plain_runs(baseline_model, paths, args.short_jobs if 5 in figures else 0)
    results: dict = {"plain": {k: v for k, v in plain.items() if k != "ten_text"}, "rss_mb": {}}
    dep = Deployment(tmp, args)
    try:
        with dep.workers(base_workers() + [real_transcriber(args)]) as names:
            dep.run(paths["clip3"])  # warm every worker (model loads, first calls)
            dep.run(paths["clip11"], align_engine="whisper")
            align_pid = dep.cluster.workers[next(n for n in names if n.startswith("align"))].pid
            for fig, fields, what in (
                (1, {"align_engine": "whisper"}, "align_engine=whisper"),
                (2, {}, "forced alignment"),
            ):
                if fig not in figures:
                    continue
                print(f"figure {fig}: 10-minute file, {what}, {args.pairs} pairs ...", flush=True)
                f = figure_long(dep, paths["ten"], baseline_model, args.pairs, fields, align_pid)
                f["wer_vs_plain_batched"] = round(wer(f.pop("plain_text"), f.pop("text")), 4)
                results[f"fig{fig}"] = f
            if 4 in figures or 6 in figures:
                print(f"figure 4: {args.overhead_jobs} three-second jobs ...", flush=True)
                results["fig4"] = figure_overhead(dep, paths["clip3"], args.overhead_jobs)
            if 6 in figures:
                print("figure 6: fairness ...", flush=True)
                results["fig6"] = figure_fairness(
                    dep, paths["thirty"], paths["clip3"], results["fig4"]["latency_p50_ms"] / 1000
                )
            if 5 in figures:
                print(
                    f"figure 5: {args.short_jobs} jobs from {args.clients} clients ...", flush=True
                )
                results["fig5"] = figure_short_jobs(
                    dep, paths["clip11"], args.short_jobs, args.clients, plain["short"]
                )
            for name in names:
                results["rss_mb"][name] = tree_peak_rss_mb(dep.cluster.workers[name].pid)
        if 3 in figures:
            print("figure 3: scale-out ...", flush=True)
            path, chunks = scale_audio(tmp, audio_files["ten"], args.scale_chunks)
            specs = [("prepare", "prepare-scale", {"DALSTON_CHUNK_SECONDS": "1"}, [])]
            specs.append(("merge", "merge-scale", {}, []))
            with dep.workers(specs) as names:
                ks = [int(k) for k in args.scale_workers.split(",")]
                results["fig3"] = figure_scale(dep, path, chunks, ks, args.fake_chunk_seconds)
                for name in names:
                    results["rss_mb"][name] = tree_peak_rss_mb(dep.cluster.workers[name].pid)
            for row in results["fig3"]["runs"]:
                results["rss_mb"].update(row["peak_rss_mb"])
        results["rss_mb"]["api"] = tree_peak_rss_mb(dep.api.pid)
    except BaseException:
        dep.cluster.print_log_tails()
        raise
    finally:
        dep.close()
    if 5 in figures:
        print("plain batched faster-whisper again (the baselines bracket the pipeline) ...")
        again = plain_runs(baseline_model, paths, args.short_jobs)
        bracket(results, again)
    return results


def bracket(results: dict, again: dict) -> None:
    """Baselines as the mean of their runs before and after the pipeline's figures.

    A shared machine's speed drifts (on the development VM, 15 % within a quarter of an
    hour): a baseline measured only before the pipeline would turn that drift into a ratio.
    Both runs are kept, and fig. 5's ratio is recomputed against their mean (figs. 1 and 2
    pair each pipeline run with a baseline run of its own, :func:`figure_long`).
    """
    plain = results["plain"]
    for name, key in (("ten", "wall_s"), ("short", "jobs_per_min")):
        if name not in again or (name == "short" and not again[name]["jobs_per_min"]):
            continue
        before, after = plain[name][key], again[name][key]
        plain[name] = {
            **plain[name],
            key: round((before + after) / 2, 2),
            "before": before,
            "after": after,
            "drift": round(after / before - 1, 3),
        }
    if "fig5" in results:
        f5 = results["fig5"]
        f5["ratio"] = round(f5["jobs_per_min"] / plain["short"]["jobs_per_min"], 3)


def verdict(value, target, lower_is_better=True) -> str:
    if value is None:
        return "-"
    ok = value <= target if lower_is_better else value >= target
    return "meets" if ok else "MISSES"


def baseline_runs(plain: dict, key: str) -> str:
    """`` (mean of a before b)``, when the baseline was measured on both sides."""
    if "before" not in plain:
        return ""
    return f", the mean of {plain['before']} before and {plain['after']} after"


def paired(fig: dict) -> str:
    """The pairs behind a median ratio, as the table shows them."""
    ratios = ", ".join(f"{p['ratio']:.3f}" for p in fig["pairs"])
    return f"median of {len(fig['pairs'])} pairs: {ratios}"


def table(results: dict) -> list[str]:
    """The figures as a Markdown table (the README's)."""
    rows = ["| figure | measured | target | | disturbed |", "|---|---|---|---|---|"]

    def add(name, measured, target, ok, disturbed):
        rows.append(f"| {name} | {measured} | {target} | {ok} | {'yes' if disturbed else 'no'} |")

    if "fig1" in results:
        f = results["fig1"]
        add(
            "1 pipeline ÷ plain batched, align_engine=whisper (10 min)",
            f"{f['ratio']:.3f} ({f['wall_s']} s vs {f['plain_s']} s; {paired(f)}), "
            f"WER vs plain {f['wer_vs_plain_batched']}",
            f"≤ {TARGETS['fig1_ratio']}, WER ≤ 0.02",
            verdict(f["ratio"], TARGETS["fig1_ratio"]),
            f["disturbed"],
        )
    if "fig2" in results:
        f = results["fig2"]
        add(
            "2 pipeline with forced alignment ÷ plain batched",
            f"{f['ratio']:.3f} ({f['wall_s']} s vs {f['plain_s']} s; {paired(f)}); alignment "
            f"{f['align_cpu_s_per_audio_min']} CPU s / audio min",
            f"≤ {TARGETS['fig2_ratio']}",
            verdict(f["ratio"], TARGETS["fig2_ratio"]),
            f["disturbed"],
        )
    if "fig3" in results:
        for r in results["fig3"]["runs"]:
            add(
                f"3 scale-out K={r['k']} ({r['chunks']} chunks × "
                f"{results['fig3']['cost_per_chunk_s']} s, {results['fig3']['pool']})",
                f"{r['wall_s']} s, speed-up {r['speedup']} ({r['speedup_per_k']}·K), "
                f"orchestration {r['orchestration_ms_per_chunk']} ms/chunk",
                f"≥ 0.9·K, ≤ {TARGETS['orchestration_ms_per_chunk']:.0f} ms",
                (
                    "meets"
                    if r["speedup_per_k"] >= 0.9
                    and r["orchestration_ms_per_chunk"] <= TARGETS["orchestration_ms_per_chunk"]
                    else "MISSES"
                ),
                r["disturbed"],
            )
    if "fig4" in results:
        f = results["fig4"]
        add(
            f"4 per-job overhead ({f['jobs']} × 3 s, one at a time)",
            f"p50 {f['overhead_p50_ms']} ms, p95 {f['overhead_p95_ms']} ms",
            f"p50 ≤ {TARGETS['overhead_p50_ms']:.0f} ms",
            verdict(f["overhead_p50_ms"], TARGETS["overhead_p50_ms"]),
            f["disturbed"],
        )
    if "fig5" in results:
        f = results["fig5"]
        add(
            f"5 short jobs ({f['jobs']} × 11 s, {f['clients']} clients) ÷ plain back to back",
            f"{f['ratio']:.3f} ({f['jobs_per_min']} vs "
            f"{results['plain']['short']['jobs_per_min']} jobs/min"
            f"{baseline_runs(results['plain']['short'], 'jobs_per_min')})",
            f"≥ {TARGETS['short_jobs_ratio']}",
            verdict(f["ratio"], TARGETS["short_jobs_ratio"], lower_is_better=False),
            f["disturbed"],
        )
    if "fig6" in results:
        f = results["fig6"]
        add(
            "6 fairness: 3 s job during a 30-min job, added wait",
            f"{f['added_wait_s']} s (latency {f['latency_s']} s, alone {f['alone_s']} s); "
            f"one chunk decodes in {f['chunk_decode_s']} s",
            "≤ one chunk's decode",
            verdict(f["added_wait_s"], f["chunk_decode_s"]),
            f["disturbed"],
        )
    rss = ", ".join(f"{k.split('@')[0]} {v:.0f}" for k, v in results["rss_mb"].items() if v)
    add("7 peak RSS (MB)", rss, "-", "-", False)
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.fixtures = args.fixtures.absolute()
    out = args.out if args.out.is_absolute() else Path.cwd() / args.out
    tmp = Path(tempfile.mkdtemp(prefix="dalston-bench-"))
    started = load_average()
    try:
        results = run_all(args, tmp)
    except (ClusterError, TimeoutError) as exc:
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep_tmp:
            print(f"temp dir kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    rows = table(results)
    print("\n" + "\n".join(rows))
    for fig in ("fig1", "fig2"):
        if fig in results:
            print(f"{fig} breakdown (s): {json.dumps(results[fig]['breakdown'])}")
    print(
        f"\nload average: at start {started}, at end {load_average()} ({os.cpu_count()} CPUs); "
        "'disturbed': other processes used more than 0.1 core on average meanwhile"
    )
    payload = {
        "benchmark": "v1",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "model": args.model,
        "compute_type": "int8",
        "threads": args.threads,
        "chunk_seconds": args.chunk_seconds,
        "cpus": os.cpu_count(),
        "load_average_start": started,
        "load_average_end": load_average(),
        "targets": TARGETS,
        "results": results,
        "table": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"results written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
