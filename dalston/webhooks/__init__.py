"""Webhooks: tell a client its job ended, signed, retried, logged, behind the address guard.

* :mod:`.signing` — Standard Webhooks signatures (``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, ``whsec_`` secrets).
* :mod:`.guard` — POST to a URL whose address (and every redirect's) must be public.
* :mod:`.store` — endpoints (registered, or a job's own ``webhook_url``) and the delivery log.
* :mod:`.delivery` — one attempt: post, log, schedule the next with exponential backoff.
* :mod:`.tasks` — the native events (``transcription.completed|failed|cancelled``) as Celery
  tasks on the ``webhooks`` queue; ElevenLabs jobs use ``dalston.elevenlabs.webhook``,
  which shares :mod:`.delivery`.
* :mod:`.views` — ``/v1/webhooks``: create (the secret shown once), list, get, update,
  delete, rotate the secret.

This package sits between the API families (which import it) and ``dalston.api``.
"""
