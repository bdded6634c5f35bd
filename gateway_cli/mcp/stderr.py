"""What a stdio MCP server writes on stderr: read continuously, kept bounded, redacted.

A child whose stderr pipe fills blocks on its next write, and with it every
call; so the pipe is always drained, whatever the child writes. What is kept
is bounded (the last TAIL_LINES lines, each cut to LINE_CHARS; a line longer
than LINE_BYTES is cut as it arrives) and redacted before it is kept or
logged: the credentials the gateway gave the child are replaced, then
anything the secret guard recognises is masked. The child got only its own
environment (connection.child_env), so the gateway's own secrets cannot be
in it; its own can, and this is where they would leak to a log.

Pure: bytes in, redacted lines out; the transport logs them.
"""

from __future__ import annotations

import re
from collections import deque

from gateway_cli.guards import redact, secrets

TAIL_LINES = 64
LINE_CHARS = 500
LINE_BYTES = 8192
OWN = "[redacted: the server's own credential]"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_LOUD = re.compile(r"error|exception|traceback|fatal|panic|warn", re.IGNORECASE)


def clean(raw: bytes, known: tuple[str, ...]) -> str:
    """One line as it may be logged and shown: decoded, without control characters (no
    terminal escapes in a log), cut, the child's own credentials replaced and recognised
    secrets masked."""
    text = raw.decode("utf-8", "replace").rstrip("\r")
    for secret in known:
        if len(secret) >= 8:
            text = text.replace(secret, OWN)
    text = _CONTROL.sub("?", text)
    found = secrets.scan(text)
    if found:
        text, _ = redact.redact(text, found, style="mask")
    return text if len(text) <= LINE_CHARS else text[:LINE_CHARS] + " [cut]"


def loud(line: str) -> bool:
    """Whether a line reads as a problem (logged at WARNING rather than INFO)."""
    return bool(_LOUD.search(line))


class Tail:
    """Splits chunks into lines, keeps the last TAIL_LINES of them, each redacted."""

    def __init__(self, known: tuple[str, ...] = ()) -> None:
        self.known = known
        self.lines: deque[str] = deque(maxlen=TAIL_LINES)
        self._partial = b""
        self._cut = False

    def feed(self, chunk: bytes) -> list[str]:
        """The complete lines in `chunk` (with what came before), redacted; kept too."""
        out: list[str] = []
        data = self._partial + chunk
        *complete, rest = data.split(b"\n")
        for raw in complete:
            if self._cut:  # the end of a line already cut and kept
                self._cut = False
                continue
            out.append(clean(raw[:LINE_BYTES], self.known))
        if len(rest) > LINE_BYTES:  # a line without end: keep its start, drop the rest
            if not self._cut:
                out.append(clean(rest[:LINE_BYTES], self.known) + " [cut]")
            self._cut = True
            rest = b""
        elif self._cut:
            rest = b""  # still the cut line's tail
        self._partial = rest
        self.lines.extend(out)
        return out

    def end(self) -> list[str]:
        """The last line when the stream ends without a newline."""
        if not self._partial:
            return []
        line = clean(self._partial, self.known)
        self._partial = b""
        self.lines.append(line)
        return [line]
