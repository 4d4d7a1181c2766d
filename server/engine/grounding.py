"""Do the retrieved passages answer the question, or do the manuals not cover it?

Raw cosine similarities of multilingual-e5 are compressed (unrelated text scores ~0.7-0.8) and
vary with the query's language and length, so a fixed threshold on them misjudges cross-lingual
questions. Instead each query is compared with a set of off-topic *anchor* passages: a question the
manuals cover is closer to its best passage than to any anchor. ``margin = best passage similarity
- best anchor similarity``; covered when ``margin >= RETRIEVAL_MIN_MARGIN``. Exact error-code and
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


class Candidate(Protocol):
    """What the gate reads of a retrieved passage (knowledge.Passage has it)."""

    @property
    def kind(self) -> str: ...

    @property
    def matched_codes(self) -> Sequence[str]: ...

    @property
    def similarity(self) -> float: ...


class RelevanceGate:
    def __init__(self, embedder: Embedder, min_margin: float) -> None:
        self._embedder = embedder
        self._min_margin = min_margin
        self._anchors: np.ndarray | None = None
        self._lock = asyncio.Lock()

    async def _anchor_matrix(self) -> np.ndarray:
        async with self._lock:
            if self._anchors is None:
                self._anchors = np.asarray(await self._embedder.embed_passages(list(ANCHORS)), dtype=np.float32)
        return self._anchors

    async def judge(self, query: str, passages: Sequence[Candidate]) -> tuple[bool, float | None]:
        """(covered, margin); margin is None when the decision did not need it."""
        if not passages:
            return False, None
        for p in passages:
            if p.kind in BYPASS_KINDS or p.matched_codes:
                return True, None
        anchors = await self._anchor_matrix()
        vector = np.asarray((await self._embedder.embed_queries([query]))[0], dtype=np.float32)
        baseline = float(np.max(anchors @ vector))
        best = max(float(p.similarity) for p in passages)
        margin = best - baseline
        return margin >= self._min_margin, margin
