"""ElevenLabs entity detection and redaction (``entity_detection``, ``entity_redaction``).

ElevenLabs finds entities with a model; Dalston finds the ones that rules can find honestly
(fixed shapes, checksums, an unambiguous context word) and none of the rest. Type names,
categories and markers follow the ElevenLabs entity-detection guide and the
``entity_redaction_mode`` description in its OpenAPI spec:

* Categories ``pii``, ``phi``, ``pci``, ``other``, ``offensive_language`` and ``all``; every
  documented type name is accepted (so a client asking for ``name`` is not refused), but only
  :data:`DETECTABLE` types are ever reported. ``credit_card``, ``credit_card_expiration`` and
  ``cvv`` belong to both ``pii`` and ``pci``.
* Redaction markers: ``{REDACTED}``, ``{EMAIL_ADDRESS}``, ``{EMAIL_ADDRESS_0}``; the mode
  defaults to ``enumerated_entity_type``. The docs say N "enumerates each occurrence" and show
  ``{NAME_0}``: here the counter runs per type from 0 and a repeated value keeps its number,
  so ``{PHONE_NUMBER_0}`` is the same phone wherever it appears.
* Entities are ``{text, entity_type, start_char, end_char}``; offsets are Python string
  indices (code points, end exclusive) into the text that was passed in.

Detected, with the rule used: ``email_address`` (address syntax, or spoken "x at y dot com"),
``url`` (scheme, ``www.`` or a common top-level domain), ``phone_number`` (digit groups the
way Whisper writes them -- ``+44 20 7946 0958``, ``(555) 123-4567``, ``555 123 4567``),
``credit_card`` (13-19 digits passing the Luhn check), ``ssn`` (``123-45-6789`` with the
SSA's invalid areas and groups excluded, or 9 bare digits after "social security"/"SSN"),
``ip_address`` (IPv4/IPv6 validated by :mod:`ipaddress`), ``bank_account`` (IBAN with the
mod-97 check and, for common countries, the exact length), ``date`` / ``dob`` (numeric and
month-name dates; ``dob`` when "born"/"birth"/"DOB" precedes it), ``credit_card_expiration``
and ``cvv`` (after "expires"/"CVV"/"security code"), ``money``, ``percent``, ``time``.
Numbers spoken as words ("five five five") are not detected.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Iterator

__all__ = [
    "CATEGORIES",
    "DEFAULT_REDACTION_MODE",
    "DETECTABLE",
    "ENTITY_TYPES",
    "REDACTION_MODES",
    "EntityError",
    "check_redaction",
    "detect",
    "markers",
    "parse_entity_selection",
    "parse_redaction_mode",
    "redact",
]

_PCI = frozenset({"credit_card", "credit_card_expiration", "cvv"})
CATEGORIES: dict[str, frozenset[str]] = {
    "pii": _PCI
    | frozenset(
        """account_number age bank_account cardinal date date_interval dob driver_license
        email_address event filename gender gender_sexuality sexual_orientation
        healthcare_number ip_address location location_address location_city
        location_coordinate location_country location_state location_zip money name
        name_given name_family name_medical_professional numerical_pii occupation ordinal
        origin passport_number password percent phone_number physical_attribute ssn time url
        username vehicle_id""".split()
    ),
    "phi": frozenset("""condition drug injury blood_type medical_process clinical_measurement
        statistics""".split()),
    "pci": _PCI,
    "other": frozenset(
        """language marital_status organization political_affiliation religion routing_number
        zodiac_sign product_or_service food_or_beverage document_reference generic_id
        measurement time_duration""".split()
    ),
    "offensive_language": frozenset({"very_offensive_language", "less_offensive_language"}),
}
ENTITY_TYPES: frozenset[str] = frozenset().union(*CATEGORIES.values())
# Overlapping finds of equal length go to the earlier type.
_PRIORITY = (
    "email_address",
    "url",
    "bank_account",
    "credit_card",
    "ssn",
    "ip_address",
    "phone_number",
    "credit_card_expiration",
    "cvv",
    "dob",
    "date",
    "money",
    "percent",
    "time",
)
DETECTABLE: frozenset[str] = frozenset(_PRIORITY)
REDACTION_MODES = ("redacted", "entity_type", "enumerated_entity_type")
DEFAULT_REDACTION_MODE = "enumerated_entity_type"


class EntityError(ValueError):
    """An entity option cannot be used; the caller answers 400/422 naming ``param``."""

    def __init__(self, message: str, param: str = "entity_detection") -> None:
        super().__init__(message)
        self.message = message
        self.param = param


# --------------------------------------------------------------------------------------
# Request options
# --------------------------------------------------------------------------------------


def _names(raw: str, param: str) -> list[str]:
    text = raw.strip()
    if not text or text == "null":
        return []
    items: object = [text]
    if text[0] in '["':
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            raise EntityError(f"{param} is not valid JSON: {text!r}", param) from None
        items = [] if items is None else [items] if isinstance(items, str) else items
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise EntityError(f"{param} must be a string or a list of strings", param)
    return [part.strip().lower() for item in items for part in item.split(",") if part.strip()]


def parse_entity_selection(
    values: str | Iterable[str] | None, param: str = "entity_detection"
) -> set[str] | None:
    """Read ``entity_detection`` / ``entity_redaction`` as any SDK sends it.

    Args:
        values: Every value the form field had (e.g. ``request.form.getlist(param)``):
            Python SDK -- one JSON value, ``null`` when unset, ``"\\"all\\""`` or
            ``"[\\"pii\\", \\"phi\\"]"``; JS SDK -- repeated plain fields ``pii``, ``phi``;
            realtime docs -- comma lists ``pii,pci``; or a plain ``all``. A lone string is
            one value.
        param: Field name used in errors.

    Returns:
        The entity types selected, categories and ``all`` expanded; ``None`` when the
        field is absent, ``null`` or empty.

    Raises:
        EntityError: Bad JSON, a non-string item, or an unknown type or category name.
    """
    if values is None:
        return None
    if isinstance(values, (str, bytes)):
        values = [values]
    selected: set[str] = set()
    names = [n for v in values for n in _names(v.decode() if isinstance(v, bytes) else v, param)]
    for name in names:
        if name == "all":
            selected |= ENTITY_TYPES
        elif name in CATEGORIES:
            selected |= CATEGORIES[name]
        elif name in ENTITY_TYPES:
            selected.add(name)
        else:
            raise EntityError(
                f"unknown entity type or category {name!r} in {param}; use all, "
                f"{', '.join(CATEGORIES)} or an entity type such as email_address",
                param,
            )
    return selected or None


def parse_redaction_mode(value: str | None) -> str:
    """``entity_redaction_mode``: one of :data:`REDACTION_MODES`; absent means the default."""
    mode = (value or "").strip().lower() or DEFAULT_REDACTION_MODE
    if mode not in REDACTION_MODES:
        raise EntityError(
            f"entity_redaction_mode must be one of {', '.join(REDACTION_MODES)}",
            "entity_redaction_mode",
        )
    return mode


def check_redaction(detection: set[str] | None, redaction: set[str] | None) -> None:
    """Redacted types must be a subset of the detected ones (the vendor's rule)."""
    extra = (redaction or set()) - (detection or set())
    if extra:
        raise EntityError(
            "entity_redaction must be a subset of entity_detection; not detected: "
            + ", ".join(sorted(extra)),
            "entity_redaction",
        )


# --------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_TLD = r"(?:com|org|net|edu|gov|io|ai|co|uk|de|fr|app|dev|info|biz|me|tv|us|eu)"
_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b", re.I)
_SPOKEN_EMAIL = re.compile(
    rf"\b[a-z0-9]+(?: (?:dot|underscore) [a-z0-9]+)* at "
    rf"[a-z0-9-]+(?: dot [a-z0-9-]+)* dot {_TLD}\b",
    re.I,
)
_URL = re.compile(
    rf"\b(?:https?://|www\.)[^\s<>\"']+|(?<![@\w.-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+"
    rf"{_TLD}(?:/[^\s<>\"']*)?(?![\w-])",
    re.I,
)
_DIGIT_RUN = re.compile(r"(?<![\w+])\+?\(?\d+(?:(?:\)[ .-]?|[ .-]\(?)\d+)*")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?![\w:])", re.I)
_IBAN = re.compile(r"\b[a-z]{2}\d{2}(?: ?[a-z0-9]){11,30}", re.I)
_IBAN_LENGTHS = dict(
    AT=20, BE=16, CH=21, CZ=24, DE=22, DK=18, ES=24, FI=18, FR=27, GB=22, GR=27, HU=28, IE=22,
    IT=27, LU=20, NL=18, NO=15, PL=28, PT=25, RO=24, SE=24, SK=24,
)  # fmt: skip
_ORD = r"(?:st|nd|rd|th)?"
_DATES = (
    re.compile(
        rf"\b(?P<d>\d{{1,2}}){_ORD}(?: of)? (?P<m>{_MONTH})\b\.?(?:,? (?P<y>\d{{4}}))?", re.I
    ),
    re.compile(rf"\b(?P<m>{_MONTH})\.? (?P<d>\d{{1,2}}){_ORD}(?:,? (?P<y>\d{{4}}))?\b", re.I),
    re.compile(r"\b(?P<a>\d{1,2})([/.-])(?P<b>\d{1,2})\2(?P<y>\d{4}|\d{2})\b"),
    re.compile(r"\b(?P<y>\d{4})-(?P<b>\d{2})-(?P<a>\d{2})\b"),
)
_BIRTH = re.compile(r"born|birth|\bd\.?o\.?b\b", re.I)
_EXPIRY = re.compile(
    r"(?:expir(?:es|y|ation)|\bexp\b\.?|valid (?:thru|through|until))(?: date)?(?: is| on|:)?"
    rf" ?(?P<v>\d{{1,2}} ?/ ?\d{{2,4}}|\d{{1,2}}-\d{{2,4}}|{_MONTH} \d{{4}})\b",
    re.I,
)
_CVV = re.compile(
    r"\b(?:cvv2?|cvc2?|security code|card verification (?:code|value|number))"
    r"(?: number)?(?: is|:)? ?(?P<v>\d{3,4})\b",
    re.I,
)
_MONEY = re.compile(
    r"[$€£¥] ?\d[\d,]*(?:\.\d+)?(?: ?(?:million|billion|thousand)\b)?"
    r"|\b\d[\d,]*(?:\.\d+)?(?: (?:million|billion|thousand))? ?"
    r"(?:dollars?|euros?|cents?|usd|eur|gbp|yen)\b",
    re.I,
)
_PERCENT = re.compile(r"\b\d+(?:\.\d+)?(?: ?%| ?per ?cent\b)", re.I)
_TIME = re.compile(
    r"\b(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?(?: ?[ap]\.?m\b)?(?![\w:])"
    r"|\b(?:1[0-2]|0?[1-9]) ?[ap]\.?m\b",
    re.I,
)
_MAX_GROUPS = 6  # no card, SSN or phone format has more digit groups
_SSN_CONTEXT = re.compile(r"social security|\bssn\b", re.I)

