"""The learned injection classifier shipped in the package: logistic regression over words.

Why a linear model: it runs with the standard library in tens of microseconds
per 4 KB, it is reproducible byte for byte from the training script
(`bench/guards/train_classifier.py`), and every weight is a word or a
marker a person can read. The rules stay: they explain findings and decode
payloads; the model catches what has no rule (a short hijack without a trigger
phrase, a persona set-up, an attack inside a document).

How a text is scored: it is prepared once (folded and lowered, `features`),
and scored as one window when it is up to `window` characters (every
training text is); a longer one in windows of two neighbouring pieces of
`stride` characters, of which the `SCORED` whose distinct words weigh most
are scored in full (`_windows`: what keeps a megabyte linear and cheap). A
window's logit is the bias plus the sum of its features' weights over the
square root of their number, or of `floor` when they are fewer: three words
are three words' worth of evidence, not a paragraph's. The text's
probability is that of its highest scored window, so an attack inside a long
document is not diluted by it.
Sums use `math.fsum`, exact whatever order a set yields its members in, so a
score is the same in every process.

The bias includes the decision threshold chosen on cross-validation (see the
model card, bench/guards/MODEL_CARD.md): 0.5 is the point where the training
run measured the false-positive rate it aimed at, the same 0.5 the rest of the
injection guard uses.

Integrity: the file's sha256 is pinned below (the trainer writes it), on top
of the digest in the file's own header and of the RECORD or release manifest
that covers every package file. A file that does not match is refused at
start-up with `WeightsError`; the gateway does not run the guard without it.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections.abc import Callable, Iterable
from importlib import resources
from itertools import chain, pairwise
from typing import Final

from gateway_cli.guards.injection import classifier_digest
from gateway_cli.guards.injection.features import (
    MARKER_BYTES,
    STEM,
    Features,
    assemble,
    char_bigrams,
    count,
    data_features,
    prepare,
    split_words,
    window_bytes,
    window_features,
)
from gateway_cli.guards.injection.tokens import Shared
from gateway_cli.guards.injection.weights import Weights, WeightsError, decode

try:  # the compiled window scorer (_window_weights.c), built where a C compiler was found
    from gateway_cli.guards.injection import _window_weights
except ImportError:  # pragma: no cover - exercised where the extension was not built
    _window_weights = None  # type: ignore[assignment]


def compiled_available() -> bool:
    """Whether this install has the compiled window scorer (the start-up log says which runs)."""
    return _window_weights is not None

RESOURCE: Final = "classifier.bin"
_CUT_REACH: Final = 64  # a piece ends at the last space this close to its length, if any
SCORED: Final = 8  # windows of a long text scored in full
_LOGIT_CAP: Final = 40.0


def sigmoid(z: float) -> float:
    z = max(-_LOGIT_CAP, min(_LOGIT_CAP, z))
    return 1.0 / (1.0 + math.exp(-z))


class Model:
    """A decoded weights file, ready to score texts (`predict`, `locate`)."""

    def __init__(self, weights: Weights, *, compiled: bool | None = None) -> None:
        """`compiled`: None takes the compiled scorer where it is built; False, the Python one."""
        self.bias = weights.bias
        self.window = weights.window
        self.stride = weights.stride
        self.floor = weights.floor
        t = weights.tables
        self.unigrams: dict[bytes, float] = dict(zip(*t["unigrams"], strict=True))
        self.bigrams: dict[tuple[bytes, bytes], float] = {}
        for key, value in zip(*t["bigrams"], strict=True):
            first, sep, second = key.partition(b"\x00")
            if not sep:
                raise WeightsError(f"bigram key {key[:20]!r} has no separator")
            self.bigrams[(first, second)] = value
        # The vocabularies as sets: a window's features are intersected with them (set
        # against set reuses the hashes the window's sets stored; a pair of words is a
        # tuple, whose hash is not kept, so a lookup would hash it again), and only the
        # features that have a weight are looked up.
        self._unigram_keys = frozenset(self.unigrams)
        self._bigram_keys = frozenset(self.bigrams)
        self.stems: dict[bytes, float] = dict(zip(*t["stems"], strict=True))
        try:
            self.chars: dict[str, float] = {k.decode("utf-8", "surrogatepass"): v
                                            for k, v in zip(*t["char_bigrams"], strict=True)}
        except UnicodeDecodeError as err:
            raise WeightsError(f"a character-bigram key is not text: {err}") from err
        markers = dict(zip(*t["markers"], strict=True))
        unknown = set(markers) - set(MARKER_BYTES)
        if unknown:
            raise WeightsError(f"markers this gateway does not extract: {sorted(unknown)}")
        self.markers = markers
        if compiled is None:
            compiled = _window_weights is not None
        self._table = self._compile() if compiled else None

    @property
    def compiled(self) -> bool:
        """Whether windows are weighed by the compiled scorer (else by `_weigh`)."""
        return self._table is not None

    def _compile(self) -> _window_weights.Table:
        """The tables in the compiled scorer's form: every word once, pairs by word index.

        A stem key that is not `STEM` bytes can never be a window's stem, so it is
        left out here as the Python scorer never looks it up. The hash key is
        random per process (`_window_weights.c`: no text can be built to collide).
        """
        words = sorted(set(self.unigrams).union(*self.bigrams))
        index = {w: i for i, w in enumerate(words)}
        if _window_weights is None:
            raise WeightsError("the compiled window scorer is not built in this install")
        try:
            return _window_weights.Table(
                words, [self.unigrams.get(w, 0.0) for w in words],
                [(index[a], index[b], w) for (a, b), w in self.bigrams.items()],
                [(k, w) for k, w in self.stems.items() if len(k) == STEM],
                MARKER_BYTES, [self.markers.get(m) for m in MARKER_BYTES],
                int.from_bytes(os.urandom(8), "little"))
        except (TypeError, ValueError) as err:  # never half-loaded: refused like a bad file
            raise WeightsError(f"the classifier weights cannot be loaded by the compiled "
                               f"scorer: {err}; reinstall the gateway") from None

    def _weigh_bytes(self, data: bytes) -> tuple[float, int]:
        """(summed weight, number of features) of one window's bytes (`window_bytes`)."""
        if self._table is None:
            features = data_features(data)
            return self._weigh(features), count(features)
        found, n, long_words = self._table.weigh(data)
        if long_words:
            grams = char_bigrams(long_words)
            found.extend(filter(None, map(self.chars.get, grams)))
            n += len(grams)
        return math.fsum(found), n

    def _weigh(self, features: Features) -> float:
        unigrams, bigrams, stems, chars, markers = features
        found: Iterable[float] = chain(
            filter(None, map(self.unigrams.get, unigrams)),
            filter(None, map(self.bigrams.__getitem__, self._bigram_keys.intersection(bigrams))),
            filter(None, map(self.stems.get, stems)),
            filter(None, map(self.chars.get, chars)),
            map(self.markers.__getitem__, filter(self.markers.__contains__, markers)))
        return math.fsum(found)

    def _logit(self, weight: float, n: int) -> float:
        return self.bias + weight / math.sqrt(max(n, self.floor))

    def window_logit(self, lowered: str) -> float:
        """The logit of one prepared window: what the model was trained on, text by text."""
        if self._table is None:
            features = window_features(lowered)
            return self._logit(self._weigh(features), count(features))
        return self._logit(*self._weigh_bytes(window_bytes(lowered)))

    def _halves(self, prepared: str) -> list[tuple[int, int]]:
        """`prepared` cut into pieces of about `stride` characters, at a space where one is near."""
        cuts, at, size = [], 0, len(prepared)
        while at < size:
            end = min(size, at + self.stride)
            if end < size:
                space = prepared.rfind(" ", end - _CUT_REACH, end)
                end = space + 1 if space > at else end
            cuts.append((at, end))
            at = end
        return cuts

    def _windows(self, prepared: str) -> list[tuple[int, int]]:
        """The windows of a long text worth scoring in full: the `SCORED` whose words weigh most.

        Every pair of neighbouring pieces is a window (so every span of up to
        `stride` characters lies wholly inside one); each is ranked by the summed
        weights of its two pieces' distinct words, a set lookup per distinct word
        (once per distinct piece: a flood of one phrase costs one piece). The
        full features (pairs, stems, markers) of every window would cost ten
        times that on a megabyte of short words.
        """
        seen: dict[str, float] = {}
        pieces = []
        for start, end in self._halves(prepared):
            piece = prepared[start:end]
            weight = seen.get(piece)
            if weight is None:
                # The piece's distinct words that have a weight, without the set of all of them.
                known = self._unigram_keys.intersection(split_words(piece))
                weight = seen[piece] = math.fsum(filter(None, map(self.unigrams.__getitem__,
                                                                  known)))
            pieces.append((weight, start, end))
        ranked = sorted(((-(a[0] + b[0]), a[1], b[2]) for a, b in pairwise(pieces)))
        return [(start, end) for _, start, end in ranked[:SCORED]]

    def locate(self, text: str) -> tuple[float, int, int]:
        """(probability, start, end): the highest-scoring window, as offsets into `text`.

        A text up to `window` characters is one window (every training text was);
        a longer one is scored in windows of two neighbouring pieces. When
        folding or lowering changed the text's length (invisible characters
        removed, a full-width form folded to two), the window's offsets no longer
        point into `text`: the span is then the whole text.
        """
        prepared = prepare(text)
        if len(prepared) <= self.window:
            z, start, end = self.window_logit(prepared), 0, len(text)
        else:
            z, start, end = max((self.window_logit(prepared[a:b]), a, b)
                                for a, b in self._windows(prepared))
        if len(prepared) != len(text):
            start, end = 0, len(text)
        return sigmoid(z), start, end

    def locate_shared(self, text: str, shared: Shared) -> tuple[float, int, int]:
        """`locate(text)`, from the split `tokens.share(text)` made for the rules too.

        `share` shares only a text whose prepared form is its lowered form, as
        long as the text: one up to `window` characters is one window whose
        prepared text is `shared.lowered`, and its features come from the
        shared split (`features.assemble`).
        """
        if len(text) > self.window:
            return self.locate(text)
        if self._table is not None:
            return sigmoid(self._logit(*self._weigh_bytes(shared.data))), 0, len(text)
        features = assemble(shared.data, shared.words, shared.pairs)
        return sigmoid(self._logit(self._weigh(features), count(features))), 0, len(text)

    def predict(self, text: str) -> float:
        """P(injection) of `text`, in 0..1 (the `Classifier` protocol)."""
        return self.locate(text)[0]


