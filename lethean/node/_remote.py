"""
A peer's refusals, in lethean's words.

Workers answer a request they cannot carry out with the reference's texts
(``Worker.handleStartMiner: profile not found: gpu``): exact, because Go
controllers read them, but written for a Go programmer.  :func:`explain_request_failure`
turns the controller's error for one request into a :class:`RequestFailedError`
whose line names the peer and says what to do next; the peer's own text
stays in ``remote`` (``--json`` shows it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lethean.errors import LetheanError
from lethean.node._errors import (
    DeployFailedError,
    MinerCommandError,
    RemoteError,
    RequestAbortedError,
    RequestFailedError,
    RequestRefusedError,
    RequestTimeoutError,
    RequestUnansweredError,
    SendFailedError,
    UnexpectedResponseError,
)

from lethean.node._targets import Command

__all__ = [
    "explain_request_failure",
]


#: (pattern of the reference's text, lethean's words); ``{0}`` is the
#: pattern's group, ``{target}`` how the user named the peer, and
#: ``{lethean}`` the start of a ``lethean`` command that acts where the
#: failed one did (``{options}`` ends it).
_TEXTS = [
    (r"Worker\.handleStartMiner: profile not found: $",
     "it needs a profile or a config to start a miner: give --profile NAME (a profile deployed "
     "there) or --config JSON"),
    (r"Worker\.handleStartMiner: profile not found: (.+)",
     "no profile {0!r} is saved there: deploy it with '{lethean}deploy {target} PROFILE.json "
     "--kind profile --name {0}{options}'"),
    (r"Worker\.handleStartMiner: no config provided and no profile manager configured",
     "it keeps no profiles: give the miner's config with --config JSON"),
    (r"(?:Worker\.handleGetLogs: |miner stop failed: )?miner not found: (.*)",
     "no miner named {0!r} runs there: '{lethean}stats {target}{options}' lists its miners"),
    (r"miner start failed: no miner command configured.*",
     "it has no miner program: its operator starts the node with --miner-command CMD"),
    (r"miner start failed: miner command not found: (.*)",
     "its miner program {0!r} is not installed there"),
    (r"miner start failed: (.*)", "the miner did not start: {0}"),
    (r"node: miner manager not configured",
     "it runs no miners (a controller-only node, or a worker without miners)"),
    (r"(?:Worker\.handleDeploy: )?failed to extract (?:profile|miner) bundle: "
     r".*(?:decrypt|password|authentic).*",
     "it cannot open the bundle: a bundle must be encrypted for that peer's link; build one "
     "with '{lethean}bundle create ... --for {target}{options}', or deploy the profile or "
     "miner itself with --kind profile or --kind miner"),
    (r"(?:Worker\.handleDeploy: )?unknown bundle type: (.*)",
     "it does not know the bundle type {0!r}"),
    (r"Worker\.handleDeploy: profile manager not configured", "it keeps no profiles"),
    (r"unknown message type.*",
     "it does not serve that request (an older or another kind of node)"),
]
_COMPILED = [(re.compile(pattern, re.S), words) for pattern, words in _TEXTS]
_GO_PREFIX = re.compile(r"^(?:Worker|Controller|node)\.?[A-Za-z]*: ")


def lethean_words(text: str, target: str, command: Command | None = None) -> str:
    """
    The reference's refusal ``text`` as lethean words (one printable line);
    ``command(words)`` writes a ``lethean`` command for a hint.
    """
    import shlex

    from lethean.node._targets import lethean_command, printable

    # The command's start and end, around where its words go.
    lethean, _, options = (command or lethean_command)("\0").partition("\0")
    text = printable(text)
    for pattern, words in _COMPILED:
        match = pattern.fullmatch(text)
        if match is not None:
            return words.format(*match.groups(), target=shlex.quote(target), lethean=lethean,
                                options=options)
    return _GO_PREFIX.sub("", text) or "no reason given"


def explain_request_failure(error: LetheanError, label: str, peer: Mapping[str, Any],
                            target: str, what: str,
                            command: Command | None = None) -> RequestFailedError | None:
    """
    The :class:`RequestFailedError` for ``error`` (a controller error) of
    the request ``what`` (``"stats"``, ``"start the miner"``...) to the peer
    ``label``; None when ``error`` is not a request failure.  ``command``
    writes the ``lethean`` commands hints name.
    """
    remote: dict[str, Any] | None
    text: str | None
    if isinstance(error, RemoteError):
        remote = {"code": error.code, "message": error.message}
        text = error.message
    elif isinstance(error, (MinerCommandError, DeployFailedError)):
        remote = {"code": None, "message": error.remote_message}
        text = str(error)
    else:
        remote = None
        text = None
    if text is not None:
        return RequestRefusedError("{} could not {}: {}".format(
            label, what, lethean_words(text, target, command)), peer, remote)
    if isinstance(error, RequestTimeoutError):
        return RequestUnansweredError(
            "{} did not answer in time ({}); it may be overloaded: try again, and see its log"
            .format(label, what), peer)
    if isinstance(error, (RequestAbortedError, SendFailedError)):
        return RequestUnansweredError(
            "the link to {} closed before it answered ({}): try again".format(label, what), peer)
    if isinstance(error, UnexpectedResponseError):
        from lethean.node._targets import printable

        return RequestFailedError(
            "{} answered in a way lethean does not understand ({}: {})".format(
                label, what, printable(error)), peer)
    return None
