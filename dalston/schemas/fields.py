"""Form and query-string fields every API family parses the same way.

:class:`Boolean` is the one boolean parser of Dalston's HTTP edge: the native export
options, the ElevenLabs form and query (``diarize``, ``webhook``, ``enable_logging``, …) and
OpenAI's ``stream`` all read booleans with it. :func:`first_error` turns a marshmallow
:class:`~marshmallow.ValidationError` into the one ``(field, message)`` pair a family's
error shape reports.
"""

from __future__ import annotations

from marshmallow import ValidationError, fields

#: Accepted spellings (compared after ``strip().lower()``); Python's own bools pass as well.
TRUE = frozenset({"true", "1", "yes", "on", True})
FALSE = frozenset({"false", "0", "no", "off", False})


class Boolean(fields.Boolean):
    """``true``/``false`` in any case, ``1``/``0``, ``yes``/``no``, ``on``/``off``; else invalid.

    What counts as *absent* (an empty field, the Python SDK's literal ``null``) is each
    family's decision, made before its values reach this field.
    """

    truthy = TRUE
    falsy = FALSE
    default_error_messages = {"invalid": "must be true or false, not {input!r}"}

    def _deserialize(self, value, attr, data, **kwargs):
        key = value.strip().lower() if isinstance(value, str) else value
        try:
            if key in self.truthy:
                return True
            if key in self.falsy:
                return False
        except TypeError:  # an unhashable value
            pass
        raise self.make_error("invalid", input=value)


def parse_bool(value) -> bool:
    """:class:`Boolean` outside a schema; raises ``ValueError`` with its message."""
    try:
        return Boolean().deserialize(value)
    except ValidationError as exc:
        raise ValueError(" ".join(exc.messages)) from exc


class Repeated(fields.List):
    """A field sent as repeated form parts (``keyterms=a&keyterms=b``): the family's form
    reader hands it every value as a list (it checks :attr:`repeated`)."""

    repeated = True

    def __init__(self, inner: fields.Field | None = None, **kwargs):
        super().__init__(inner or fields.String(), **kwargs)


def _flat(problems) -> list[str]:
    if isinstance(problems, dict):
        return [m for v in problems.values() for m in _flat(v)]
    if isinstance(problems, (list, tuple)):
        return [m for v in problems for m in _flat(v)]
    return [str(problems)]


def first_error(exc: ValidationError) -> tuple[str | None, str]:
    """The first field a schema refused and what was wrong with it (``None``: the whole form)."""
    field, problems = next(iter(exc.normalized_messages().items()))
    return (None if field == "_schema" else field), " ".join(_flat(problems))


def described(field: str | None, message: str) -> str:
    """``message`` as a sentence about its field (``"num_speakers must be …"``), unless it
    names the field already."""
    return f"{field} {message}" if field and field not in message else message
