"""The admin API (``/v1/admin/…``, the ``admin`` scope): API keys over HTTP.

The same operations as ``dalston keys`` (which talks to the database, for the first key);
errors in the native shape. The scope is required by the one auth hook
(``dalston.auth.required_scope``), not here.
"""
