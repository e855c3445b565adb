"""Character times inside a word: the word-shape rule every aligner and transcriber shares.

ElevenLabs' ``character`` granularity wants a time for every character. The forced aligner
times a word's phones; :func:`character_times` spreads the characters over them (or evenly
over the word when only the word is timed, as Whisper times it), and :func:`with_characters`
respreads a word whose aligner moved it without re-timing its characters. A base module,
so that engines and stages both use it without importing each other.
"""

from __future__ import annotations

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
