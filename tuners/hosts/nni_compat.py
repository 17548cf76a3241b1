"""Work-arounds for NNI 3.0, shared by the dispatcher-side adapters and the trial-side API."""
from __future__ import annotations

from nni.common import serializer


def keep_comments() -> None:
    """Make NNI's JSON loader keep ``//`` and ``#`` inside messages (idempotent).

    ``nni.common.serializer.load`` defaults to ``ignore_comments=True``; json_tricks' comment
    stripper then cuts a line at ``#`` or ``//`` after an escaped quote, so a parameter value such
    as ``'say "hi" // there'`` or a nested message holding ``#`` is truncated and the trial hangs.
    NNI's own messages never contain comments, so flipping the keyword default is safe and fixes
    every caller at once (the dispatcher, its command channel, and the trial's parameter file).
    """
    serializer.load.__kwdefaults__["ignore_comments"] = False
