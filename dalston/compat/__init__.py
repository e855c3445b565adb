"""Pure helpers that shape Dalston transcripts into other vendors' wire formats."""

from __future__ import annotations

import math


def word_logprob(confidence: float | None) -> float:
    """ln of a word's probability, as both vendors report it (0.0 when it is unknown)."""
    if confidence is None:
        return 0.0
    return round(math.log(min(max(confidence, 1e-10), 1.0)), 4)
