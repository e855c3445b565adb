"""The native API: ``/v1/audio/transcriptions`` — asynchronous jobs, their stages, exports.

:mod:`.views` (the blueprint, and ``create_job`` for the path shared with OpenAI),
:mod:`.schemas` (marshmallow), :mod:`.render` (a job as the API shows it), :mod:`.errors`
(the one error shape, ``{"error": {"code", "message", "field"?}}``) and :mod:`.openapi`
(its part of ``/openapi.json``). It imports no other API family.
"""
