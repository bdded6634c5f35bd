"""Train the injection classifier the gateway ships, reproducibly, with the standard library.

    .venv/bin/python bench/guards/train_classifier.py          # rewrite the shipped weights
    .venv/bin/python bench/guards/train_classifier.py --out X  # write X, leave the digest be
    .venv/bin/python bench/guards/train_classifier.py --check  # exit 1 if shipped file differs

Data: `../shared/fixtures/train/injection.jsonl` (see its README). Only records
whose licence is in `TRAIN_LICENCES` are trained on; the others (CC-BY-SA) are
scored as an evaluation-only benign set. The development split
(`../shared/fixtures/eval/injection.jsonl`) is scored, never trained on. Added
to the corpus: the benign texts of `negatives.py` (multilingual paragraphs,
READMEs, code and docs of MIT / Apache-2.0 packages the lock pins), trained
on, and left out of the threshold and the reported cross-validation rates.

Same data, same bytes: records are sorted by text before anything else, every
feature list is sorted before it is summed, the shuffles come from
`random.Random(SEED + epoch)`, the vocabulary is sorted, and nothing depends
on Python's per-process `hash()` (sets are only ever sorted or counted).
The tests run it twice on a small subset under different PYTHONHASHSEEDs and
compare the bytes, and compare a full run with the shipped file.

The model: logistic regression over the binary features of
`gateway_cli/guards/injection/features.py` (those seen in at least `MIN_DF`
training texts), each text's vector scaled to unit length, classes weighted
to balance, plain SGD with L2 and a decaying step, then the weights of the
last epochs averaged. The threshold is chosen on `FOLDS`-fold cross-validation
(out-of-fold probabilities) as the lowest that keeps the benign false-positive
rate at or under `TARGET_FPR`, and folded into the bias so that 0.5 is the
decision point of the shipped model.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gateway_cli.guards.injection import InjectionGuard  # noqa: E402
from gateway_cli.guards.injection import weights as wfile  # noqa: E402
from gateway_cli.guards.injection.classifier import Model, sigmoid  # noqa: E402
from gateway_cli.guards.injection.features import prepare, window_features  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import negatives as extra  # noqa: E402

DATA = ROOT.parent / "shared" / "fixtures" / "train" / "injection.jsonl"
DEV = ROOT.parent / "shared" / "fixtures" / "eval" / "injection.jsonl"
SHIPPED = ROOT / "gateway_cli" / "guards" / "injection" / "classifier.bin"
DIGEST_MODULE = ROOT / "gateway_cli" / "guards" / "injection" / "classifier_digest.py"
TRAIN_LICENCES = frozenset({"MIT", "Apache-2.0", "CC0-1.0", "ODC-By-1.0"})

SEED = 20261207
MIN_DF = 2
EPOCHS = 12
AVERAGE_FROM = 6  # epochs from this one on are averaged
LEARNING_RATE = 5.0
L2 = 1.5e-4  # 3e-4 before the negatives of negatives.py (issue 21): CV recall 0.647 vs 0.631
TOP_K = 30000  # weights kept (the largest); the others are left out of the file
PRUNE = 1e-9  # zero weights are left out of the file
FOLDS = 5
TARGET_FPR = 0.01  # 0.02 measured in session 11 and not kept: it blocks Claude Code (README)
SWEEP_FPR = (0.005, 0.01, 0.015, 0.02, 0.03)  # reported, not used
WINDOW = 4096  # characters: every training text (<= 4,000) is one window
STRIDE = 2048
FLOOR = 128  # a text with fewer features is scaled as if it had this many

Key = tuple[int, Any]  # (table index, key)


class Record(NamedTuple):
    text: str
    injection: bool
    source: str
    licence: str


class Doc(NamedTuple):
    keys: tuple[Key, ...]  # sorted
    n: int  # every feature of the text, in the vocabulary or not
    y: int


def read(path: Path) -> list[Record]:
    records = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.strip():
            r = json.loads(line)
            records.append(Record(r["text"], r["label"] == "injection", r.get("source", ""),
                                  r.get("license", "")))
    return sorted(records)


def features(text: str) -> tuple[tuple[Key, ...], int]:
    unigrams, bigrams, stems, chars, markers = window_features(prepare(text))
    keys: list[Key] = [(0, k) for k in unigrams]
    keys += [(1, b"\x00".join(k)) for k in bigrams]
    keys += [(2, k) for k in stems]
    keys += [(3, k.encode("utf-8", "surrogatepass")) for k in chars]
    keys += [(4, m) for m in markers]
    return tuple(sorted(keys)), len(keys)


def to_docs(records: Sequence[Record]) -> list[Doc]:
    out = []
    for r in records:
        keys, n = features(r.text)
        out.append(Doc(keys, n, int(r.injection)))
    return out


class Fit(NamedTuple):
    vocab: tuple[Key, ...]
    w: list[float]
    bias: float


def train(docs: Sequence[Doc], *, seed: int = SEED) -> Fit:
    df: Counter[Key] = Counter()
    for d in docs:
        df.update(d.keys)
    vocab = tuple(sorted(k for k, c in df.items() if c >= MIN_DF))
    index = {k: i for i, k in enumerate(vocab)}
    rows = [([index[k] for k in d.keys if k in index], 1.0 / math.sqrt(max(FLOOR, d.n)), d.y)
            for d in docs]
    positives = sum(d.y for d in docs)
    class_weight = (len(docs) / (2.0 * max(1, len(docs) - positives)),
                    len(docs) / (2.0 * max(1, positives)))
    w = [0.0] * len(vocab)
    b = 0.0
    avg_w = [0.0] * len(vocab)
    avg_b = 0.0
    averaged = 0
    order = list(range(len(rows)))
    step = 0
    for epoch in range(EPOCHS):
        random.Random(SEED + seed + epoch).shuffle(order)
        for i in order:
            idx, scale, y = rows[i]
            lr = LEARNING_RATE / (1.0 + step / len(rows))
            step += 1
            z = b + scale * sum([w[j] for j in idx])
            g = class_weight[y] * (sigmoid(z) - y)
            b -= lr * g
            gs = lr * g * scale
            decay = 1.0 - lr * L2
            for j in idx:
                w[j] = w[j] * decay - gs
        if epoch >= AVERAGE_FROM:
            averaged += 1
            avg_b += b
            for j, v in enumerate(w):
                avg_w[j] += v
    final = [v / averaged for v in avg_w]
    # Keep the TOP_K largest weights (ties by vocabulary order): the rest are zero.
    ranked = sorted(range(len(final)), key=lambda j: (-abs(final[j]), j))
    for j in ranked[TOP_K:]:
        final[j] = 0.0
    return Fit(vocab, final, avg_b / averaged)


def logit_of(fit: Fit, index: dict[Key, int], doc: Doc) -> float:
    total = math.fsum(fit.w[index[k]] for k in doc.keys if k in index)
    return fit.bias + total / math.sqrt(max(FLOOR, doc.n))


def threshold_for(benign: Sequence[float], target_fpr: float) -> float:
    """The lowest probability threshold whose benign false-positive rate is <= target."""
    ranked = sorted(benign, reverse=True)
    allowed = math.floor(target_fpr * len(ranked))
    if allowed >= len(ranked):
        return 0.0
    # Strictly above the first benign score that must not pass.
    return math.nextafter(ranked[allowed], math.inf)


def cross_validate(docs: Sequence[Doc], folds: int) -> list[tuple[int, float]]:
    """Out-of-fold (label, probability) for every doc; fold = shuffled position mod `folds`."""
    order = list(range(len(docs)))
    random.Random(SEED).shuffle(order)
    fold_of = {i: n % folds for n, i in enumerate(order)}
    out: list[tuple[int, float]] = [(0, 0.0)] * len(docs)
    for k in range(folds):
        train_docs = [d for i, d in enumerate(docs) if fold_of[i] != k]
        fit = train(train_docs, seed=k + 1)
        index = {key: i for i, key in enumerate(fit.vocab)}
        for i, d in enumerate(docs):
            if fold_of[i] == k:
                out[i] = (d.y, sigmoid(logit_of(fit, index, d)))
    return out


def rates(rows: Sequence[tuple[int, float]], threshold: float) -> dict[str, float]:
    tp = sum(1 for y, p in rows if y and p >= threshold)
    fp = sum(1 for y, p in rows if not y and p >= threshold)
    pos = sum(1 for y, _ in rows if y)
    neg = len(rows) - pos
    return {"recall": tp / pos if pos else 1.0, "fpr": fp / neg if neg else 0.0,
            "tp": tp, "fp": fp, "positives": pos, "negatives": neg}


def with_rules(records: Sequence[Record], flagged: Sequence[bool] | None) -> dict[str, float]:
    """The injection guard's verdict (score >= 0.5 as user text) with the classifier's
    out-of-fold decisions added as its finding would be: evaluation only."""
    from gateway_cli.guards.base import Finding
    from gateway_cli.guards.injection import combine, scan

    rows = []
    for n, r in enumerate(records):
        found = scan(r.text)
        if flagged is not None and flagged[n]:
            found.append(Finding("injection", "classifier", 0, len(r.text), 0.5, "classifier"))
        rows.append((int(r.injection), combine(found)))
    return rates(rows, 0.5)


def to_weights(fit: Fit, shift: float) -> wfile.Weights:
    tables: dict[str, tuple[list[bytes], list[float]]] = {n: ([], []) for n in wfile.TABLES}
    for (table, key), value in zip(fit.vocab, fit.w, strict=True):
        if abs(value) >= PRUNE:
            name = wfile.TABLES[table]
            tables[name][0].append(key)
            tables[name][1].append(value)
    return wfile.Weights(fit.bias - shift, WINDOW, STRIDE, FLOOR,
                         {n: (tuple(k), tuple(v)) for n, (k, v) in tables.items()})


def negative_records(lorem: int = extra.LOREM_PER_LOCALE,
                     code: int = extra.CODE_CHUNKS) -> list[Record]:
    """The benign texts `negatives.py` makes from the locked packages, as training records."""
    out = []
    for n in extra.negatives(lorem, code):
        if n.licence not in TRAIN_LICENCES:
            raise SystemExit(f"{n.source}: licence {n.licence} is not trained on")
        out.append(Record(n.text, False, n.source, n.licence))
    return sorted(out)


def score_records(model: Model, records: Sequence[Record]) -> list[tuple[int, float]]:
    return [(int(r.injection), model.predict(r.text)) for r in records]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--dev", type=Path, default=DEV, help="scored, never trained on")
    ap.add_argument("--out", type=Path, default=None,
                    help="weights file to write (default: the shipped one, and its digest)")
    ap.add_argument("--limit", type=int, default=0,
                    help="train on the first N licensed records (sorted by text) only")
    ap.add_argument("--folds", type=int, default=FOLDS)
    ap.add_argument("--report", type=Path, default=None, help="write the metrics as JSON")
    ap.add_argument("--no-negatives", action="store_true",
                    help="leave out the negatives made from locked packages (negatives.py)")
    ap.add_argument("--lorem", type=int, default=extra.LOREM_PER_LOCALE,
                    help="multilingual negatives per Faker locale")
    ap.add_argument("--code", type=int, default=extra.CODE_CHUNKS,
                    help="code and docs negatives")
    ap.add_argument("--check", action="store_true",
                    help="train, and exit 1 if the result differs from the shipped file")
    args = ap.parse_args(argv)
    started = time.monotonic()

    records = read(args.data)
    licensed = [r for r in records if r.licence in TRAIN_LICENCES]
    evaluation_only = [r for r in records if r.licence not in TRAIN_LICENCES]
    if args.limit:
        licensed = licensed[: args.limit]
    added = [] if args.no_negatives else negative_records(args.lorem, args.code)
    docs = to_docs(licensed)
    added_docs = to_docs(added)
    report: dict[str, Any] = {
        "training_records": len(licensed),
        "training_injection": sum(r.injection for r in licensed),
        "training_by_licence": dict(sorted(Counter(r.licence for r in licensed).items())),
        "added_negatives": dict(sorted(Counter(r.source.split(" ")[0] for r in added).items())),
        "added_negatives_by_licence": dict(sorted(Counter(r.licence for r in added).items())),
        "evaluation_only_records": len(evaluation_only),
        "evaluation_only_by_licence": dict(sorted(Counter(r.licence for r in evaluation_only)
                                                  .items())),
    }
    if args.folds >= 2:
        # The folds run over the corpus and the added negatives together; the threshold and
        # the reported rates are the corpus's alone, so they compare with runs without them.
        every = cross_validate(docs + added_docs, args.folds)
        oof = every[: len(docs)]
        threshold = threshold_for([p for y, p in oof if not y], TARGET_FPR)
        report["cv"] = {"folds": args.folds, "threshold": threshold,
                        "at_threshold": rates(oof, threshold),
                        "at_0.5": rates(oof, 0.5),
                        "rules_alone": with_rules(licensed, None),
                        "rules_and_classifier": with_rules(licensed, [p >= threshold
                                                                      for _, p in oof])}
        # What other operating points would give (the threshold is chosen at TARGET_FPR).
        report["cv"]["sweep"] = {
            f"fpr<={target}": {**rates(oof, t), "threshold": t,
                               "rules_and_classifier": with_rules(
                                   licensed, [p >= t for _, p in oof])}
            for target in SWEEP_FPR
            for t in [threshold_for([p for y, p in oof if not y], target)]}
        if added:
            report["cv"]["added_negatives_at_threshold"] = rates(every[len(docs):], threshold)
    else:
        threshold = 0.5
    shift = math.log(threshold / (1.0 - threshold)) if 0.0 < threshold < 1.0 else 0.0
    fit = train(docs + added_docs)
    data = wfile.encode(to_weights(fit, shift))
    model = Model(wfile.decode(data))
    report["weights_bytes"] = len(data)
    report["weights_sha256"] = hashlib.sha256(data).hexdigest()
    report["features_kept"] = {name: len(keys)
                               for name, (keys, _) in wfile.decode(data).tables.items()}
    if evaluation_only:
        report["evaluation_only_benign"] = rates(score_records(model, evaluation_only), 0.5)
        report["evaluation_only_benign_rules_and_classifier"] = rates(
            [(int(r.injection), InjectionGuard(classifier=model).score(r.text))
             for r in evaluation_only], 0.5)
    if args.dev and args.dev.is_file():
        report["dev"] = rates(score_records(model, read(args.dev)), 0.5)
    report["seconds"] = round(time.monotonic() - started, 1)

    if args.check:
        same = SHIPPED.read_bytes() == data
        print(f"shipped weights {'match' if same else 'DIFFER from'} a fresh training run "
              f"({report['seconds']} s)")
        return 0 if same else 1
    out = args.out or SHIPPED
    out.write_bytes(data)
    if args.out is None:
        DIGEST_MODULE.write_text(
            '"""The sha256 of the shipped classifier weights (written by '
            'bench/guards/train_classifier.py)."""\n\n'
            f'SHA256 = "{report["weights_sha256"]}"\n', encoding="utf-8")
    text = json.dumps(report, indent=2, sort_keys=True)
    if args.report:
        args.report.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