_Found = tuple[int, int, str]


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _valid_ssn(d: str) -> bool:
    area, group, serial = d[:3], d[3:5], d[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _classify(text: str, start: int, digits: str, groups: list[int], plus: bool) -> str | None:
    n = len(digits)
    if 13 <= n <= 19 and digits[0] in "23456" and not plus and _luhn(digits):
        if len(groups) == 1 or min(groups) >= 3:
            return "credit_card"
    if n == 9 and not plus and _valid_ssn(digits):
        if groups == [3, 2, 4] or (
            groups == [9] and _SSN_CONTEXT.search(text[max(0, start - 40) : start])
        ):
            return "ssn"
    if plus:
        return "phone_number" if 8 <= n <= 15 else None
    if n in (10, 11) and len(groups) <= 4 and groups[-1] >= 3:
        if all(g >= 2 for g in groups[1:]) and (groups[0] >= 2 or digits[0] == "1"):
            return "phone_number"
    return "phone_number" if groups == [3, 4] else None


def _numbers(text: str) -> Iterator[_Found]:
    """Card, SSN and phone numbers: every run of digit groups, and each sub-run of up to
    :data:`_MAX_GROUPS` groups, so a phone number followed by another number is still found."""
    for run in _DIGIT_RUN.finditer(text):
        groups = list(re.finditer(r"\d+", run.group()))
        base = run.start()
        for i in range(len(groups)):
            for j in range(min(len(groups), i + _MAX_GROUPS), i, -1):
                part = groups[i:j]
                start = base if i == 0 else base + part[0].start()
                plus = i == 0 and run.group().startswith("+")
                digits = "".join(g.group() for g in part)
                kind = _classify(text, start, digits, [len(g.group()) for g in part], plus)
                if kind:
                    yield start, base + part[-1].end(), kind


def _ibans(text: str) -> Iterator[_Found]:
    for match in _IBAN.finditer(text):
        # Longest prefix ending on a group boundary whose checksum holds: the pattern can
        # run on into following words.
        ends = [
            i + 1
            for i, ch in enumerate(match.group())
            if ch != " " and (i + 1 == len(match.group()) or match.group()[i + 1] == " ")
        ]
        for end in reversed(ends):
            compact = match.group()[:end].replace(" ", "").upper()
            want = _IBAN_LENGTHS.get(compact[:2])
            if len(compact) < 15 or (want and len(compact) != want):
                continue
            rotated = compact[4:] + compact[:4]
            if int("".join(str(int(ch, 36)) for ch in rotated)) % 97 == 1:
                yield match.start(), match.start() + end, "bank_account"
                break


def _ips(text: str) -> Iterator[_Found]:
    for pattern in (_IPV4, _IPV6):
        for match in pattern.finditer(text):
            if not re.search(r"[0-9a-f]", match.group(), re.I):
                continue  # a bare "::" in prose
            try:
                ipaddress.ip_address(match.group())
            except ValueError:
                continue
            yield match.start(), match.end(), "ip_address"


def _dates(text: str) -> Iterator[_Found]:
    found = []
    for pattern in _DATES:
        for m in pattern.finditer(text):
            parts = m.groupdict()
            if parts.get("m") == "may":
                continue  # lower-case "may" is the verb
            if "d" in parts and not 1 <= int(parts["d"]) <= 31:
                continue
            if "a" in parts:
                a, b = int(parts["a"]), int(parts["b"])
                if not (1 <= a <= 31 and 1 <= b <= 12 or 1 <= a <= 12 and 1 <= b <= 31):
                    continue
            found.append((m.start(), m.end()))
    previous = 0
    for start, end in sorted(found):
        context = text[max(previous, start - 50) : start]
        yield start, end, "dob" if _BIRTH.search(context) else "date"
        previous = max(previous, end)


def _simple(text: str) -> Iterator[_Found]:
    for pattern, kind in (
        (_EMAIL, "email_address"),
        (_SPOKEN_EMAIL, "email_address"),
        (_URL, "url"),
        (_MONEY, "money"),
        (_PERCENT, "percent"),
        (_TIME, "time"),
    ):
        for m in pattern.finditer(text):
            end = m.end()
            if kind == "url":  # sentence punctuation after a URL is not part of it
                end -= len(m.group()) - len(m.group().rstrip(".,;:!?)]}'\""))
            yield m.start(), end, kind
    for pattern, kind in ((_EXPIRY, "credit_card_expiration"), (_CVV, "cvv")):
        for m in pattern.finditer(text):
            yield m.start("v"), m.end("v"), kind


def _resolve(found: Iterable[_Found]) -> list[_Found]:
    """Longest first, then by :data:`_PRIORITY`; drop anything overlapping a kept find."""
    kept: list[_Found] = []
    for start, end, kind in sorted(
        set(found), key=lambda f: (f[0] - f[1], _PRIORITY.index(f[2]), f[0])
    ):
        if end > start and all(end <= s or start >= e for s, e, _ in kept):
            kept.append((start, end, kind))
    return sorted(kept)


def detect(text: str, selection: set[str] | None) -> list[dict]:
    """Find the selected entity types in ``text``.

    Every rule runs and overlaps are settled first, so a card number is never reported as
    a phone number just because only phones were asked for. A date of birth is reported as
    ``date`` when ``date`` but not ``dob`` is selected.

    Args:
        text: The transcript text the response will carry.
        selection: Types from :func:`parse_entity_selection`; ``None`` or empty finds nothing.

    Returns:
        ``[{"text", "entity_type", "start_char", "end_char"}]`` in text order, non-overlapping.
    """
    if not selection or not text:
        return []
    found = [*_numbers(text), *_ibans(text), *_ips(text), *_dates(text), *_simple(text)]
    out = []
    for start, end, kind in _resolve(found):
        if kind == "dob" and "dob" not in selection and "date" in selection:
            kind = "date"
        if kind in selection:
            out.append(
                {"text": text[start:end], "entity_type": kind, "start_char": start, "end_char": end}
            )
    return out


# --------------------------------------------------------------------------------------
# Redaction
# --------------------------------------------------------------------------------------


def markers(entities: list[dict], mode: str = DEFAULT_REDACTION_MODE) -> list[str]:
    """The marker that replaces each entity, in order (for redacting word lists too)."""
    mode = parse_redaction_mode(mode)
    numbers: dict[str, dict[str, int]] = {}
    out = []
    for entity in entities:
        kind = entity["entity_type"].upper()
        if mode == "redacted":
            out.append("{REDACTED}")
        elif mode == "entity_type":
            out.append(f"{{{kind}}}")
        else:
            seen = numbers.setdefault(kind, {})
            value = re.sub(r"[\s().-]", "", entity["text"]).lower()
            out.append(f"{{{kind}_{seen.setdefault(value, len(seen))}}}")
    return out


def redact(text: str, entities: list[dict], mode: str = DEFAULT_REDACTION_MODE) -> str:
    """Replace each entity's span of ``text`` with its marker.

    Pass only the entities to redact, e.g. ``[e for e in found if e["entity_type"] in
    redaction]`` after :func:`check_redaction`. Numbering follows text order.

    Raises:
        EntityError: Unknown ``mode`` (param ``entity_redaction_mode``).
        ValueError: Entities that overlap or do not match ``text`` at their offsets.
    """
    ordered = sorted(entities, key=lambda e: e["start_char"])
    pieces, position = [], 0
    for entity, marker in zip(ordered, markers(ordered, mode)):
        start, end = entity["start_char"], entity["end_char"]
        if start < position or text[start:end] != entity["text"]:
            raise ValueError(f"entity {entity!r} overlaps another or does not match the text")
        pieces += [text[position:start], marker]
        position = end
    return "".join(pieces) + text[position:]
