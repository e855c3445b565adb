"""The ElevenLabs-compatible API: ``/v1/speech-to-text`` for the official SDKs.

:mod:`.views` (the blueprint), :mod:`.schemas` (the form, every SDK encoding, into one
:class:`~dalston.options.JobOptions`), :mod:`.render` (the transcript models),
:mod:`.formats` (``additional_formats``), :mod:`.entities` (entity detection and redaction),
:mod:`.webhook` (the ``webhook=true`` delivery task) and :mod:`.errors` (the one error
shape, ``{"detail": {"type", "code", "message", "status", "request_id", "param"}}``).
It imports no other API family. Importing the package itself imports nothing (the webhook
worker imports :mod:`.webhook` alone).
"""
