"""The OpenAPI document (apispec): the operations routes, plus what each API family adds.

The families sit above this package, so they are not imported here: ``dalston.app`` hands
:func:`build_spec` the families' ``describe(spec)`` functions (today the native API's,
``dalston.native.openapi``), and ``/openapi.json`` (``health.py``) serves the result.
"""

from __future__ import annotations

import functools
from typing import Callable

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from dalston import __version__

Describer = Callable[[APISpec], None]


@functools.lru_cache(maxsize=4)
def build_spec(describers: tuple[Describer, ...] = ()) -> dict:
    spec = APISpec(
        title="Dalston",
        version=__version__,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": "Self-hosted speech-to-text: batch transcription with word timestamps."
        },
    )
    for describe in describers:
        describe(spec)
    for path, summary in (
        ("/health", "Liveness"),
        ("/v1/system/status", "Database, broker, storage, queues"),
        ("/v1/models", "Models and whether each is ready"),
    ):
        spec.path(
            path,
            operations={"get": {"summary": summary, "responses": {"200": {"description": "OK"}}}},
        )
    return spec.to_dict()
