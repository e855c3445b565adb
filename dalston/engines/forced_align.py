"""Offline English forced alignment with pocketsphinx (CMU Sphinx en-us model + cmudict).

Whisper's own word times come from cross-attention and are off by 100–300 ms (models.md);
a forced aligner places each word on the audio with ~15 ms error. For every segment, the
words Whisper heard are normalised to dictionary words (numbers spelled out, punctuation
dropped, hyphenated words split), aligned against the segment's audio with wide beams,
and given the aligned times. A long segment is aligned in runs of about ``RUN_WORDS`` words,
cut at the widest pause Whisper heard (``runs``): the search keeps every state of the
segment's text alive under these wide beams, so one decode's cost grows with the square of
its length — on the benchmark's 10-minute file, runs cost 8.0 CPU s where whole segments
cost 12.2; on 383 words synthesised one by one (known boundaries, 215 s) the mean start / end
error was 33.5 / 84.5 ms in runs against 37.9 / 84.4 ms whole. Runs much shorter cost
accuracy: each cut puts the neighbour's speech into the padding of both decodes
(``tests/unit/test_align.py``). A word that cannot be placed — not in the dictionary, or the
alignment failed or moved it implausibly far — keeps Whisper's time. Every word says which
method timed it (``timing``: ``forced_alignment`` or ``whisper``). Audio-event words
(``type: "audio_event"``, e.g. "[Music]") are never aligned: their text is not speech.

Every word has characters (``[{text, start, end}]``). Asked for (``characters=True``: the
request's ``timestamps_granularity=character``), they come from a second, phone-level pass
over the same audio (``Decoder.set_alignment``): each aligned word keeps the spans of its
phones and its characters are mapped onto them (``character_times``). That pass costs as
much as the word pass, so it runs only then; otherwise, and for words timed by Whisper
(which have no phones), characters share their word evenly.
"""

from __future__ import annotations

import re
import threading

import numpy as np

from dalston.characters import Phone, character_times, with_characters
from dalston.config import Settings
from dalston.engines.base import Capabilities

