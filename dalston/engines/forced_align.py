"""Offline English forced alignment with pocketsphinx (CMU Sphinx en-us model + cmudict).

Whisper's own word times come from cross-attention and are off by 100–300 ms (models.md);
a forced aligner places each word on the audio with ~15 ms error. For every segment, the
words Whisper heard are normalised to dictionary words (numbers spelled out, punctuation
dropped, hyphenated words split), aligned against the segment's audio with wide beams,
and given the aligned times. A word that cannot be placed — not in the dictionary, or the
alignment failed or moved it implausibly far — keeps Whisper's time. Every word says which
method timed it (``timing``: ``forced_alignment`` or ``whisper``). Audio-event words
(``type: "audio_event"``, e.g. "[Music]") are never aligned: their text is not speech.

Character times (``characters``: ``[{text, start, end}]`` on every word) come from a second,
phone-level pass over the same audio (``Decoder.set_alignment``): each aligned word keeps
the spans of its phones and its characters are mapped onto them (``character_times``).
Words timed by Whisper have no phones, so their characters share the word evenly.
"""

from __future__ import annotations

import re
import threading

import numpy as np

SAMPLE_RATE = 16000
PAD = 0.3  # seconds of audio either side of a segment, for words Whisper placed at its edge
MAX_SHIFT = 1.0  # an aligned word further than this from Whisper's time is not trusted

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


#: Pseudo-words pocketsphinx puts between aligned words.
FILLERS = ("<s>", "</s>", "<sil>", "[NOISE]")


