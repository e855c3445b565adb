"""pyannote.audio speaker diarization (``diarize_engine=pyannote``), for GPU hosts.

pyannote's pipelines are the reference for diarization quality, but their weights live only
on the Hugging Face hub (gated; models.md §6), so this engine runs where an operator has
put them: ``DALSTON_PYANNOTE_PIPELINE`` names a hub id (fetched with ``HF_TOKEN``, or found
in the hub cache when ``HF_HUB_OFFLINE=1``) or a local directory holding the pipeline's
``config.yaml``. Without the library or the weights the job fails with
``model_not_available`` and a message naming those settings; nothing is downloaded at
import time, and the pipeline is loaded once per process, on first use.

pyannote.audio 4 takes ``token=`` and returns an object whose ``speaker_diarization`` is the
annotation; 3.x takes ``use_auth_token=``, wants the ``config.yaml`` file itself rather than
its directory, and returns the annotation. Both are handled. Audio is handed over in memory
(``{"waveform", "sample_rate"}``): PyPI's torchaudio/torchcodec cannot decode files on a
CPU-only host.
"""

from __future__ import annotations

import inspect
import os
import threading

import numpy as np

from dalston.config import Settings, get_settings
from dalston.engines.base import Capabilities, SpeakerOptions
from dalston.errors import ModelNotAvailable

SAMPLE_RATE = 16000
DEFAULT_PIPELINE = "pyannote/speaker-diarization-community-1"
#: pyannote.audio 3.x cannot read community-1 (a 4.x pipeline); its newest pipeline instead.
DEFAULT_PIPELINE_V3 = "pyannote/speaker-diarization-3.1"

HOW_TO_FIX = (
    "Set DALSTON_PYANNOTE_PIPELINE to a local directory holding a downloaded pyannote "
    f"pipeline (its config.yaml), or to a hub id (default {DEFAULT_PIPELINE}) whose weights "
    "are in this worker's Hugging Face cache (HF_HUB_OFFLINE=1) or can be downloaded with "
    "HF_TOKEN (a token that has accepted the pipeline's conditions); or use "
    "diarize_engine=neural (or dvector), which need no hub."
)


def import_pyannote():
    """``(torch, Pipeline)``, or ModelNotAvailable saying how to install them."""
    try:
        import torch  # the optional ``gpu`` extra
        from pyannote.audio import Pipeline
    except (ImportError, OSError) as exc:  # OSError: PyPI's CUDA-only torchaudio build
        raise ModelNotAvailable(
            f"the pyannote diarization engine cannot import pyannote.audio here ({exc}): "
            "install the gpu extra (pip install 'dalston[gpu]') on this worker. " + HOW_TO_FIX
        ) from exc
    return torch, Pipeline


def load_pipeline(torch, Pipeline, settings: Settings):
    """The pipeline named by ``DALSTON_PYANNOTE_PIPELINE``, on the GPU when torch sees one."""
    takes_token = "token" in inspect.signature(Pipeline.from_pretrained).parameters
    source = settings.pyannote_pipeline or (
        DEFAULT_PIPELINE if takes_token else DEFAULT_PIPELINE_V3
    )
    checkpoint = source
    if os.path.isdir(source):
        if not os.path.isfile(os.path.join(source, "config.yaml")):
            raise ModelNotAvailable(
                f"DALSTON_PYANNOTE_PIPELINE={source} is a directory without a config.yaml. "
                + HOW_TO_FIX
            )
        if not takes_token:
            checkpoint = os.path.join(source, "config.yaml")
    elif os.path.isabs(source) or source.startswith("."):
        raise ModelNotAvailable(
            f"DALSTON_PYANNOTE_PIPELINE={source} does not exist on this worker. " + HOW_TO_FIX
        )
    token = settings.hf_token
    auth = {"token": token} if takes_token else {"use_auth_token": token}
    try:
        pipeline = Pipeline.from_pretrained(checkpoint, **auth)
    except Exception as exc:  # hub unreachable, gated, offline cache miss, bad checkpoint
        raise ModelNotAvailable(
            f"could not load the pyannote pipeline {source!r}: "
            f"{exc.__class__.__name__}: {str(exc)[:300]}. " + HOW_TO_FIX
        ) from exc
    if pipeline is None:  # pyannote's answer when the hub refuses (private or gated)
        raise ModelNotAvailable(
            f"the Hugging Face hub refused the pyannote pipeline {source!r} (gated or private; "
            "HF_TOKEN missing or without access). " + HOW_TO_FIX
        )
    if torch.cuda.is_available():
        pipeline.to(torch.device("cuda"))
    return pipeline


def annotation_turns(annotation) -> list[dict]:
    """Dalston turns ``[{start, end, speaker}]`` from a pyannote ``Annotation``.

    Speakers are renamed ``SPEAKER_00``, ``SPEAKER_01``… in order of first appearance, as
    every Dalston diarizer names them.
    """
    tracks = sorted(annotation.itertracks(yield_label=True), key=lambda t: (t[0].start, t[0].end))
    order: dict = {}
    turns = []
    for segment, _track, label in tracks:
        start, end = round(float(segment.start), 3), round(float(segment.end), 3)
        if end <= start:
            continue
        speaker = order.setdefault(label, f"SPEAKER_{len(order):02d}")
        turns.append({"start": start, "end": end, "speaker": speaker})
    return turns


class PyannoteDiarizer:
    name = "pyannote"
    capabilities = Capabilities(needs_gpu=True)

    def __init__(self, settings: Settings | None = None):
        self._settings = settings or get_settings()
        self._lock = threading.Lock()
        self._loaded = None

    def _load(self):
        with self._lock:
            if self._loaded is None:
                torch, Pipeline = import_pyannote()
                self._loaded = torch, load_pipeline(torch, Pipeline, self._settings)
        return self._loaded

    def diarize(
        self,
        samples: np.ndarray,
        regions: list[dict] | None = None,
        options: SpeakerOptions = SpeakerOptions(),
    ) -> list[dict]:
        """Speaker turns ``[{start, end, speaker}]`` (speaker ids ``SPEAKER_00``…).

        ``regions`` (Dalston's VAD) are not needed: pyannote finds speech itself.
        ``threshold`` (ElevenLabs' ``diarization_threshold``) is ignored: the pipeline's own
        clustering threshold is part of its configuration.
        """
        torch, pipeline = self._load()
        waveform = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)[None, :])
        counts = dict(
            num_speakers=options.num_speakers,
            min_speakers=options.min_speakers,
            max_speakers=options.max_speakers,
        )
        with self._lock:  # one pipeline per process, used by one task at a time
            output = pipeline(
                {"waveform": waveform, "sample_rate": SAMPLE_RATE},
                **{k: v for k, v in counts.items() if v is not None},
            )
        # pyannote.audio 4: DiarizeOutput(speaker_diarization=Annotation, ...); 3.x: Annotation
        return annotation_turns(getattr(output, "speaker_diarization", output))