SAMPLE_RATE = 16000
PAD = 0.3  # seconds of audio either side of a segment, for words Whisper placed at its edge
MAX_SHIFT = 1.0  # an aligned word further than this from Whisper's time is not trusted
RUN_WORDS = 24  # words one decode aligns, about; a run has RUN_WORDS / 2 to 1.5 × RUN_WORDS

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def spell_number(n: int) -> list[str]:
    """English words for 0 ≤ n < 1,000,000."""
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        return [_ONES[n // 100], "hundred"] + (spell_number(n % 100) if n % 100 else [])
    return spell_number(n // 1000) + ["thousand"] + (spell_number(n % 1000) if n % 1000 else [])


def tokens_for(word: str) -> list[str]:
    """Dictionary tokens a Whisper word is spoken as ("30" → thirty, "re-open" → re open)."""
    out = []
    for part in re.split(r"[-–—/\s]+", word.lower()):
        part = part.strip(".,!?;:\"()[]{}…'’“”").replace("’", "'")
        if not part:
            continue
        if part.isdigit() and len(part) <= 6:
            out.extend(spell_number(int(part)))
        elif re.fullmatch(r"[a-z']+", part):
            out.append(part)
        else:
            return []  # "3.5", "€20", symbols: leave to Whisper's timing
    return out


def runs(words: list[dict], size: int = RUN_WORDS) -> list[tuple[int, int]]:
    """``[first, last)`` index ranges that cover ``words`` in order, each of ``size / 2`` to
    ``1.5 × size`` words (one range if there are at most ``1.5 × size``), each cut after the
    word followed by the longest gap in Whisper's times: the likeliest pause, where a cut
    splits no word's audio between two decodes."""
    out, first = [], 0
    while len(words) - first > size * 3 // 2:
        candidates = range(first + size // 2, min(first + size * 3 // 2, len(words) - size // 2))
        cut = max(candidates, key=lambda i: words[i + 1]["start"] - words[i]["end"]) + 1
        out.append((first, cut))
        first = cut
    return out + [(first, len(words))] if words else out


#: Pseudo-words pocketsphinx puts between aligned words.
FILLERS = ("<s>", "</s>", "<sil>", "[NOISE]")


class PocketsphinxAligner:
    name = "pocketsphinx"
    #: pocketsphinx ships the en-us acoustic model and cmudict only.
    capabilities = Capabilities(languages=frozenset({"en"}))
    run_words = RUN_WORDS

    def __init__(self, settings: Settings | None = None):
        self._lock = threading.Lock()
        self._decoder = None

    def _load(self):
        if self._decoder is None:
            from pocketsphinx import Decoder  # the optional ``align`` extra

            self._decoder = Decoder(
                samprate=SAMPLE_RATE,
                bestpath=False,
                # A span it cannot align is reported as a C-level ERROR line before the
                # RuntimeError we handle (Whisper's times are kept): expected, not news.
                loglevel="FATAL",
                beam=1e-80,
                wbeam=1e-60,
                pbeam=1e-80,
            )
        return self._decoder

    def _decode(
        self, text: str, pcm: bytes, phones: bool
    ) -> list[tuple[float, float, list]] | None:
        """Align ``text`` (dictionary words) with the audio: per word (start, end, phones).

        Seconds from the start of ``pcm``. The word pass gives the word times; with
        ``phones``, a second, phone-level pass over the same audio (pocketsphinx tracks
        phones only when asked) gives each word's phone spans, or none for every word when
        it fails.
        """
        decoder = self._load()
        try:
            decoder.set_align_text(text)
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            result = decoder.seg()
            if result is None:
                return None
            words = [
                (s.start_frame / 100, (s.end_frame + 1) / 100)
                for s in result
                if s.word not in FILLERS
            ]
        except RuntimeError:
            return None
        spans = self._phones(pcm, len(words)) if phones else [[] for _ in words]
        return [(t0, t1, word_phones) for (t0, t1), word_phones in zip(words, spans)]

    def _phones(self, pcm: bytes, count: int) -> list[list[Phone]]:
        """(name, start, end) of the phones of each of the ``count`` words just aligned
        (empty lists on failure)."""
        decoder = self._load()
        try:
            decoder.set_alignment()
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            alignment = decoder.get_alignment()
            # Read each entry while its iterator is current: pocketsphinx's entries point
            # into the iterator, and reading one after the iterator has moved on crashes.
            phones = [
                [(p.name, p.start / 100, (p.start + p.duration) / 100) for p in w]
                for w in (alignment or [])
                if w.name not in FILLERS
            ]
        except RuntimeError:
            phones = []
        return phones if len(phones) == count else [[] for _ in range(count)]

    def _align_words(
        self,
        samples: np.ndarray,
        offset: float,
        words: list[dict],
        out: list[dict],
        first: int,
        last: int,
        phones: bool,
        depth: int = 0,
    ) -> None:
        """Align words[first:last] against their stretch of audio; on failure, halve and retry."""
        decoder = self._load()
        plan = []  # (word index, tokens)
        for i in range(first, last):
            if words[i].get("type") == "audio_event":
                continue
            tokens = tokens_for(words[i]["text"])
            if tokens and all(decoder.lookup_word(t) is not None for t in tokens):
                plan.append((i, tokens))
        if not plan:
            return
        start = max(0.0, words[first]["start"] - PAD - offset)
        end = min(len(samples) / SAMPLE_RATE, words[last - 1]["end"] + PAD - offset)
        pcm = (
            np.clip(samples[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)], -1, 1) * 32767
        ).astype("<i2")
        text = " ".join(t for _, tokens in plan for t in tokens)
        aligned = self._decode(text, pcm.tobytes(), phones)
        if aligned is None or len(aligned) != sum(len(tokens) for _, tokens in plan):
            if last - first >= 4 and depth < 6:
                middle = (first + last) // 2
                self._align_words(samples, offset, words, out, first, middle, phones, depth + 1)
                self._align_words(samples, offset, words, out, middle, last, phones, depth + 1)
            return
        k = 0
        for i, tokens in plan:
            self._place(out, i, words[i], aligned[k : k + len(tokens)], start + offset)
            k += len(tokens)

    @staticmethod
    def _place(out: list[dict], i: int, word: dict, aligned: list, shift: float) -> None:
        """Give word i its aligned times and phone-timed characters, if they are plausible."""
        t0, t1 = aligned[0][0] + shift, aligned[-1][1] + shift
        if abs(t0 - word["start"]) > MAX_SHIFT or abs(t1 - word["end"]) > MAX_SHIFT or t1 <= t0:
            return
        phones = [(name, p0 + shift, p1 + shift) for *_, ps in aligned for name, p0, p1 in ps]
        t0, t1 = round(t0, 3), round(t1, 3)
        out[i].update(
            start=t0,
            end=t1,
            timing="forced_alignment",
            characters=character_times(word["text"], t0, t1, phones or None),
        )

    def _align_segment(
        self, samples: np.ndarray, offset: float, seg: dict, phones: bool
    ) -> list[dict]:
        words = seg.get("words") or []
        out = [with_characters(dict(w, timing="whisper")) for w in words]
        for first, last in runs(words, self.run_words):
            self._align_words(samples, offset, words, out, first, last, phones)
        return out

    def align(
        self,
        samples: np.ndarray,
        offset: float,
        segments: list[dict],
        *,
        language: str = "en",
        characters: bool = False,
    ) -> list[dict]:
        """Segments with refined word times; ``samples`` start at ``offset`` on the job timeline.

        ``characters``: run the phone pass, so characters are timed from their phones.
        """
        with self._lock:  # one decoder per process, used by one task at a time
            return [
                dict(seg, words=self._align_segment(samples, offset, seg, characters))
                for seg in segments
            ]