def load(data: bytes, expected_sha256: str | None = classifier_digest.SHA256) -> Model:
    """A model from a weights file's bytes: the format checked, then the pinned digest.

    The format first, so a damaged file is reported as what it is (truncated,
    corrupt); the digest then refuses a file that is well-formed but is not
    the one this gateway was released with.
    """
    where = f"the classifier weights (gateway_cli/guards/injection/{RESOURCE})"
    try:
        weights = decode(data)
    except WeightsError as err:
        raise WeightsError(f"{where}: {err}; reinstall the gateway") from None
    if expected_sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256:
            raise WeightsError(
                f"{where}: sha256 {actual}, but this gateway pins {expected_sha256}: the file "
                "was changed or replaced; reinstall the gateway")
    return Model(weights)


def read_shipped() -> bytes:
    try:
        return resources.files("gateway_cli.guards.injection").joinpath(RESOURCE).read_bytes()
    except OSError as err:
        raise WeightsError(f"cannot read the shipped classifier weights "
                           f"(gateway_cli/guards/injection/{RESOURCE}): {err}; "
                           "reinstall the gateway") from err


_lock = threading.Lock()
_shipped: Model | None = None


def shipped(read: Callable[[], bytes] | None = None) -> Model:
    """The shipped model, loaded and checked on first use and kept for the process."""
    global _shipped
    if _shipped is None:
        with _lock:
            if _shipped is None:
                _shipped = load((read or read_shipped)())
    return _shipped
