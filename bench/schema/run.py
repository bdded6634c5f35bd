"""The per-request cost of the parameter-type tables (formats/schema.py), in microseconds.

Usage: .venv/bin/python bench/schema/run.py
Bodies: a 1.5 KB prose chat request (the request of bench/run) and an Anthropic request
of five 1.4 KB text-block turns. Best of three runs of 100,000 checks each.
"""

from __future__ import annotations

import timeit
from typing import Any

from gateway_cli.formats.requests import check_request
from gateway_cli.providers.operations import Op

CHAT: dict[str, Any] = {
    "model": "gpt-4o", "temperature": 0.7, "max_tokens": 200, "stream": False,
    "messages": [{"role": "system", "content": "You are a helpful assistant."},
                 {"role": "user", "content": "x" * 1400}]}
MESSAGES: dict[str, Any] = {
    "model": "claude", "max_tokens": 200, "system": "be brief",
    "messages": [{"role": "user", "content": [{"type": "text", "text": "x" * 1400}]}] * 5}


def main() -> None:
    for op, body in ((Op.CHAT, CHAT), (Op.MESSAGES, MESSAGES)):
        n = 100_000
        best = min(timeit.repeat(lambda op=op, body=body: check_request(op, body),
                                 number=n, repeat=3)) / n
        print(f"{op.value}: {best * 1e6:.2f} us per request")


if __name__ == "__main__":
    main()
