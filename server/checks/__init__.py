"""``python -m server check-config``: validate a configuration against the real world before a deploy.

Each check prints one line (``OK``, ``WARN``, ``FAIL`` or ``SKIP``, the check's name, what it found)
and the command exits non-zero when any check failed. Checks: required variables, PostgreSQL reachable
with the pgvector extension available, Redis reachable, the host database and its schema mapping
(every query prepared there; a warning when HOST_DATABASE_URL is empty in production: machine context
is off), the LLM provider reachable with the configured models, the embeddings endpoint
(EMBEDDER=openai), the speech model available offline, SMTP reachable, the webhook targets (https in
production, a signing secret, accepting connections), free disk space in DATA_DIR, the listening port free.
Secrets are never printed (DSNs are shown without their password).
"""

from server.checks.results import CheckResult, Outcome, redact_url
from server.checks.runner import CHECKS, main, run_checks

__all__ = ["CHECKS", "CheckResult", "Outcome", "main", "redact_url", "run_checks"]
