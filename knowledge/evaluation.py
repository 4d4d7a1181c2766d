"""Retrieval quality: hit@1, hit@5 and MRR per language over a question set.

A question names the passage(s) that answer it: the document (file name without extension) and a
string the passage contains. A retrieved passage counts when both match.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from core.languages import LANGUAGES as LANG_ORDER
from knowledge.models import Passage

if TYPE_CHECKING:
    from knowledge.base import KnowledgeBase


@dataclasses.dataclass(frozen=True)
class Question:
    id: str
    lang: str
    text: str
    answers: tuple[tuple[str, str], ...]  # (document stem, text the passage contains)
    model: str | None = None


@dataclasses.dataclass
class Outcome:
    question: Question
    rank: int | None  # 1-based rank of the first passage that answers it, None when not in the top k


def load_questions(path: Path) -> list[Question]:
    raw = json.loads(Path(path).read_text())
    out = []
    for item in raw["questions"]:
        answers = tuple((a["doc"], a["contains"]) for a in item["answers"])
        out.append(Question(item["id"], item["lang"], item["q"], answers, item.get("model")))
    return out


def _stem(filename: str) -> str:
    name = filename.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name


def answers(question: Question, passage: Passage, filenames: dict[int, str]) -> bool:
    """The passage is from one of the question's documents and contains the answer text."""
    stem = _stem(filenames.get(passage.document_id, ""))
    haystack = f"{passage.section}\n{passage.text}".lower()
    return any(stem == doc and needle.lower() in haystack for doc, needle in question.answers)


async def evaluate(kb: KnowledgeBase, questions: list[Question], *, k: int = 10) -> list[Outcome]:
    """Ask every question as the assistant would for its reader (their language, their machine) and note the rank."""
    docs = await kb.list_documents(kind=None)
    filenames = {d["id"]: d["filename"] or "" for d in docs}
    outcomes = []
    for q in questions:
        passages = await kb.search_as_assistant(q.text, k=k, machine_model=q.model, reader_lang=q.lang)
        rank = next((i for i, p in enumerate(passages, 1) if answers(q, p, filenames)), None)
        outcomes.append(Outcome(q, rank))
    return outcomes


def summarise(outcomes: list[Outcome]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        groups[o.question.lang].append(o)
    groups["all"] = list(outcomes)
    table: dict[str, dict[str, float]] = {}
    for lang in [*LANG_ORDER, *sorted(set(groups) - set(LANG_ORDER) - {"all"}), "all"]:
        items = groups.get(lang)
        if not items:
            continue
        n = len(items)
        table[lang] = {
            "n": n,
            "hit@1": sum(1 for o in items if o.rank == 1) / n,
            "hit@5": sum(1 for o in items if o.rank is not None and o.rank <= 5) / n,
            "mrr": sum(1.0 / o.rank for o in items if o.rank) / n,
        }
    return table


def render_table(table: dict[str, dict[str, float]]) -> str:
    lines = ["| lang | questions | hit@1 | hit@5 | MRR |", "|---|---|---|---|---|"]
    for lang, row in table.items():
        lines.append(f"| {lang} | {int(row['n'])} | {row['hit@1']:.2f} | {row['hit@5']:.2f} | {row['mrr']:.3f} |")
    return "\n".join(lines)
