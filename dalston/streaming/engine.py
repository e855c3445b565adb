"""The streaming engine: 16 kHz samples in, VAD events, partials and committed utterances out.

Pure and transport-agnostic: the realtime worker feeds it what a session receives and
relays the events it returns; tests feed it files. Three ideas:

* **Endpointing with Silero VAD**, the model the batch pipeline uses (``vad.py`` runs it
  frame by frame). Speech starts at a frame at or above ``vad_threshold`` and ends after
  ``min_silence_ms`` below ``vad_threshold - 0.15`` (Silero's hysteresis); bursts shorter
  than ``min_speech_ms`` are dropped. An utterance is decoded from ``speech_pad_ms``
  before its start to ``speech_pad_ms`` after its end.
* **Partials that only revise their tail (LocalAgreement-2).** Every ``partial_interval``
  seconds of new audio the current window is decoded again; the words on which two
  consecutive decodes agree (their longest common prefix) are *confirmed* and never change
  afterwards, the rest is the unstable tail. A partial is the confirmed text plus the tail,
  so what a client has seen as stable is never sent differently, and the committed text
  starts with it.
* **Bounded compute per partial.** The window decoded starts at ``buf_start`` and is moved
  forward to the end of the last confirmed word whenever it grows past ``window_seconds``;
  the confirmed words before it go into the prompt instead (with the session's earlier
  committed text and the client's ``prompt``). A decode therefore costs the same at
  second 5 and at second 500 of an utterance. Under load partials space out
  (``partial_duty``) rather than fall behind the audio.
* **Commits before partials.** Sessions share one model (``decoder.ModelGate``): a
  partial is decoded only when the model is free and no commit waits, otherwise it is
  skipped and tried again at the next frame with newer audio, so feeding audio never
  waits behind other sessions' decodes for a partial; commit decodes (the one decoded
  ahead at the end of speech included) queue and go first.
* **Nothing left to decode at the end of speech.** The commit's window is decoded as soon
  as the VAD has heard ``TRAILING_PAD`` of silence, while the rest of ``min_silence_ms``
  is still being waited for; when the silence is confirmed the commit takes that decode
  from a one-entry cache (keyed by window, prompt, language, hotwords, beam), as does a
  manual commit with no audio since the last partial. Measured in ``make bench-realtime``.
* **What a word is confirmed from.** A partial decodes the whole window (``buf_start`` to
  now, at most ``window_seconds``) and confirms only words that end ``CONFIRM_MARGIN`` (3 s)
  before it: a confirmed word was heard twice with the utterance before it and 3 s of
  speech after it, as a batch decode hears it. Confirming sooner from short decodes cost
  the committed text a third more errors (see ``CONFIRM_MARGIN``).
* **A commit decodes only what is not confirmed.** The confirmed words never change, so
  a commit's decode (and the one ahead of it) starts at the end of a confirmed word at
  least ``TAIL_SECONDS`` before its end (:meth:`_tail_start`; the last confirmed word is
  never the cut, so it is heard again whole and dropped as already decided), with the
  words before it in the prompt. Whisper pads every window to 30 s, so the encoder costs
  the same for any window and what this saves is the tokens decoded again: on the 2-core
  machine a 15 s window took 2.0–2.3 s (beam 5) against 0.5–0.9 s for 3–5 s. That keeps a
  commit inside the silence it waits for, and several sessions' commits in a row short.

An utterance is committed on end of speech (``commit_on_vad``), on :meth:`commit` (a
manual commit) or when it reaches ``max_utterance_seconds``; without ``commit_on_vad``
the utterances that VAD ends are kept pending and committed together by the next
:meth:`commit`. Decoding is deterministic (temperature 0, beam search, no fallback).

Events are plain dicts: ``speech_start``/``speech_end`` (``time``), ``partial`` (``text``,
``stable``: its confirmed prefix, ``start``, ``end``) and ``final`` (``text``, ``start``,
``end``, ``words`` ``[{text, start, end, confidence}]``, ``language``,
``language_probability``, ``confidence``: the mean word probability, ``reason``:
``vad|manual|max_length|end``). Times are seconds from the start of the stream.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time

import numpy as np

from dalston.streaming.vad import FRAME, StreamingVad

log = logging.getLogger(__name__)

SR = 16000
#: Decodes of less audio than this are skipped (Whisper writes nonsense for blips).
MIN_DECODE_SECONDS = 0.3
#: No partial before this much audio since speech started: Whisper invents text
#: ("Thank you.") for a fraction of a second of speech.
MIN_PARTIAL_SPEECH = 1.0
#: A burst of speech shorter than this is not decoded on its own, whatever
#: ``min_speech_ms`` says: Whisper hears words ("in the back.") in a cough or a breath.
MIN_UTTERANCE_SPEECH = 0.4
#: Silence kept after the end of speech (seconds; the padding before is speech_pad_ms).
TRAILING_PAD = 0.2
#: How many characters of earlier text the prompt carries (Whisper reads up to 223 tokens).
PROMPT_CHARS = 400
#: A word is confirmed only if it ends this long before the audio decoded so far does.
#: Whisper hears a word better with the speech after it: with 0.5 s, two decodes agreed
#: on the word the window cut through ("yet" for the first half of "yesterday") and on
#: many a mishearing, and on 240 s of synthetic speech the committed text scored WER 0.223
#: against batch's 0.116; with 3 s (and partials over the whole window), 0.172.
CONFIRM_MARGIN = 3.0
#: Nothing is confirmed before an utterance has this much audio: on a second of speech
#: two consecutive decodes readily agree on the same mishearing ("so am I" for "so my"),
#: which the commit, seeing the whole utterance, would have heard right.
MIN_CONFIRM_SECONDS = 2.5
#: Silero's hysteresis: speech ends below threshold minus this.
HYSTERESIS = 0.15
#: The prompt of a decode that has no earlier text. Whisper decodes a first utterance
#: without ``<|startofprev|>`` in a different mode from every later one (tiny.en hears "so
#: am I fellow Americans" for "so my fellow Americans" without it, with it the same as the
#: batch transcript, which sees the rest of the audio); a blank previous text keeps every
#: decode of a session in the one mode. It also makes tiny.en invent a sentence opening
#: for audio that starts mid-speech (trn06), which the decoder drops: those words align to
#: no audio (``decoder._drop_unaligned``).
NO_PROMPT = " "
#: A decode after a forced commit whose words skip speech is decoded again without the
#: earlier text: Whisper, prompted with a phrase cut mid-way, may continue the phrase from
#: the prompt and drop what the audio says ("can do for" + "you, ask what you can do for your
#: country" heard as "your country."). Its tell: a word stretched over the skipped audio,
#: or too few words for the window. These bounds are far outside speech's (a word of
#: ~0.3 s, ~2.5 words a second).
SKIP_WORD_SECONDS = 1.2
SKIP_WORDS_PER_SECOND = 0.8
SKIP_MIN_WINDOW = 2.0
#: A decode (``_tail_start``) has at least this much audio before its end when
#: the utterance has it: on a second or two Whisper invents an ending ("Thank you.").
TAIL_SECONDS = 4.0


@dataclasses.dataclass(frozen=True)
class StreamConfig:
    """How one session is endpointed and decoded (every field may come from a client)."""

    language: str | None = None
    vad_threshold: float = 0.5
    min_speech_ms: int = 250
    min_silence_ms: int = 1000
    speech_pad_ms: int = 400
    commit_on_vad: bool = True
    interim_results: bool = True
    partial_interval: float = 0.5
    window_seconds: float = 15.0
    max_utterance_seconds: float = 30.0
    beam_size: int = 5
    hotwords: tuple[str, ...] = ()
    prompt: str | None = None
    #: A partial waits at least this many times as long as the last decode took (waiting
    #: for the shared model included; 0: never): with 2 a session keeps the model busy at
    #: most half the time, and sessions sharing a worker space their partials out instead
    #: of falling behind the audio. The end-of-speech decode (``_schedule``) never waits.
    #: Off by default because it makes the partials depend on the clock; the realtime
    #: worker turns it on (``DALSTON_REALTIME_PARTIAL_DUTY``).
    partial_duty: float = 0.0


def _norm(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())


def join_words(words: list[dict]) -> str:
    return " ".join(w["text"] for w in words).strip()


class StreamingTranscriber:
    """One session's stream. Not thread-safe: one caller feeds it.

    Args:
        decoder: has ``decode(samples, *, prompt, language, hotwords, beam_size)`` returning
            ``Decoded`` (``decoder.WhisperDecoder``).
        config: the session's settings; :meth:`update` changes some mid-stream.
        vad: a ``StreamingVad`` (a fresh one by default).
    """

    def __init__(
        self, decoder, config: StreamConfig | None = None, vad: StreamingVad | None = None
    ):
        self.decoder = decoder
        self.config = config or StreamConfig()
        self.vad = vad or StreamingVad()
        self.language = self.config.language
        self.language_probability: float | None = None
        self.samples_in = 0  # samples fed so far (= processed: feed is synchronous)
        self.speech_samples = 0
        self.finals: list[dict] = []
        #: (seconds of audio decoded, seconds it took) per decode, for the benchmark.
        self.decode_stats: list[tuple[float, float]] = []
        #: The utterance's length (seconds) at each of those decodes.
        self.decode_utterance: list[float] = []
        self._audio = np.zeros(0, dtype="float32")
        self._base = 0  # absolute sample index of self._audio[0]
        self._frame_end = 0  # absolute sample index where the VAD has looked up to
        self._in_speech = False
        self._speech_start = 0
        self._temp_end: int | None = None
        self._pending: list[dict] = []  # finished utterances not yet committed (manual)
        self._cache: tuple | None = None  # the last decode: (its key, Decoded)
        self._last_took = 0.0  # seconds the last decode took, waiting for the model included
        #: Commits and partials served by the last decode instead of a new one.
        self.cache_hits = 0
        self.prompt_retries = 0  # decodes redone without the earlier text (_skips_speech)
        self._reset_utterance(0)

    # -- public -------------------------------------------------------------------------
    @property
    def audio_seconds(self) -> float:
        return self.samples_in / SR

    @property
    def speech_seconds(self) -> float:
        return self.speech_samples / SR

    def update(self, **changes) -> None:
        """Change settings mid-stream (``language``, ``vad_threshold``, ``min_silence_ms``…)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        self.config = dataclasses.replace(self.config, **changes)
        if "language" in changes:
            self.language = changes["language"] or None

    def feed(self, samples: np.ndarray) -> list[dict]:
        """Take more 16 kHz mono float32 samples; returns the events they cause."""
        events: list[dict] = []
        samples = np.asarray(samples, dtype="float32").reshape(-1)
        if samples.size == 0:
            return events
        self._audio = np.concatenate([self._audio, samples])
        self.samples_in += samples.size
        probs = self.vad(samples)
        for p in probs:
            start, self._frame_end = self._frame_end, self._frame_end + FRAME
            self._vad_step(float(p), start, self._frame_end, events)
        if self._in_speech:
            self._schedule(events)
        self._forget()
        return events

    def _schedule(self, events: list[dict]) -> None:
        """Decode now if a partial is due, or if speech may just have ended.

        Once the VAD has heard ``TRAILING_PAD`` of silence, the window the end-of-speech
        commit will decode (up to the start of that silence plus the pad) is complete, so it
        is decoded at once, ahead of the commit: by the time ``min_silence_ms`` of silence
        confirm the end, the commit finds that decode in the cache (:meth:`_decode`) and
        costs nothing. Until speech resumes there is nothing new to decode, so no further
        partial runs over the silence.

        The decode ahead is a guess (most short pauses are not the end of speech), so it
        takes the shared model only if it is free until half of ``min_silence_ms`` has
        passed, and queues as a commit (``urgent``) from then on: other sessions' commits
        do not wait behind one session's pauses.
        """
        if self._temp_end is not None:
            end = self._temp_end + self._tail()
            if self._presumed_end == self._temp_end or self.samples_in < end:
                return
            silence = self.samples_in - self._temp_end
            urgent = silence >= self.config.min_silence_ms * SR / 2000
            if self._ahead(events, end, urgent):
                self._presumed_end = self._temp_end
            return
        gap = max(self.config.partial_interval, self.config.partial_duty * self._last_took)
        due = self.samples_in - self._last_decode >= gap * SR
        heard = self.samples_in - self._speech_start >= MIN_PARTIAL_SPEECH * SR
        if due and heard:
            self._partial(events, self.samples_in)

    def _tail(self) -> int:
        """Samples of silence kept after the end of speech (less than before it)."""
        return min(int(self.config.speech_pad_ms * SR / 1000), int(TRAILING_PAD * SR))

    def commit(self, reason: str = "manual") -> list[dict]:
        """Commit everything since the last commit (a manual commit, or the end of a session)."""
        events: list[dict] = []
        if self._in_speech:
            if self._temp_end is not None:
                # The VAD hears silence since _temp_end (too short yet to end the speech):
                # as at the end of speech, keep less of it than Whisper would fill.
                words = self._flush(min(self._temp_end + self._tail(), self.samples_in))
                words = [w for w in words if w["start"] < self._temp_end / SR - 0.1]
            else:
                words = self._flush(self.samples_in)
            self._pending.extend(words)
            self._reset_utterance(self.samples_in)
        events.append(self._final(self._pending, reason))
        self._pending = []
        return events

    def clear(self) -> list[dict]:
        """Forget the audio and text since the last commit."""
        self._pending = []
        self._reset_utterance(self.samples_in)
        self._forget()
        return []

    def finish(self) -> list[dict]:
        """End of stream: close open speech and commit what is left (if anything)."""
        events: list[dict] = []
        had_speech = self._in_speech
        if had_speech or self._pending:
            events.extend(e for e in self.commit("end") if e["text"])
        if had_speech:
            self._in_speech = False
            events.insert(0, {"type": "speech_end", "time": round(self.samples_in / SR, 3)})
        return events

    # -- VAD ----------------------------------------------------------------------------
    def _vad_step(self, p: float, start: int, end: int, events: list[dict]) -> None:
        cfg = self.config
        if not self._in_speech:
            if p >= cfg.vad_threshold:
                self._in_speech = True
                self._speech_start = start
                self._temp_end = None
                pad = int(cfg.speech_pad_ms * SR / 1000)
                self._reset_utterance(max(self._base, start - pad, 0))
                events.append({"type": "speech_start", "time": round(start / SR, 3)})
            return
        if p >= cfg.vad_threshold:
            self._temp_end = None
        elif p < cfg.vad_threshold - HYSTERESIS:
            if self._temp_end is None:
                self._temp_end = start
            if end - self._temp_end >= cfg.min_silence_ms * SR / 1000:
                self._end_speech(self._temp_end, events)
                return
        if (end - self._utt_start) >= cfg.max_utterance_seconds * SR:
            self._max_length(end, events)

    def _end_speech(self, speech_end: int, events: list[dict]) -> None:
        cfg = self.config
        self._in_speech = False
        duration = speech_end - self._speech_start
        events.append({"type": "speech_end", "time": round(speech_end / SR, 3)})
        shortest = max(cfg.min_speech_ms / 1000, MIN_UTTERANCE_SPEECH)
        if duration < shortest * SR and not self._confirmed:
            self._reset_utterance(speech_end)
            return
        self.speech_samples += duration
        # Less silence after than before: Whisper fills trailing silence ("Thank you."), and
        # drop words that start where VAD already heard silence.
        words = self._flush(min(speech_end + self._tail(), self.samples_in))
        words = [w for w in words if w["start"] < speech_end / SR - 0.1]
        self._reset_utterance(speech_end)
        if cfg.commit_on_vad:
            events.append(self._final(self._pending + words, "vad"))
            self._pending = []
        else:
            self._pending.extend(words)
            if cfg.interim_results and words:
                events.append(self._partial_event(self._pending, []))

    def _max_length(self, end: int, events: list[dict]) -> None:
        """An utterance reached its maximum length: commit its confirmed words (or all of it)."""
        if self._confirmed:
            words, cut = self._confirmed, int(self._confirmed[-1]["end"] * SR)
            hyp = self._hyp
        else:
            words, cut, hyp = self._flush(end), end, []
        self.speech_samples += cut - self._speech_start
        self._reset_utterance(max(cut, self._base))
        self._hyp = hyp
        self._speech_start = self._utt_start
        if self.config.commit_on_vad:
            events.append(self._final(self._pending + words, "max_length"))
            self._pending = []
        else:
            self._pending.extend(words)

    # -- decoding -----------------------------------------------------------------------
    def _reset_utterance(self, start: int, window_start: int | None = None) -> None:
        self._utt_start = start
        self._buf_start = start if window_start is None else window_start
        self._last_decode = start
        self._confirmed: list[dict] = []
        self._hyp: list[dict] = []
        self._last_partial = None
        self._presumed_end: int | None = None  # the silence start decoded ahead (_schedule)

    def _done(self) -> list[dict]:
        """Words already decided (committed, pending or confirmed), latest last."""
        committed = [w for f in self.finals[-3:] for w in f["words"]]
        return committed + self._pending + self._confirmed

    def _prompt(self, start: int) -> str | None:
        """The client's prompt and the decided text that is not in the audio from ``start``."""
        history = [f["text"] for f in self.finals[:-3]]
        history += [w["text"] for w in self._done() if w["end"] * SR <= start + 800]
        text = " ".join(p for p in [self.config.prompt or "", *history] if p).strip()
        return text[-PROMPT_CHARS:] or None

    def _decode(self, start: int, end: int, urgent: bool = True) -> list[dict] | None:
        """The words of ``start``–``end`` (stream times); ``None``: a partial shed (model busy)."""
        lo, hi = start - self._base, end - self._base
        window = self._audio[max(lo, 0) : max(hi, 0)]
        if window.size < MIN_DECODE_SECONDS * SR:
            return []
        prompt = self._prompt(start)
        hotwords = " ".join(self.config.hotwords) or None
        # The same audio with the same context decodes the same (deterministic): a commit
        # right after a partial over the same window (a manual commit with no audio since,
        # the end of speech decoded ahead by _schedule) reuses it instead of waiting for it.
        key = self._key(start, end)
        if self._cache is not None and self._cache[0] == key:
            out = self._cache[1]
            self.cache_hits += 1
        else:
            began = time.perf_counter()
            out = self.decoder.decode(
                window,
                prompt=prompt if prompt is not None else NO_PROMPT,
                language=self.language,
                hotwords=hotwords,
                beam_size=self.config.beam_size,
                urgent=urgent,
            )
            if out is None:
                return None
            if (
                prompt is not None
                and self._after_forced_cut()
                and _skips_speech(out.words, window.size / SR)
            ):
                again = self.decoder.decode(
                    window,
                    prompt=NO_PROMPT,
                    language=self.language,
                    hotwords=hotwords,
                    beam_size=self.config.beam_size,
                    urgent=urgent,
                )
                if again is not None and len(again.words) > len(out.words):
                    self.prompt_retries += 1
                    out = again
            self._last_took = time.perf_counter() - began
            self.decode_stats.append((window.size / SR, self._last_took))
            self.decode_utterance.append((end - self._utt_start) / SR)
            self._cache = (key, out)
        log.debug(
            "decoded %.2f–%.2f s in %.2f s: %s",
            start / SR,
            end / SR,
            self.decode_stats[-1][1],
            " ".join(f'{w["text"]}@{w["start"] + start / SR:.2f}' for w in out.words),
        )
        if self.language is None and out.language and (out.language_probability or 0) >= 0.5:
            self.language, self.language_probability = out.language, out.language_probability
        elif self.language_probability is None:
            self.language_probability = out.language_probability
        offset = start / SR
        limit = end / SR + 0.1
        return [
            dict(
                w, start=round(w["start"] + offset, 3), end=round(min(w["end"] + offset, limit), 3)
            )
            for w in out.words
            if w["start"] + offset < limit
        ]

    def _after_forced_cut(self) -> bool:
        """Whether the earlier text ends mid-phrase: the last commit was a forced one.

        Only then is a decode that skipped speech redone without it (``_skips_speech``):
        on meeting speech after a pause the retry cost WER (trn03: 0.065 → 0.152) and a
        second decode's latency.
        """
        return bool(self.finals) and self.finals[-1].get("reason") == "max_length"

    def _key(self, start: int, end: int) -> tuple:
        """What a decode of ``start``–``end`` depends on (the cache's key)."""
        hotwords = " ".join(self.config.hotwords) or None
        return (start, end, self._prompt(start), self.language, hotwords, self.config.beam_size)

    def _tail_start(self, end: int) -> int:
        """Where a commit's decode up to ``end`` starts: at a confirmed word's end.

        The latest end of a confirmed word (the last one's excepted) that leaves
        ``TAIL_SECONDS`` to decode. Not the last word's end: word times are those of an
        alignment, and a cut a little late would take the first sound of the next word
        away; the confirmed words in the window are decoded again and :meth:`_new_words`
        drops them.
        """
        start = self._buf_start
        for word in self._confirmed[:-1]:
            cut = int(word["end"] * SR)
            if cut > start and end - cut >= TAIL_SECONDS * SR:
                start = cut
        return start

    def _new_words(self, words: list[dict], start: int | None = None) -> list[dict]:
        """The decoded words that come after the decided ones (time, then n-gram overlap)."""
        start = self._buf_start if start is None else start
        done = [w for w in self._done() if w["end"] * SR > start]
        if not done:
            return words
        # By start time: Whisper stretches the end of a word before a pause over the pause,
        # so the next word would look older than it. A re-decoded last word that starts a
        # little later is caught by the overlap check below.
        last = done[-1]["start"]
        fresh = [w for w in words if w["start"] > last + 0.05]
        for k in range(min(5, len(fresh), len(done)), 0, -1):
            tail = [_norm(w["text"]) for w in done[-k:]]
            if [_norm(w["text"]) for w in fresh[:k]] == tail:
                return fresh[k:]
        return fresh

    def _ahead(self, events: list[dict], end: int, urgent: bool = True) -> bool:
        """Decode the end-of-speech commit's window now (``_schedule``), as a partial too.

        The same window and context as :meth:`_flush` at the end of speech will ask for, so
        that commit finds it in the cache; nothing is confirmed from it (that would move
        the commit's window).
        """
        start = self._tail_start(end)
        decoded = self._decode(start, end, urgent)
        if decoded is None:  # the model is busy and the silence still short: later
            return False
        self._last_decode = self.samples_in
        new = self._new_words(decoded, start)
        self._hyp = [w for w in new if w["start"] < (self._temp_end or end) / SR - 0.1]
        self._trim()
        self._emit_partial(events)
        return True

    def _partial(self, events: list[dict], end: int) -> None:
        start = self._buf_start  # the whole window: see "What a word is confirmed from"
        decoded = self._decode(start, end, urgent=False)
        if decoded is None:  # the model is busy: try again at the next frame
            return
        self._last_decode = self.samples_in
        new = self._new_words(decoded, start)
        agreed = 0
        horizon = end / SR - CONFIRM_MARGIN
        if end - self._utt_start < MIN_CONFIRM_SECONDS * SR:
            horizon = -1.0  # too little audio yet: two short decodes agree on mistakes
        for old, cur in zip(self._hyp, new):
            if _norm(old["text"]) != _norm(cur["text"]) or not _norm(cur["text"]):
                break
            if cur["end"] > horizon:
                break
            agreed += 1
        self._confirmed.extend(new[:agreed])
        self._hyp = new[agreed:]
        self._trim()
        self._emit_partial(events)

    def _emit_partial(self, events: list[dict]) -> None:
        if self.config.interim_results:
            event = self._partial_event(self._pending + self._confirmed, self._hyp)
            if event["text"] and event["text"] != self._last_partial:
                self._last_partial = event["text"]
                events.append(event)

    def _trim(self) -> None:
        """Keep the decode window under ``window_seconds`` (see the module docstring)."""
        limit = self.config.window_seconds * SR
        if self.samples_in - self._buf_start <= limit:
            return
        done = self._done()
        if done and done[-1]["end"] * SR > self._buf_start:
            self._buf_start = int(done[-1]["end"] * SR)
        if self.samples_in - self._buf_start > limit:
            # Nothing agreed for a whole window: confirm the tail's older half.
            horizon = (self.samples_in - limit / 2) / SR
            forced = [w for w in self._hyp if w["end"] <= horizon]
            self._confirmed.extend(forced)
            self._hyp = self._hyp[len(forced) :]
            self._buf_start = int(forced[-1]["end"] * SR) if forced else int(horizon * SR)

    def _flush(self, end: int) -> list[dict]:
        """Decode the rest of the utterance up to ``end``; return all its words.

        From :meth:`_tail_start`, unless the last decode ended at ``end`` with the context
        it would have now (a manual commit with no audio since the last partial, the end of
        speech decoded ahead): that decode is reused.
        """
        start = self._tail_start(end)
        if self._cache is not None and self._cache[0] == self._key(self._cache[0][0], end):
            start = self._cache[0][0]
        tail = self._new_words(self._decode(start, end), start)
        return self._confirmed + tail

    # -- events -------------------------------------------------------------------------
    def _partial_event(self, stable: list[dict], tail: list[dict]) -> dict:
        words = stable + tail
        return {
            "type": "partial",
            "text": join_words(words),
            "stable": join_words(stable),
            "start": words[0]["start"] if words else round(self._utt_start / SR, 3),
            "end": words[-1]["end"] if words else round(self.samples_in / SR, 3),
        }

    def _final(self, words: list[dict], reason: str) -> dict:
        words = [dict(w, confidence=round(w["confidence"], 4)) for w in words]
        confidence = round(float(np.mean([w["confidence"] for w in words])), 4) if words else None
        final = {
            "type": "final",
            "text": join_words(words),
            "start": words[0]["start"] if words else round(self.samples_in / SR, 3),
            "end": words[-1]["end"] if words else round(self.samples_in / SR, 3),
            "words": words,
            "language": self.language,
            "language_probability": self.language_probability,
            "confidence": confidence,
            "reason": reason,
        }
        if words:
            self.finals.append(final)
        return final

    def _forget(self) -> None:
        """Drop audio no decode can need any more (bounded memory)."""
        if self._in_speech:
            keep = self._buf_start
        else:
            keep = self.samples_in - int(self.config.speech_pad_ms * SR / 1000) - FRAME
        keep = min(max(keep, self._base), self.samples_in)
        if keep > self._base:
            self._audio = self._audio[keep - self._base :]
            self._base = keep


def _skips_speech(words: list[dict], seconds: float) -> bool:
    """Whether a decode of ``seconds`` of audio looks like it skipped some (see SKIP_*)."""
    if seconds < SKIP_MIN_WINDOW:
        return False
    if len(words) < SKIP_WORDS_PER_SECOND * seconds:
        return True
    return any(w["end"] - w["start"] > SKIP_WORD_SECONDS for w in words[:-1])
