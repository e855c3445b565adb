"""``DALSTON_ENGINE_PLUGINS=tests.fakes_whisperx``: whisperx-full requests are served by the
stand-in (its real weights cannot be had offline), so its one-task canvas runs end to end."""

from dalston import engines
from tests.fakes import FakeFullPipeline

engines.register("pipeline", "whisperx-full", FakeFullPipeline)
