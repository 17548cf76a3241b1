"""Work-arounds for NNI 3.0, shared by the dispatcher-side adapters and the trial-side API."""
from __future__ import annotations

import sys

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


def report_to_manager(message: str) -> bool:
    """Send ``message`` as an error to the NNI manager from inside a dispatcher call.

    NNI 3.0 creates the tuner and assessor before its dispatcher and never reports an exception
    raised in them: the dispatcher exits and the experiment stays RUNNING with no trials. Called
    from a tuner/assessor method (which the dispatcher invokes), this finds the calling dispatcher
    on the stack and uses its public ``report_error``, so the experiment turns to ERROR and
    ``nnimanager.log`` holds the message. Returns False when not called from a dispatcher.
    """
    from nni.runtime.msg_dispatcher_base import MsgDispatcherBase

    frame = sys._getframe(1)
    while frame is not None:
        owner = frame.f_locals.get("self")
        if isinstance(owner, MsgDispatcherBase):
            owner.report_error(message)
            return True
        frame = frame.f_back
    return False
