"""Committed-text WER of the streaming engine, fed without a clock (``make bench-streaming-wer``).

``make bench-realtime`` streams at real-time pace, so which partials run (and so which words
are confirmed from which decode) depends on the machine's speed and load: on 60 s of speech
its committed-text WER moves by several points between runs of the same code. This feeds
the same engine (``dalston.streaming.engine``, tiny.en int8, 2 threads, beam 5, the
product's defaults with ``partial_duty`` off) 100 ms frames synchronously, so a run decodes
the same windows on any machine and the figure moves only with the code: espeak-ng reading
``--seconds`` of known text in two voices (``tests.bench.longaudio``) and jfk.flac, each
scored against the words spoken, beside a batch transcript of the same audio with the same
model (faster-whisper, beam 5, Silero VAD filter: ``tests.bench.realtime.batch_text``).
The issue's target is the gap: streamed WER minus batch WER ≤ 0.02.

Prints a line per file and writes ``bench-results/streaming_wer.json`` (with the committed
utterances, for reading the errors). About 1.5 × the audio's length on the 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from tests.bench import longaudio
from tests.bench import realtime as rt

OUT = Path("bench-results/streaming_wer.json")
FRAME = 1600  # 100 ms at 16 kHz, as the realtime benchmark sends


def stream(model, samples: np.ndarray) -> tuple[list[dict], list[tuple[float, float]]]:
    """The committed utterances of ``samples`` fed frame by frame, and the decodes' stats."""
    from dalston.streaming.decoder import WhisperDecoder
    from dalston.streaming.engine import StreamConfig, StreamingTranscriber

    engine = StreamingTranscriber(WhisperDecoder(model), StreamConfig())
    events = []
    for i in range(0, len(samples), FRAME):
        events += engine.feed(samples[i : i + FRAME])
    events += engine.finish()
    return [e for e in events if e["type"] == "final" and e["text"]], engine.decode_stats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=240.0, help="synthetic speech length")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    from faster_whisper import WhisperModel

    model = WhisperModel(rt.model_path(), device="cpu", compute_type="int8", cpu_threads=2)
    synthetic, text = longaudio.build(args.seconds)
    silence = np.zeros(int(16000 * rt.TRAILING_SILENCE), dtype="float32")
    name = f"synthetic-{args.seconds:g}s"
    audio = {name: np.concatenate([synthetic, silence]), "jfk.flac": rt.load_audio("jfk.flac")}
    reference = {name: text, "jfk.flac": rt.REFERENCE["jfk.flac"]}
    batch = {key: rt.batch_text(model, samples) for key, samples in audio.items()}
    results = {}
    for key, samples in audio.items():
        began = time.perf_counter()
        finals, stats = stream(model, samples)
        streamed = " ".join(f["text"] for f in finals)
        took = sorted(t for _, t in stats)
        results[key] = {
            "streamed_wer": rt._wer(reference[key], streamed),
            "batch_wer": rt._wer(reference[key], batch[key]),
            "wer_vs_batch": rt._wer(batch[key], streamed),
            "decodes": len(took),
            "decode_p50_s": round(took[len(took) // 2], 3) if took else None,
            "decode_max_s": round(took[-1], 3) if took else None,
            "wall_s": round(time.perf_counter() - began, 1),
            "utterances": [
                {"start": f["start"], "end": f["end"], "reason": f["reason"], "text": f["text"]}
                for f in finals
            ],
            "batch_text": batch[key],
        }
        r = results[key]
        print(
            f"{key}: streamed WER {r['streamed_wer']}, batch {r['batch_wer']}, "
            f"gap {r['streamed_wer'] - r['batch_wer']:+.4f} (target ≤ 0.02); vs batch "
            f"{r['wer_vs_batch']}; {r['decodes']} decodes, p50 {r['decode_p50_s']} s, "
            f"max {r['decode_max_s']} s",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(f"(JSON: {args.out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
