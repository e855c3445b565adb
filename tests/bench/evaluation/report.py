"""Markdown tables of ``make eval``'s results, ready to paste into the README."""

from __future__ import annotations


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def _ms(value: float) -> str:
    return "—" if value != value else f"{1000 * value:.0f}"  # NaN: no word matched


def _table(header: list[str], rows: list[list[str]], right_from: int = 1) -> list[str]:
    align = ["---"] * right_from + ["---:"] * (len(header) - right_from)
    return [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(align) + " |",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def transcripts(rows: list[dict], models: list[str]) -> list[str]:
    wer = {(r["fixture"], r["model"]): r["wer"] for r in rows if "wer" in r}
    fixtures = list(dict.fromkeys(f for f, _ in wer))
    body = [[f] + [_pct(wer[(f, m)]) for m in models] for f in fixtures]
    hotword = [r for r in rows if "hotword_found" in r]
    if hotword:
        cells = []
        for m in models:
            plain = next(r for r in hotword if r["model"] == m and not r["hint"])
            hinted = next(r for r in hotword if r["model"] == m and r["hint"])
            cells.append(
                f"{'yes' if plain['hotword_found'] else 'no'} / "
                f"{'yes' if hinted['hotword_found'] else 'no'}"
            )
        word = next(r["hint"][0] for r in hotword if r["hint"])
        body.append([f"{hotword[0]['fixture']}: “{word}” without / with the hint"] + cells)
    return _table(["fixture (WER)"] + models, body)


def diarization(rows: list[dict]) -> list[str]:
    body = []
    for r in rows:
        cells = [r["file"], r["count"], f"{r['speakers_found']} of {r['reference_speakers']}"]
        for collar in ("collar_0.0", "collar_0.25"):
            d = r[collar]
            cells += [
                _pct(d["der"]),
                _pct(d["missed"]),
                _pct(d["false_alarm"]),
                _pct(d["confusion"]),
            ]
        body.append(cells)
    header = ["file", "speaker count", "speakers found"]
    header += ["DER", "missed", "false alarm", "confusion"]
    header += ["DER ±0.25 s", "missed", "false alarm", "confusion"]
    return _table(header, body, right_from=2)


def word_timing(rows: list[dict]) -> list[str]:
    body = []
    for r in rows:
        timing = "Whisper's own" if r["timing"] == "whisper" else "forced alignment (pocketsphinx)"
        body.append(
            [
                timing,
                r["model"],
                f"{r['matched']} of {r['reference_words']}",
                "—" if r["timing"] == "whisper" else f"{r['forced_aligned']} of {r['words']}",
                _ms(r["start_mae"]),
                _ms(r["end_mae"]),
            ]
        )
    return _table(
        [
            "word times",
            "words from",
            "words scored",
            "force-aligned words",
            "start MAE ms",
            "end MAE ms",
        ],
        body,
        2,
    )


def dialogue(rows: list[dict]) -> list[str]:
    body = [
        [
            r["count"],
            f"{r['speakers_found']} of 2",
            _pct(r["right_speaker"]),
            str(r["words"]),
            _pct(r["wer"]),
        ]
        for r in rows
    ]
    return _table(
        ["speaker count", "speakers found", "words with the right speaker", "words", "WER"], body
    )
