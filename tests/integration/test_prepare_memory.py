"""prepare's memory does not grow with the file's length, and the duration limit holds.

Each long-file case runs prepare in a fresh Python process (so its peak resident memory is
its own) on a FLAC built here: silence with the JFK clip every five minutes, a few MB for
hours of audio. Issue 9: peak RSS under 300 MB on a 1-hour file, and a 3-hour file
completes. The peak is printed (``-s``) for the report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from dalston import audio
from dalston.stages import prepare
from dalston.storage import keys
from dalston.storage.local import LocalStore
from tests.audio_helpers import load

REPO = Path(__file__).resolve().parents[2]
LIMIT_MB = 300

# Peak RSS from /proc (VmHWM), not getrusage: Linux keeps ru_maxrss across execve, so a child
# of a large pytest process would report the parent's peak, not its own.
CHILD = """
import json, sys
from pathlib import Path
from dalston.stages import prepare
from dalston.storage.local import LocalStore
store = LocalStore(Path(sys.argv[1]))
manifest = prepare.decode_and_plan("long", store, chunk_seconds=120, max_seconds=36000)
print(json.dumps({
    "peak_rss_mb": next(
        int(line.split()[1]) / 1024
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmHWM:")
    ),
    "duration": manifest["duration"],
    "chunks": len(manifest["chunks"]),
    "speech": len(manifest["speech"]),
}))
"""


def write_long_flac(path: Path, seconds: int, speech: np.ndarray, every: float = 300.0) -> Path:
    """Silence with ``speech`` every ``every`` seconds, encoded block by block (16 kHz FLAC)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("flac", rate=16000, layout="mono")
        block = 16000 * 10
        clip_at = {int(t * 16000) for t in np.arange(5.0, seconds, every)}
        for start in range(0, seconds * 16000, block):
            data = np.zeros(block, dtype=np.float32)
            for at in clip_at:
                if start <= at < start + block:
                    n = min(len(speech), block - (at - start))
                    data[at - start : at - start + n] = speech[:n]
            pcm = (data * 32767).astype("<i2")[None]
            frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
            frame.sample_rate = 16000
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def run_prepare(tmp_path: Path, source: Path) -> dict:
    store = LocalStore(tmp_path / "store")
    store.put_file(keys.source("long"), source)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "store")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def jfk(fixtures_dir):
    return load(fixtures_dir / "jfk.flac")


@pytest.mark.parametrize("hours", [1, 3])
def test_prepare_memory_is_bounded(hours, jfk, tmp_path):
    source = write_long_flac(tmp_path / f"{hours}h.flac", hours * 3600, jfk)
    result = run_prepare(tmp_path, source)
    print(
        f"\nprepare on a {hours}-hour FLAC ({source.stat().st_size / 1e6:.1f} MB): "
        f"peak RSS {result['peak_rss_mb']:.0f} MB, {result['chunks']} chunks"
    )
    assert result["duration"] == hours * 3600
    assert result["speech"] >= 12 * hours, "the clip every five minutes is found"
    assert result["peak_rss_mb"] < LIMIT_MB


def test_a_header_that_understates_the_length_is_cut_at_the_limit(jfk, tmp_path):
    """A FLAC whose STREAMINFO declares 5 s but holds 40: prepare stops at the 20 s limit."""
    path = write_long_flac(tmp_path / "liar.flac", 40, jfk, every=40.0)
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO first
    info = 8  # total samples: low 4 bits of STREAMINFO byte 13, then bytes 14-17
    total = 5 * 16000
    data[info + 13] = (data[info + 13] & 0xF0) | (total >> 32)
    data[info + 14 : info + 18] = (total & 0xFFFFFFFF).to_bytes(4, "big")
    path.write_bytes(bytes(data))
    assert audio.probe(path).duration == 5.0
    store = LocalStore(tmp_path / "store")
    store.put_file(keys.source("liar"), path)
    manifest = prepare.decode_and_plan("liar", store, chunk_seconds=120, max_seconds=20)
    assert manifest["duration"] == 20.0
    assert any("DALSTON_MAX_AUDIO_SECONDS" in w for w in manifest["warnings"])
    assert manifest["speech"] and manifest["speech"][0]["start"] < 6.0
    stored = audio.read_wav_bytes(store.get_bytes(manifest["audio_key"]))
    assert len(stored) == 20 * 16000
