"""Danger words in the six languages (a safety message and escalation at once), and prompt-injection
neutralisation of retrieved text (manual text is data, never instructions)."""

from __future__ import annotations

import re

DANGER: dict[str, tuple[str, ...]] = {
    "en": ("smoke", "fire", "burning", "flames", "injur", "bleeding", "electric shock", "electrocut", "shock", "sparks",
           "explosion", "hurt", "trapped", "crushed", "unconscious"),
    "el": ("καπν", "φωτι", "πυρκαγι", "καίγεται", "φλόγ", "τραυματ", "αιμορραγ", "ηλεκτροπληξ", "σπινθήρ", "έκρηξ"),
    "ar": ("دخان", "حريق", "نار", "يحترق", "لهب", "إصابة", "جرح", "نزيف", "صعق", "صدمة كهربائية", "شرر", "انفجار"),
    "es": ("humo", "fuego", "incendio", "quemando", "llamas", "herid", "lesión", "sangr", "descarga eléctrica",
           "electrocut", "chispas", "explosión"),
    "tr": ("duman", "yangın", "ateş", "yanıyor", "alev", "yaralan", "kanama", "elektrik çarp", "kıvılcım", "patlama"),
    "no": ("røyk", "brann", "flammer", "brenner", "skade", "blødning", "elektrisk støt", "strømstøt", "gnister", "eksplosjon"),
}


def mentions_danger(text: str) -> bool:
    low = text.lower()
    return any(word in low for words in DANGER.values() for word in words)


_INJECTION = re.compile(
    r"(ignore|disregard|forget)\s+(all\s+|any\s+|the\s+)?(previous|prior|above|earlier|your)\s+(instructions|rules|prompts?)"
    r"|you\s+are\s+now\s+|new\s+instructions\s*:|system\s+prompt|reveal\s+(your|the)\s+(prompt|instructions)"
    r"|act\s+as\s+(a|an)\s+|from\s+now\s+on\s+(you|answer)",
    re.IGNORECASE,
)


def neutralise(text: str) -> tuple[str, bool]:
    """Drop sentences that try to instruct the assistant, keeping the lines (procedures) intact;
    returns (text, whether anything was removed)."""
    if not _INJECTION.search(text):
        return text, False
    lines = []
    for line in text.splitlines():
        if _INJECTION.search(line):
            kept = [s for s in re.split(r"(?<=[.!?])\s+", line) if not _INJECTION.search(s)]
            line = " ".join(kept)
            if not line.strip():
                continue
        lines.append(line)
    return "\n".join(lines) + "\n[instruction-like text removed]", True
