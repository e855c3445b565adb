"""The OpenAI-compatible API: ``/v1/audio/transcriptions`` (OpenAI requests, see
``dalston.routing``), ``/v1/audio/translations`` and the ``/openai/v1/...`` alias.

:mod:`.views` (the blueprint, and ``transcriptions`` for the shared path), :mod:`.schemas`
(the form, into one :class:`~dalston.options.JobOptions`), :mod:`.render` (the response
bodies and stream events) and :mod:`.errors` (the one error shape,
``{"error": {"message", "type", "param", "code"}}``). It imports no other API family.
"""
