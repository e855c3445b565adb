"""Audio I/O with PyAV: probe, decode any container to 16 kHz float PCM, write PCM16 WAV.

PyAV bundles its own FFmpeg libraries, so no ``ffmpeg`` binary is needed and decoding is
about twice as fast as spawning one. Everything here is pure (paths and arrays in, arrays
and plain data out).
"""

from __future__ import annotations

import dataclasses
import io
import wave
from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 16000


@dataclasses.dataclass
class Probe:
    container: str
    codec: str
    channels: int
    sample_rate: int
    duration: float | None  # as declared by the container, if it declares one


class AudioTooLong(Exception):
    """The container declares more audio than allowed (``probe``'s ``max_seconds``)."""

    def __init__(self, seconds: float):
        super().__init__(f"{seconds:.0f} s of audio")
        self.seconds = seconds


def declared_seconds(container) -> float | None:
    """The longest audio stream's duration as an open container declares it (None: it does
    not), from its metadata alone.

    The edge refuses a file longer than ``DALSTON_MAX_AUDIO_SECONDS`` from this before
    decoding or storing anything: a few MB of compressed silence can hold days of audio,
    and decoding it to measure it is the cost the limit exists to avoid. A header can lie;
    prepare enforces the limit again on the samples it actually decodes.
    """
    best = None
    for stream in container.streams.audio:
        if stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
            best = seconds if best is None else max(best, seconds)
    if best is None and container.duration is not None:
        best = container.duration / av.time_base
    return best


def probe(path: Path, max_seconds: float | None = None) -> Probe:
    """Open ``path`` and check it holds decodable audio (one open of the container).

    Raises:
        AudioTooLong: its header declares more than ``max_seconds`` (checked before a
            frame is decoded).
        ValueError: the file is not audio PyAV can decode (with a reason for a person).
    """
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if max_seconds is not None:
                declared = declared_seconds(container)
                if declared is not None and declared > max_seconds:
                    raise AudioTooLong(declared)
            streams = container.streams.audio
            if not streams:
                raise ValueError("the file has no audio stream")
            stream = streams[0]
            # Decode a first frame: a header alone does not prove the data is audio.
            got_frame = False
            for frame in container.decode(stream):
                got_frame = frame.samples > 0
                break
            if not got_frame:
                raise ValueError("the audio stream holds no decodable samples")
            duration = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            return Probe(
                container=container.format.name,
                codec=stream.codec_context.name,
                channels=stream.codec_context.channels or 1,
                sample_rate=stream.codec_context.sample_rate or 0,
                duration=duration,
            )
    except ValueError:
        raise
    except (av.FFmpegError, OSError, UnicodeDecodeError, IndexError) as exc:
        raise ValueError(f"not a readable audio file ({exc.__class__.__name__}: {exc})") from exc


def declared_wav_seconds(path: Path) -> float | None:
    """The duration a RIFF/WAV header declares (FFmpeg trusts the file size instead).

    A WAV cut short in transfer still decodes; comparing the two tells the user so.
    """
    with open(path, "rb") as src:
        head = src.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        byte_rate = None
        while True:
            chunk = src.read(8)
            if len(chunk) < 8:
                return None
            size = int.from_bytes(chunk[4:8], "little")
            if chunk[:4] == b"fmt ":
                fmt = src.read(size)
                byte_rate = int.from_bytes(fmt[8:12], "little") if len(fmt) >= 12 else None
            elif chunk[:4] == b"data":
                return size / byte_rate if byte_rate and size < 0xFFFFFFF0 else None
            else:
                src.seek(size + (size & 1), 1)


@dataclasses.dataclass
class Decoded:
    """16 kHz float32 audio: ``channels`` has shape (n_channels, n_samples)."""

    channels: np.ndarray
    probe: Probe
    decode_errors: int

    @property
    def mono(self) -> np.ndarray:
        return downmix(self.channels)

    @property
    def duration(self) -> float:
        return self.channels.shape[1] / SAMPLE_RATE


def decode(path: Path) -> Decoded:
    """Decode the first audio stream of ``path`` to 16 kHz float32, keeping every channel.

    A stream that breaks off (a truncated upload) yields the audio up to the break, and
    ``decode_errors`` counts the packets that could not be decoded. Holds the whole file in
    memory (about 0.23 GB per hour and channel): prepare uses :class:`BlockDecoder` instead.

    Raises:
        ValueError: nothing decodable in the file.
    """
    decoder = BlockDecoder(path)
    blocks = list(decoder.blocks())
    if not blocks:
        raise ValueError("the file holds no decodable audio")
    data = np.concatenate(blocks, axis=1).astype(np.float32, copy=False)
    return Decoded(channels=data, probe=decoder.probe, decode_errors=decoder.errors)


#: Samples per block :class:`BlockDecoder` yields (about 20 s at 16 kHz).
BLOCK_SAMPLES = 20 * SAMPLE_RATE


