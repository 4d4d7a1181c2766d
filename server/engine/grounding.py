"""Do the retrieved passages answer the question, or do the manuals not cover it?

Raw cosine similarities of multilingual-e5 are compressed (unrelated text scores ~0.7-0.8) and
vary with the query's language and length, so a fixed threshold on them misjudges cross-lingual
questions. Instead each query is compared with a set of off-topic *anchor* passages: a question the
manuals cover is closer to its best passage than to any anchor. ``margin = best passage similarity
- best anchor similarity``; covered when ``margin >= RETRIEVAL_MIN_MARGIN``. A question is closer to
text in its own language, whatever the subject, so each passage is compared with the anchors written
in the passage's language (English where there are none): the margin measures the subject, not the
languages of the question and the manual. Exact error-code and
part-number matches and support-team entries (expert, correction) always count; saved resolutions
(past cases approved by support) are judged like manual passages: they never make a question
covered on their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from knowledge import Embedder

# entries written by the support team count as covering a question on their own
BYPASS_KINDS = frozenset({"expert", "correction"})

ANCHORS = (
    "A simple recipe for pizza dough with flour, water, yeast and salt.",
    "The football team won the championship final after extra time.",
    "Tomorrow the weather will be sunny with light winds from the west.",
    "The central bank raised interest rates to fight inflation.",
    "Book a hotel room and flights for your holiday in Paris.",
    "The history of the Roman Empire and its emperors.",
    "How to write a cover letter for a job application.",
    "Symptoms of the common cold and how to treat them at home.",
    "The best films of the year and where to watch them.",
    "Philosophy asks about the meaning of life and happiness.",
    # everyday subjects far from any equipment manual: the more of the space of other topics the anchors
    # cover, the better an off-topic question of a subject not listed here is told apart
    "Planets, stars and galaxies: what astronomers have discovered about space.",
    "Choosing a name and the right food for a new dog or cat.",
    "Good novels and poetry to read this summer.",
    "Learning to play the guitar, the piano or another musical instrument.",
    "What to pack for a hiking trip in the mountains.",
    "Knitting and sewing patterns for a warm sweater.",
    "Vegetable soup and other dinner ideas for the family.",
    "The capital city, population and languages of a country.",
    "Elections, political parties and the government.",
    "Celebrity news, fashion and the latest trends.",
    "Dating advice and how to keep a relationship happy.",
    "Homework help with algebra, chemistry and biology.",
    "Religious holidays, traditions and festivals.",
    "Tips for growing tomatoes and flowers in the garden.",
    "The rules of chess and strategies to win a board game.",
    "How to lose weight with diet and exercise at the gym.",
    "Buying a house, taking a mortgage and paying rent.",
    "Translate a sentence or explain the grammar of a language.",
    "Jokes, riddles and fun facts for children.",
    "Ancient myths, legends and famous historical battles.",
)

# The same everyday subjects in the other five languages. A question is closer to text in its own
# language, so with English anchors only, an off-topic question in Norwegian or Spanish came out
# closer to the Norwegian or Spanish manual than to any anchor; a passage is now weighed against the
# anchors in its own language, so the language is the same on both sides of the margin.
TRANSLATED_ANCHORS = {
    "el": (
        "Συνταγές μαγειρικής για φαγητό και γλυκά στο σπίτι.",
        "Αποτελέσματα ποδοσφαίρου και μπάσκετ και νέα από τον αθλητισμό.",
        "Η πρόγνωση του καιρού για αύριο: ήλιος, βροχή και άνεμοι.",
        "Τράπεζες, μισθοί, φόροι και οι τιμές στην οικονομία.",
        "Ταξίδια και εκδρομές: ξενοδοχεία, πτήσεις και αξιοθέατα.",
        "Η ιστορία της αρχαίας Ελλάδας, πόλεμοι και βασιλιάδες.",
        "Υγεία και ιατρική: ασθένειες, φάρμακα και γιατροί.",
        "Ταινίες, σειρές, τραγούδια και συναυλίες.",
        "Επιστήμη και διάστημα: πλανήτες, αστέρια και γαλαξίες.",
        "Κατοικίδια ζώα: σκύλοι, γάτες και η φροντίδα τους.",
        "Πολιτική, εκλογές, κόμματα και η κυβέρνηση.",
        "Σχολείο και μαθήματα: μαθηματικά, γλώσσα και εξετάσεις.",
        "Βιβλία, λογοτεχνία, ποίηση και συγγραφείς.",
        "Κήπος, λουλούδια και φυτά στο μπαλκόνι.",
    ),
    "ar": (
        "وصفات طبخ لأطباق الغداء والحلويات في البيت.",
        "نتائج مباريات كرة القدم وأخبار الرياضة.",
        "توقعات الطقس لليوم وغدا: شمس ومطر ورياح.",
        "البنوك والأسعار والضرائب وأخبار الاقتصاد.",
        "السفر والعطلات: الفنادق والرحلات الجوية والمعالم السياحية.",
        "تاريخ الحضارات القديمة والملوك والحروب.",
        "الصحة والطب: الأمراض والأدوية ونصائح الأطباء.",
        "الأفلام والمسلسلات والأغاني والحفلات الموسيقية.",
        "العلوم والفضاء: الكواكب والنجوم والمجرات.",
        "الحيوانات الأليفة: القطط والكلاب ورعايتها.",
        "السياسة والانتخابات والأحزاب والحكومة.",
        "المدرسة والدروس: الرياضيات واللغة والامتحانات.",
        "الكتب والأدب والشعر والكتّاب المشهورون.",
        "الدين والأعياد والتقاليد والمناسبات العائلية.",
    ),
    "es": (
        "Recetas de cocina para comidas caseras y postres.",
        "Resultados del fútbol y noticias deportivas de la liga.",
        "El pronóstico del tiempo: sol, lluvia y viento para mañana.",
        "Bancos, sueldos, impuestos y precios de la economía.",
        "Viajes y vacaciones: hoteles, vuelos y lugares turísticos.",
        "La historia de reyes, imperios y guerras antiguas.",
        "Salud y medicina: enfermedades, medicamentos y médicos.",
        "Películas, series, canciones y conciertos.",
        "Ciencia y espacio: planetas, estrellas y galaxias.",
        "Mascotas: perros, gatos y su cuidado.",
        "Política, elecciones, partidos y el gobierno.",
        "La escuela y los deberes: matemáticas, lengua y exámenes.",
        "Libros, novelas, poesía y escritores famosos.",
        "Arte, pintura y exposiciones de los museos.",
    ),
    "tr": (
        "Ev mutfağı, tatlılar ve pratik tarifler.",
        "Futbol maç sonuçları ve spor haberleri.",
        "Hava durumu tahmini: güneş, yağmur ve rüzgar.",
        "Bankalar, maaşlar, vergiler ve ekonomideki fiyatlar.",
        "Seyahat ve tatil: oteller, uçuşlar ve gezilecek yerler.",
        "Osmanlı tarihi, padişahlar ve eski savaşlar.",
        "Sağlık ve tıp: hastalıklar, ilaçlar ve doktorlar.",
        "Filmler, diziler, şarkılar ve konserler.",
        "Bilim ve uzay: gezegenler, yıldızlar ve galaksiler.",
        "Evcil hayvanlar: köpekler, kediler ve bakımları.",
        "Siyaset, seçimler, partiler ve hükümet.",
        "Okul ve dersler: matematik, dil ve sınavlar.",
        "Kitaplar, edebiyat, şiir ve ünlü yazarlar.",
        "Bahçe, çiçekler ve balkonda sebze yetiştirmek.",
    ),
    "no": (
        "Matoppskrifter for middag og kaker hjemme.",
        "Fotballresultater og nyheter fra idretten.",
        "Værmeldingen for i morgen: sol, regn og vind.",
        "Banker, lønn, skatt og priser i økonomien.",
        "Reiser og ferie: hoteller, flyreiser og severdigheter.",
        "Historien om vikinger, konger og gamle kriger.",
        "Helse og medisin: sykdommer, medisiner og leger.",
        "Filmer, serier, sanger og konserter.",
        "Vitenskap og verdensrommet: planeter, stjerner og galakser.",
        "Kjæledyr: hunder, katter og stell av dem.",
        "Politikk, valg, partier og regjeringen.",
        "Skole og lekser: matematikk, språk og prøver.",
        "Bøker, litteratur, dikt og kjente forfattere.",
        "Håndarbeid og hobbyer: strikking, sying og maling.",
    ),
}


def anchors_by_language() -> dict[str, tuple[str, ...]]:
    """The anchor texts of each language ("en": the English ones)."""
    return {"en": ANCHORS, **TRANSLATED_ANCHORS}


class Candidate(Protocol):
    """What the gate reads of a retrieved passage (knowledge.Passage has it)."""

    @property
    def kind(self) -> str: ...

    @property
    def matched_codes(self) -> Sequence[str]: ...

    @property
    def similarity(self) -> float: ...

    @property
    def lang(self) -> str | None: ...


class RelevanceGate:
    def __init__(self, embedder: Embedder, min_margin: float) -> None:
        self._embedder = embedder
        self._min_margin = min_margin
        self._anchors: dict[str, np.ndarray] | None = None
        self._lock = asyncio.Lock()

    async def _anchor_matrices(self) -> dict[str, np.ndarray]:
        async with self._lock:
            if self._anchors is None:
                by_lang = anchors_by_language()
                vectors = np.asarray(await self._embedder.embed_passages([t for texts in by_lang.values() for t in texts]),
                                     dtype=np.float32)
                self._anchors, start = {}, 0
                for lang, texts in by_lang.items():
                    self._anchors[lang] = vectors[start:start + len(texts)]
                    start += len(texts)
        return self._anchors

    async def judge(self, query: str, passages: Sequence[Candidate]) -> tuple[bool, float | None]:
        """(covered, margin); margin is None when the decision did not need it. The margin is the best
        passage's lead over the closest anchor in that passage's language."""
        if not passages:
            return False, None
        for p in passages:
            if p.kind in BYPASS_KINDS or p.matched_codes:
                return True, None
        anchors = await self._anchor_matrices()
        vector = np.asarray((await self._embedder.embed_queries([query]))[0], dtype=np.float32)
        baselines: dict[str, float] = {}
        margin = -np.inf
        for p in passages:
            lang = (p.lang or "en").lower()
            lang = lang if lang in anchors else "en"
            if lang not in baselines:
                baselines[lang] = float(np.max(anchors[lang] @ vector))
            margin = max(margin, float(p.similarity) - baselines[lang])
        return margin >= self._min_margin, float(margin)
