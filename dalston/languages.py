"""Language codes as each API spells them.

Whisper (and Dalston's native API) use ISO 639-1 codes (``en``). ElevenLabs answers with
ISO 639-3 (``eng``) and accepts either; OpenAI's ``verbose_json`` names the language in
lower-case English (``english``). One table covers the 100 languages Whisper knows (the
same codes as faster-whisper's tokenizer, so the API can check a code without loading it).
Shared by every API family.
"""

from __future__ import annotations

# code: (ISO 639-3, OpenAI/Whisper name). Mandarin is "cmn" as ElevenLabs reports it;
# Whisper's non-standard "jw" (Javanese) and "haw"/"yue" (no 639-1 code) are kept as keys.
_TABLE = {
    "en": ("eng", "english"), "zh": ("cmn", "chinese"), "de": ("deu", "german"),
    "es": ("spa", "spanish"), "ru": ("rus", "russian"), "ko": ("kor", "korean"),
    "fr": ("fra", "french"), "ja": ("jpn", "japanese"), "pt": ("por", "portuguese"),
    "tr": ("tur", "turkish"), "pl": ("pol", "polish"), "ca": ("cat", "catalan"),
    "nl": ("nld", "dutch"), "ar": ("ara", "arabic"), "sv": ("swe", "swedish"),
    "it": ("ita", "italian"), "id": ("ind", "indonesian"), "hi": ("hin", "hindi"),
    "fi": ("fin", "finnish"), "vi": ("vie", "vietnamese"), "he": ("heb", "hebrew"),
    "uk": ("ukr", "ukrainian"), "el": ("ell", "greek"), "ms": ("msa", "malay"),
    "cs": ("ces", "czech"), "ro": ("ron", "romanian"), "da": ("dan", "danish"),
    "hu": ("hun", "hungarian"), "ta": ("tam", "tamil"), "no": ("nor", "norwegian"),
    "th": ("tha", "thai"), "ur": ("urd", "urdu"), "hr": ("hrv", "croatian"),
    "bg": ("bul", "bulgarian"), "lt": ("lit", "lithuanian"), "la": ("lat", "latin"),
    "mi": ("mri", "maori"), "ml": ("mal", "malayalam"), "cy": ("cym", "welsh"),
    "sk": ("slk", "slovak"), "te": ("tel", "telugu"), "fa": ("fas", "persian"),
    "lv": ("lav", "latvian"), "bn": ("ben", "bengali"), "sr": ("srp", "serbian"),
    "az": ("aze", "azerbaijani"), "sl": ("slv", "slovenian"), "kn": ("kan", "kannada"),
    "et": ("est", "estonian"), "mk": ("mkd", "macedonian"), "br": ("bre", "breton"),
    "eu": ("eus", "basque"), "is": ("isl", "icelandic"), "hy": ("hye", "armenian"),
    "ne": ("nep", "nepali"), "mn": ("mon", "mongolian"), "bs": ("bos", "bosnian"),
    "kk": ("kaz", "kazakh"), "sq": ("sqi", "albanian"), "sw": ("swa", "swahili"),
    "gl": ("glg", "galician"), "mr": ("mar", "marathi"), "pa": ("pan", "punjabi"),
    "si": ("sin", "sinhala"), "km": ("khm", "khmer"), "sn": ("sna", "shona"),
    "yo": ("yor", "yoruba"), "so": ("som", "somali"), "af": ("afr", "afrikaans"),
    "oc": ("oci", "occitan"), "ka": ("kat", "georgian"), "be": ("bel", "belarusian"),
    "tg": ("tgk", "tajik"), "sd": ("snd", "sindhi"), "gu": ("guj", "gujarati"),
    "am": ("amh", "amharic"), "yi": ("yid", "yiddish"), "lo": ("lao", "lao"),
    "uz": ("uzb", "uzbek"), "fo": ("fao", "faroese"), "ht": ("hat", "haitian creole"),
    "ps": ("pus", "pashto"), "tk": ("tuk", "turkmen"), "nn": ("nno", "nynorsk"),
    "mt": ("mlt", "maltese"), "sa": ("san", "sanskrit"), "lb": ("ltz", "luxembourgish"),
    "my": ("mya", "myanmar"), "bo": ("bod", "tibetan"), "tl": ("tgl", "tagalog"),
    "mg": ("mlg", "malagasy"), "as": ("asm", "assamese"), "tt": ("tat", "tatar"),
    "haw": ("haw", "hawaiian"), "ln": ("lin", "lingala"), "ha": ("hau", "hausa"),
    "ba": ("bak", "bashkir"), "jw": ("jav", "javanese"), "su": ("sun", "sundanese"),
    "yue": ("yue", "cantonese"),
}  # fmt: skip
#: Whisper's language codes, as the native API's ``language`` field takes them.
WHISPER_CODES = frozenset(_TABLE)
_FROM_ISO3 = {iso3: code for code, (iso3, _name) in _TABLE.items()}
# Other spellings clients send: B-codes, macrolanguages, Whisper's "jw".
_FROM_ISO3.update({"zho": "zh", "chi": "zh", "ger": "de", "fre": "fr", "dut": "nl",
                   "gre": "el", "per": "fa", "cze": "cs", "rum": "ro", "slo": "sk",
                   "wel": "cy", "ice": "is", "arm": "hy", "geo": "ka", "mac": "mk",
                   "baq": "eu", "alb": "sq", "bur": "my", "tib": "bo", "mao": "mi",
                   "may": "ms", "zsm": "ms", "nob": "no", "jv": "jw"})  # fmt: skip


def to_whisper(code: str | None) -> str | None:
    """ISO 639-1 or 639-3 (any case, optional region such as ``en-US``) → Whisper's code.

    Returns None for None/empty/``auto``. Raises ValueError for a code Whisper cannot use.
    """
    if code is None or not code.strip() or code.strip().lower() == "auto":
        return None
    value = code.strip().lower().replace("_", "-").split("-", 1)[0]
    if value in _TABLE:
        return value
    if value in _FROM_ISO3:
        return _FROM_ISO3[value]
    raise ValueError(f"unknown language code {code!r}; use ISO 639-1 (en) or 639-3 (eng)")


def to_iso3(code: str | None) -> str | None:
    """Whisper's code → ISO 639-3, as ElevenLabs reports ``language_code``."""
    if not code:
        return None
    return _TABLE.get(code, (code, code))[0]


def english_name(code: str | None) -> str:
    """Whisper's code → the lower-case English name OpenAI's ``verbose_json`` reports."""
    if not code:
        return "unknown"
    return _TABLE.get(code, (code, code))[1]
