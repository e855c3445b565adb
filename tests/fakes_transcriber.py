"""The fake transcriber (``tests.fakes``) in place of ``faster_whisper``, for scale and
scheduling tests: a worker started with ``DALSTON_ENGINE_PLUGINS=tests.fakes_transcriber``
answers every ordinary job with it, at the fixed cost ``DALSTON_FAKE_BEHAVIOUR=sleep:<s>``
sets per chunk (sleeping, so many workers fit on one machine). A request cannot name a
plugin engine, and jobs name ``faster_whisper`` by default; registered engines are found
before the shipped table, so this stands in for it. Never shipped: it lives in ``tests/``.
"""

from dalston import engines
from dalston.errors import ModelNotAvailable
from tests.fakes import FakeTranscriber


class ChunkOnlyFake(FakeTranscriber):
    """The fake, with no model to load: embedded mode's realtime worker stays off."""

    def load(self, *args, **kwargs):
        raise ModelNotAvailable("the fake transcriber has no model (realtime is off)")


engines.register("transcriber", "faster_whisper", ChunkOnlyFake)
