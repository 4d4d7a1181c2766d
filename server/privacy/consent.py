"""Consent to storing conversations: the text shown (per language, versioned), and the record of
who agreed (or withdrew), when, and to which version, in ``user_consents``.

With ``CONSENT_REQUIRED`` the hub opens no session and the turn runner stores no message for a user
whose latest decision on the current version is not a grant (``consent_required``). Without it
every user may be stored, and a withdrawal is still recorded and honoured.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import asyncpg

from core.errors import BadRequest, ForbiddenError
from core.languages import LANGUAGES

PURPOSE = "conversation_storage"

DEFAULT_TEXT: dict[str, str] = {
    "en": "To help you, the assistant stores your questions, its answers, your feedback and any support "
          "tickets, linked to your user account, for up to the retention period set by your organisation. "
          "You can download or erase everything stored about you at any time, and withdraw this consent, "
          "which stops storage.",
    "el": "Για να σας βοηθήσει, ο βοηθός αποθηκεύει τις ερωτήσεις σας, τις απαντήσεις του, τα σχόλιά σας και "
          "τυχόν αιτήματα υποστήριξης, συνδεδεμένα με τον λογαριασμό σας, έως τη διάρκεια διατήρησης που ορίζει "
          "ο οργανισμός σας. Μπορείτε ανά πάσα στιγμή να κατεβάσετε ή να διαγράψετε όλα όσα έχουν αποθηκευτεί "
          "για εσάς και να ανακαλέσετε αυτή τη συγκατάθεση, οπότε η αποθήκευση σταματά.",
    "ar": "لمساعدتك، يحفظ المساعد أسئلتك وإجاباته وملاحظاتك وأي طلبات دعم، مرتبطة بحساب المستخدم الخاص بك، "
          "حتى نهاية مدة الاحتفاظ التي تحددها مؤسستك. يمكنك في أي وقت تنزيل كل ما هو محفوظ عنك أو مسحه، "
          "وسحب هذه الموافقة، مما يوقف الحفظ.",
    "es": "Para ayudarle, el asistente guarda sus preguntas, sus respuestas, sus valoraciones y las incidencias "
          "de soporte, vinculadas a su cuenta de usuario, durante el plazo de conservación que fije su "
          "organización. Puede descargar o borrar en cualquier momento todo lo guardado sobre usted y retirar "
          "este consentimiento, lo que detiene el almacenamiento.",
    "tr": "Size yardımcı olmak için asistan sorularınızı, yanıtlarını, geri bildirimlerinizi ve destek "
          "taleplerinizi kullanıcı hesabınıza bağlı olarak, kuruluşunuzun belirlediği saklama süresi boyunca "
          "saklar. Hakkınızda saklanan her şeyi istediğiniz zaman indirebilir veya silebilir ve bu onayı geri "
          "çekebilirsiniz; bu durumda saklama durur.",
    "no": "For å hjelpe deg lagrer assistenten spørsmålene dine, svarene, tilbakemeldingene dine og eventuelle "
          "supportsaker, knyttet til brukerkontoen din, så lenge organisasjonen din har bestemt. Du kan når som "
          "helst laste ned eller slette alt som er lagret om deg, og trekke tilbake dette samtykket, som "
          "stopper lagringen.",
}


class ConsentRequired(ForbiddenError):
    default_code = "consent_required"


def parse_texts(raw: str) -> dict[str, str]:
    """CONSENT_TEXT: empty (the built-in texts), one text for every language, or a JSON object from
    language code to text (missing languages fall back to its English, else the built-in one)."""
    raw = raw.strip()
    if not raw:
        return dict(DEFAULT_TEXT)
    if not raw.startswith("{"):
        return {lang: raw for lang in LANGUAGES}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"CONSENT_TEXT: not valid JSON ({exc})") from exc
    if not isinstance(value, dict) or not all(isinstance(v, str) and v.strip() for v in value.values()):
        raise ValueError("CONSENT_TEXT: must map language codes to non-empty texts")
    unknown = sorted(set(value) - set(LANGUAGES))
    if unknown:
        raise ValueError(f"CONSENT_TEXT: unknown language(s) {', '.join(unknown)}; use {', '.join(LANGUAGES)}")
    english = value.get("en") or DEFAULT_TEXT["en"]
    return {lang: value.get(lang) or english for lang in LANGUAGES}


@dataclasses.dataclass(frozen=True)
class ConsentPolicy:
    required: bool
    version: str
    texts: dict[str, str]

    def text(self, lang: str) -> str:
        return self.texts.get(lang) or self.texts["en"]


@dataclasses.dataclass(frozen=True)
class Decision:
    granted: bool
    version: str
    at: dt.datetime


class Consents:
    """The consent decisions of users, newest last, and the check the hub and the turns make."""

    def __init__(self, pool: asyncpg.Pool, policy: ConsentPolicy) -> None:
        self._pool = pool
        self.policy = policy

    async def latest(self, user_id: str) -> Decision | None:
        row = await self._pool.fetchrow(
            "SELECT granted, version, created_at FROM user_consents WHERE user_id = $1 AND purpose = $2"
            " ORDER BY created_at DESC LIMIT 1", user_id, PURPOSE)
        return Decision(row["granted"], row["version"], row["created_at"]) if row else None

    async def may_store(self, user_id: str) -> bool:
        """May this user's conversation be stored now? A withdrawal always stops it; with consent
        required, only a grant of the current version allows it."""
        return self.allows(await self.latest(user_id))

    def allows(self, decision: Decision | None) -> bool:
        """Does the user's latest ``decision`` (None: never asked) allow storing under the policy?"""
        if decision is not None and not decision.granted:
            return False
        if not self.policy.required:
            return True
        return decision is not None and decision.version == self.policy.version

    async def require(self, user_id: str) -> None:
        if not await self.may_store(user_id):
            raise ConsentRequired("consent to storing the conversation is needed first (or was withdrawn)")

    async def record(self, user_id: str, *, granted: bool, version: str) -> Decision:
        """Store a decision; a grant must name the current version (the text the user saw)."""
        if granted and version != self.policy.version:
            raise BadRequest(f"the current consent text is version {self.policy.version!r}; show it and send that "
                             "version", code="consent_version")
        row = await self._pool.fetchrow(
            "INSERT INTO user_consents (user_id, purpose, granted, version, created_at)"
            " VALUES ($1, $2, $3, $4, clock_timestamp()) RETURNING created_at", user_id, PURPOSE, granted, version)
        return Decision(granted, version, row["created_at"])

    def describe(self, decision: Decision | None, lang: str) -> dict[str, Any]:
        """What the widget needs to ask (or not): the policy, the text in ``lang``, the user's state."""
        lang = lang if lang in LANGUAGES else "en"
        current = decision is not None and decision.granted and decision.version == self.policy.version
        return {
            "required": self.policy.required, "version": self.policy.version, "lang": lang,
            "text": self.policy.text(lang), "granted": current,
            "withdrawn": decision is not None and not decision.granted,
            "decided_at": decision.at.isoformat() if decision else None,
            "decided_version": decision.version if decision else None,
        }
