"""``python -m tests.bench.evaluation``: run every measurement, print the tables, write JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from dalston.config import Settings
from tests.bench.evaluation import references, report, runner


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m tests.bench.evaluation",
        description="Accuracy of the offline engines on the shared fixtures and synthetic speech.",
    )
    p.add_argument(
        "--fixtures",
        type=Path,
        default=references.FIXTURES,
        help="the shared recorded fixtures (default: %(default)s)",
    )
    p.add_argument(
        "--models",
        default="base,tiny.en",
        help="Whisper models, comma-separated; the first also transcribes the dialogue "
        "(default: %(default)s, the server default first)",
    )
    p.add_argument(
        "--model-dir",
        type=Path,
        default=Settings.from_env().model_dir,
        help="DALSTON_MODEL_DIR (default: %(default)s)",
    )
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default: %(default)s)")
    p.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    engines = runner.Engines(args.model_dir, args.threads)
    started = time.perf_counter()
    results: dict = {
        "models": models,
        "threads": args.threads,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }
    timings = {}
    with tempfile.TemporaryDirectory(prefix="dalston-eval-") as tmp:
        steps = [
            ("transcripts", lambda: runner.transcripts(engines, args.fixtures, models)),
            ("diarization", lambda: runner.diarization(engines, args.fixtures)),
            ("word_timing", lambda: runner.word_timing(engines, models, Path(tmp, "timed"))),
            ("dialogue", lambda: runner.dialogue(engines, models[0], Path(tmp, "dialogue"))),
        ]
        Path(tmp, "timed").mkdir()
        Path(tmp, "dialogue").mkdir()
        for name, step in steps:
            t0 = time.perf_counter()
            results[name] = step()
            timings[name] = round(time.perf_counter() - t0, 1)
            print(f"[eval] {name}: {timings[name]} s", file=sys.stderr, flush=True)
    results["seconds"] = {**timings, "total": round(time.perf_counter() - started, 1)}

    lines = ["### Transcripts: WER on normalised text", ""]
    lines += report.transcripts(results["transcripts"], models)
    lines += ["", "### Diarization: DER on the AMI excerpts (diarization.rttm)", ""]
    lines += report.diarization(results["diarization"])
    lines += ["", "### Word timing: synthetic speech with exact word boundaries", ""]
    lines += report.word_timing(results["word_timing"])
    lines += ["", f"### Two-voice espeak dialogue ({models[0]}, aligned words)", ""]
    lines += report.dialogue(results["dialogue"])
    lines += [
        "",
        f"{results['seconds']['total']:.0f} s on {results['machine']}, " f"{args.threads} threads.",
    ]
    print("\n".join(lines))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
