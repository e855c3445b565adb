"""``dalston``: the command-line client of a Dalston server.

It speaks HTTP only (``requests``, the native REST API, the same calls a user's own
client makes) and imports nothing of the server but :mod:`dalston.config` (the
layering contract in ``setup.cfg`` holds it to that), so it works against any Dalston,
local or remote. :mod:`.client` is the HTTP client, :mod:`.main` the commands,
:mod:`.local` starts embedded mode for ``dalston transcribe`` when no server runs on this
machine (``python -m dalston.embedded`` in a child process, as ``make run`` does).
"""
