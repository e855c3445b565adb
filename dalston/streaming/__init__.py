"""The worker side of realtime transcription: the streaming engine and the realtime worker.

``engine.py`` turns a stream of 16 kHz samples into VAD events, partial transcripts and
committed utterances (pure: a decoder and a VAD in, plain dict events out);
``decoder.py`` is its faster-whisper decoder, ``vad.py`` Silero VAD run frame by frame;
``worker.py`` serves sessions that the API relays through ``dalston.relay``. Only this
package and the entry point ``workers/realtime.py`` load models for realtime; the API
(``dalston.realtime``) never imports it (``setup.cfg`` ``[importlinter]``).
"""