class BlockDecoder:
    """Decode ``path`` to 16 kHz float32 in blocks of (n_channels, <= block) samples.

    Memory stays that of one block whatever the file's length: this is what bounds
    prepare's memory. The resampler is one stateful object across the whole stream, so the
    concatenated blocks are exactly what one :func:`decode` call gives. ``max_samples``
    stops decoding there (``truncated`` then says so): a file whose header understates its
    length cannot make prepare decode more than the limit. After iterating, ``samples`` is
    the count yielded and ``errors`` the packets that could not be decoded.

    Raises:
        ValueError: (on construction) the file is not decodable audio.
    """

    def __init__(self, path: Path, max_samples: int | None = None, block: int = BLOCK_SAMPLES):
        self.path = path
        self.probe = probe(path)
        if self.probe.container == "wav":
            self.probe.duration = declared_wav_seconds(path) or self.probe.duration
        self.max_samples = max_samples
        self.block = block
        self.samples = 0
        self.errors = 0
        self.truncated = False

    def _frames(self):
        with av.open(str(self.path), metadata_errors="ignore") as container:
            stream = container.streams.audio[0]
            resampler = None
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    self.errors += 1
                    continue
                for frame in frames:
                    if resampler is None:
                        nb = frame.layout.nb_channels
                        layout = frame.layout.name if nb <= 8 else "mono"
                        resampler = av.AudioResampler(
                            format="fltp", layout=layout, rate=SAMPLE_RATE
                        )
                    for out in resampler.resample(frame):
                        yield out.to_ndarray()
            if resampler is not None:
                for out in resampler.resample(None):
                    yield out.to_ndarray()

    def blocks(self):
        """The decoded audio as float32 arrays of shape (n_channels, <= ``block``)."""
        pending: list[np.ndarray] = []
        held = 0
        frames = self._frames()
        try:
            for part in frames:
                if self.max_samples is not None and self.samples + held + part.shape[1] > (
                    self.max_samples
                ):
                    part = part[:, : self.max_samples - self.samples - held]
                    self.truncated = True
                pending.append(part)
                held += part.shape[1]
                while held >= self.block:
                    data = np.concatenate(pending, axis=1)
                    out, rest = data[:, : self.block], data[:, self.block :]
                    pending, held = ([rest] if rest.shape[1] else []), rest.shape[1]
                    self.samples += out.shape[1]
                    yield np.ascontiguousarray(out, dtype=np.float32)
                if self.truncated:
                    break
        finally:
            frames.close()
        if held:
            self.samples += held
            yield np.concatenate(pending, axis=1).astype(np.float32, copy=False)


def downmix(channels: np.ndarray) -> np.ndarray:
    """Mono float32 from (n_channels, n) audio (the mean of the channels)."""
    if channels.shape[0] == 1:
        return channels[0]
    return channels.mean(axis=0).astype(np.float32)


def pcm16(samples: np.ndarray) -> bytes:
    """Float32 in [-1, 1] → little-endian PCM16 bytes (as :func:`to_wav_bytes` scales)."""
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2").tobytes()


class WavWriter:
    """A mono PCM16 WAV written block by block to ``path`` (the header is fixed on close)."""

    #: The header ``wave`` writes before the samples of a PCM file (RIFF, fmt, data).
    HEADER_BYTES = 44

    def __init__(self, path: Path, sample_rate: int = SAMPLE_RATE):
        self.path = path
        self._file = open(path, "wb")
        self._out = wave.open(self._file, "wb")
        self._out.setnchannels(1)
        self._out.setsampwidth(2)
        self._out.setframerate(sample_rate)
        self.samples = 0

    def write(self, samples: np.ndarray) -> None:
        self._out.writeframesraw(pcm16(samples))
        self.samples += len(samples)

    def copy_range(self, start: int, end: int, dest: Path) -> Path:
        """Samples ``[start, end)`` written so far as a WAV of their own, while writing goes on.

        The same bytes :func:`copy_wav_range` would give from the finished file.
        """
        end = min(end, self.samples)
        self._file.flush()
        with open(self.path, "rb") as src, wave.open(str(dest), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(self._out.getframerate())
            src.seek(self.HEADER_BYTES + 2 * start)
            left = 2 * max(0, end - start)
            while left > 0:
                data = src.read(min(2 * BLOCK_SAMPLES, left))
                if not data:
                    break
                out.writeframesraw(data)
                left -= len(data)
        return dest

    def close(self) -> None:
        self._out.close()  # fixes the header; the file is ours to close
        self._file.close()


def copy_wav_range(src: Path, dest: Path, start: int, end: int, block: int = BLOCK_SAMPLES):
    """Write samples ``[start, end)`` of a PCM16 mono WAV as a WAV of their own, in blocks.

    The bytes are those :func:`to_wav_bytes` would write for the same samples (PCM16
    survives the float round trip unchanged), without holding the range in memory.
    """
    with wave.open(str(src), "rb") as reader, wave.open(str(dest), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(reader.getframerate())
        reader.setpos(min(start, reader.getnframes()))
        left = max(0, end - start)
        while left > 0:
            frames = reader.readframes(min(block, left))
            if not frames:
                break
            out.writeframesraw(frames)
            left -= len(frames) // 2
    return dest


def read_wav_range(path: Path, start: int, end: int) -> np.ndarray:
    """Samples ``[start, end)`` of a PCM16 mono WAV file as float32 (see :func:`read_wav_bytes`)."""
    with wave.open(str(path), "rb") as src:
        src.setpos(min(start, src.getnframes()))
        pcm = np.frombuffer(src.readframes(max(0, end - start)), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0


def to_wav_bytes(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Mono float32 in [-1, 1] → PCM16 WAV bytes.

    Scaled by 32768 and rounded, the inverse of :func:`read_wav_bytes` and of FFmpeg's
    s16 → float conversion, so audio that came from 16-bit samples survives unchanged.
    """
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm16(samples))
    return buf.getvalue()


def read_wav_bytes(data: bytes) -> np.ndarray:
    """PCM16 mono WAV bytes (as written by :func:`to_wav_bytes`) → float32 samples."""
    with wave.open(io.BytesIO(data), "rb") as src:
        if src.getsampwidth() != 2 or src.getnchannels() != 1:
            raise ValueError("expected 16-bit mono WAV")
        pcm = np.frombuffer(src.readframes(src.getnframes()), dtype="<i2")
    return (pcm.astype(np.float32) / 32768.0).copy()