#: CMU (ARPAbet) vowel phones, to pair vowel letters with vowel sounds.
VOWEL_PHONES = frozenset("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split())
#: Weight of keeping to the proportional diagonal, against a vowel/consonant mismatch (1).
DRIFT = 0.5

Phone = tuple[str | None, float, float]  # (ARPAbet name or None, start, end)


def _mismatch(letter: str, phone: str | None) -> float:
    """1 when a vowel letter meets a consonant phone or the reverse; 0 when either is unknown
    (no phone name, a digit, "y", which can be either)."""
    if phone is None or not letter.isalpha() or letter.lower() == "y":
        return 0.0
    return float((letter.lower() in "aeiou") != (phone in VOWEL_PHONES))


def letter_phone_path(letters: str, phones: list[str | None]) -> list[tuple[int, int]]:
    """Monotone pairing of letters with phones: the (letter, phone) cells of the cheapest path
    from (0, 0) to (n-1, m-1), stepping to the next letter, the next phone, or both.

    Each cell costs its vowel/consonant mismatch plus ``DRIFT`` times its distance from the
    proportional diagonal, so without phone names the letters spread evenly (pure).
    """
    n, m = len(letters), len(phones)
    inf = float("inf")
    cost = [[inf] * m for _ in range(n)]
    back: dict[tuple[int, int], tuple[int, int]] = {}
    for i in range(n):
        for k in range(m):
            here = _mismatch(letters[i], phones[k]) + DRIFT * abs((i + 0.5) / n - (k + 0.5) / m)
            if i == 0 and k == 0:
                cost[i][k] = here
                continue
            steps = [(i - 1, k - 1), (i - 1, k), (i, k - 1)]
            prev = min(
                (s for s in steps if s[0] >= 0 and s[1] >= 0), key=lambda s: cost[s[0]][s[1]]
            )
            cost[i][k] = cost[prev[0]][prev[1]] + here
            back[(i, k)] = prev
    path, cell = [(n - 1, m - 1)], (n - 1, m - 1)
    while cell in back:
        cell = back[cell]
        path.append(cell)
    return path[::-1]


def _letter_spans(letters: str, phones: list[Phone]) -> list[tuple[float, float]]:
    """(start, end) of each letter: letters sharing a phone split it evenly, a letter paired
    with several phones runs from the first to the last."""
    path = letter_phone_path(letters, [name for name, _, _ in phones])
    sharing: dict[int, list[int]] = {}
    for i, k in path:
        sharing.setdefault(k, []).append(i)
    spans: dict[int, tuple[float, float]] = {}
    for i, k in path:
        _, t0, t1 = phones[k]
        share, r = len(sharing[k]), sharing[k].index(i)
        s0, s1 = t0 + (t1 - t0) * r / share, t0 + (t1 - t0) * (r + 1) / share
        spans[i] = (spans[i][0], s1) if i in spans else (s0, s1)
    return [spans[i] for i in range(len(letters))]


def character_times(
    text: str, start: float, end: float, phones: list[Phone] | None = None
) -> list[dict]:
    """``[{text, start, end}]`` for every character of a word timed [start, end].

    Method: a monotone grapheme-to-phone alignment. The word's sounding characters (letters
    and digits) are paired in order with its phones (``letter_phone_path``): vowel letters
    prefer vowel phones and consonants consonants, and otherwise the letters keep to an even
    spread. Characters sharing a phone split its span evenly; a character paired with
    several phones spans them. Other characters (punctuation, apostrophes, hyphens) take a
    zero-length span where the previous character ends (the word start if they lead).
    Without phones the word is one span that its characters share evenly — the timing of
    Whisper-timed words.

    Limits: English spelling is not phonemic and the pairing knows only vowel versus
    consonant, so silent letters and digraphs borrow time from a neighbour ("knight": k and n
    share N, g and h share T with t) and digits spread over the phones of their spoken
    number ("30" over TH ER T IY). A character can be off by about a phone (50–100 ms) but
    never leaves its word: times are rounded to the millisecond, clamped into [start, end],
    and never go backwards.
    """
    lo, hi = start, end  # bounds after rounding: characters must never leave the word
    sounding = [i for i, c in enumerate(text) if c.isalnum()] or list(range(len(text)))
    letters = "".join(text[i] for i in sounding)
    spans = _letter_spans(letters, phones or [(None, start, end)]) if letters else []
    times = dict(zip(sounding, spans))
    out, previous = [], lo
    for i, char in enumerate(text):
        t0, t1 = times.get(i, (previous, previous))
        t0 = min(max(round(t0, 3), previous), hi)
        t1 = min(max(round(t1, 3), t0), hi)
        out.append({"text": char, "start": t0, "end": t1})
        previous = t1
    return out


def with_characters(word: dict) -> dict:
    """``word`` with evenly spread ``characters``, unless it has valid ones already.

    Valid: they spell the word and lie, in order, inside its [start, end]. Any aligner that
    re-times a word without re-timing its characters gets them respread here.
    """
    chars = word.get("characters")
    if word.get("start") is None or word.get("end") is None:  # untimed: characters are too
        return dict(
            word, characters=[{"text": c, "start": None, "end": None} for c in word["text"]]
        )
    if chars and _characters_fit(word, chars):
        return word
    return dict(word, characters=character_times(word["text"], word["start"], word["end"]))


def _characters_fit(word: dict, chars: list[dict]) -> bool:
    if "".join(c["text"] for c in chars) != word["text"]:
        return False
    previous = word["start"]
    for c in chars:
        if not previous <= c["start"] <= c["end"] <= word["end"]:
            return False
        previous = c["end"]
    return True


class PocketsphinxAligner:
    name = "pocketsphinx"

    def __init__(self):
        self._lock = threading.Lock()
        self._decoder = None

    def _load(self):
        if self._decoder is None:
            from pocketsphinx import Decoder

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

    def _decode(self, text: str, pcm: bytes) -> list[tuple[float, float, list]] | None:
        """Align ``text`` (dictionary words) with the audio: per word (start, end, phones).

        Seconds from the start of ``pcm``. The word pass gives the word times; a second,
        phone-level pass over the same audio (pocketsphinx tracks phones only when asked)
        gives each word's phone spans, or none for every word when it fails.
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
        phones = self._phones(pcm, len(words))
        return [(t0, t1, spans) for (t0, t1), spans in zip(words, phones)]

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
        aligned = self._decode(" ".join(t for _, tokens in plan for t in tokens), pcm.tobytes())
        if aligned is None or len(aligned) != sum(len(tokens) for _, tokens in plan):
            if last - first >= 4 and depth < 6:
                middle = (first + last) // 2
                self._align_words(samples, offset, words, out, first, middle, depth + 1)
                self._align_words(samples, offset, words, out, middle, last, depth + 1)
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

    def _align_segment(self, samples: np.ndarray, offset: float, seg: dict) -> list[dict]:
        words = seg.get("words") or []
        out = [with_characters(dict(w, timing="whisper")) for w in words]
        if words:
            self._align_words(samples, offset, words, out, 0, len(words))
        return out

    def align(
        self, samples: np.ndarray, offset: float, segments: list[dict], **_options
    ) -> list[dict]:
        """Segments with refined word times; ``samples`` start at ``offset`` on the job timeline."""
        with self._lock:  # one decoder per process, used by one task at a time
            return [dict(seg, words=self._align_segment(samples, offset, seg)) for seg in segments]
