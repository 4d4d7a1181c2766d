"""Support notifications: e-mail over SMTP and signed webhooks, delivered through the job queue.

Every notification is a row of ``notification_deliveries`` plus one job, both written in the
transaction that creates the ticket, so a ticket never exists without its notifications. The job
handler claims the row (a lease), sends, and records the outcome; a failure raises so the queue
retries with exponential backoff. A delivery recorded as ``sent`` is never sent again, whatever the
queue does. The one window left is documented in docs/escalation.md: the process dies (or the
connection drops) after the receiver got the whole message but before ``sent`` is recorded; the next
attempt then sends again, with the same Message-ID / ``webhook-id`` so the copy can be recognised.

Webhooks follow the Standard Webhooks convention (https://www.standardwebhooks.com): ``webhook-id``
(the delivery id, the same on every attempt), ``webhook-timestamp`` (this attempt, Unix seconds) and
``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``), so a receiver verifies
them with the convention's published libraries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import aiosmtplib
import asyncpg
import httpx

from core.errors import UpstreamError
from core.health import ComponentHealth, Status
from core.logs import get_logger
from core.settings import Settings, webhook_key
from server.observability import Metrics
from server.storage.jobs import JobQueue
from server.storage.store import TextCipher

log = get_logger("server.notify")

JOB_NAME = "notify.deliver"
MAX_ATTEMPTS = 2000  # with waits capped at NOTIFY_RETRY_MAX_SECONDS (300 s): about a week of retries
LEASE_SECONDS = 120  # longer than any single attempt (SMTP and webhook time-outs are 30 s)
SEND_TIMEOUT = 30.0


class DeliveryBusy(Exception):
    """Another worker holds the lease of this delivery; the queue retries later."""


class DeliveryFailed(UpstreamError):
    """An attempt failed; ``maybe_delivered`` when the receiver may have accepted it anyway."""

    def __init__(self, message: str, *, maybe_delivered: bool) -> None:
        super().__init__(message, code="notification_failed", retryable=True)
        self.maybe_delivered = maybe_delivered


def sign(key: bytes, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The ``webhook-signature`` value (Standard Webhooks, version 1): HMAC-SHA256 of
    ``"{webhook-id}.{webhook-timestamp}.{body}"`` under the key, base64."""
    digest = hmac.new(key, delivery_id.encode() + b"." + timestamp.encode() + b"." + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(key: bytes | None, delivery_id: str, event: str, body: bytes, now: float) -> dict[str, str]:
    """The headers of one webhook attempt; signed unless there is no key (refused in production)."""
    timestamp = str(int(now))
    headers = {"Content-Type": "application/json", "webhook-id": delivery_id, "webhook-timestamp": timestamp,
               "X-ABParts-Event": event}
    if key:
        headers["webhook-signature"] = sign(key, delivery_id, timestamp, body)
    return headers


class Notifier:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, jobs: JobQueue, metrics: Metrics,
                 cipher: TextCipher) -> None:
        self._s = settings
        self._webhook_key = webhook_key(settings.webhook_secret) if settings.webhook_secret else None
        if settings.webhook_urls and self._webhook_key is None:
            # only in development: ENV=production refuses webhook targets without a secret
            log.warning("notify.webhooks_unsigned", targets=len(settings.webhook_urls),
                        detail="WEBHOOK_SECRET is empty: receivers cannot verify these webhooks")
        self._cipher = cipher
        self._pool = pool
        self._jobs = jobs
        self._metrics = metrics
        self._smtp_health: tuple[float, ComponentHealth] | None = None

    def register(self) -> None:
        """Register the delivery job with the queue (before the workers start)."""
        self._jobs.register(JOB_NAME, self.deliver, max_attempts=MAX_ATTEMPTS,
                            max_delay_seconds=self._s.notify_retry_max_seconds)

    def targets(self) -> list[tuple[str, str]]:
        """(channel, target) of every notification an escalation sends with the current settings."""
        out: list[tuple[str, str]] = []
        if self._s.smtp_host and self._s.support_email:
            out.append(("email", self._s.support_email))
        out.extend(("webhook", url) for url in self._s.webhook_urls)
        return out

    async def schedule(self, conn: asyncpg.Connection, escalation_id: int, event: str,
                       payload: dict[str, Any]) -> list[str]:
        """Record one delivery per target and enqueue its job, inside the caller's transaction."""
        ids = []
        # the payload holds the conversation: sealed like stored messages (a no-op without a key)
        sealed = {"sealed": self._cipher.seal(json.dumps(payload, ensure_ascii=False, default=str))}
        for channel, target in self.targets():
            delivery_id = uuid.uuid4().hex
            await conn.execute(
                "INSERT INTO notification_deliveries (id, escalation_id, event, channel, target, payload)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                delivery_id, escalation_id, event, channel, target, sealed)
            await self._jobs.enqueue(JOB_NAME, {"delivery_id": delivery_id}, conn=conn)
            ids.append(delivery_id)
        return ids

    # -- the job ----------------------------------------------------------------------------------

    async def deliver(self, job: dict[str, Any]) -> None:
        delivery_id = job["delivery_id"]
        row = await self._claim(delivery_id)
        if row is None:
            return
        channel = row["channel"]
        # row["uncertain"]: an earlier attempt failed or died after the receiver may have accepted it
        try:
            if channel == "email":
                await self._send_email(row)
            else:
                await self._send_webhook(row)
        except DeliveryFailed as exc:
            await self._record_failure(row, str(exc), exc.maybe_delivered or row["uncertain"])
            raise
        if row["uncertain"]:
            self._metrics.notifications.labels(channel, "possible_duplicate").inc()
            log.warning("notify.possible_duplicate", delivery_id=delivery_id, channel=channel,
                        previous_status=row["previous_status"])
        await self._pool.execute(
            "UPDATE notification_deliveries SET status = 'sent', sent_at = now(), updated_at = now(),"
            " claimed_until = NULL, last_error = NULL WHERE id = $1", delivery_id)
        self._metrics.notifications.labels(channel, "sent").inc()
        log.info("notify.sent", delivery_id=delivery_id, channel=channel, escalation_id=row["escalation_id"],
                 attempts=row["attempts"])

    async def _claim(self, delivery_id: str) -> dict[str, Any] | None:
        row = await self._pool.fetchrow(
            """WITH prev AS (SELECT id, status FROM notification_deliveries WHERE id = $1 FOR UPDATE)
               UPDATE notification_deliveries d
                  SET status = 'sending', attempts = d.attempts + 1, updated_at = now(),
                      claimed_until = now() + make_interval(secs => $2)
                 FROM prev
                WHERE d.id = prev.id
                  AND (d.status IN ('pending', 'failed') OR (d.status = 'sending' AND d.claimed_until < now()))
            RETURNING d.*, prev.status AS previous_status""", delivery_id, float(LEASE_SECONDS))
        if row is not None:
            claimed = dict(row)
            claimed["payload"] = json.loads(self._cipher.open(claimed["payload"]["sealed"]))
            return claimed
        status = await self._pool.fetchval("SELECT status FROM notification_deliveries WHERE id = $1", delivery_id)
        if status == "sending":
            raise DeliveryBusy(f"delivery {delivery_id} is being sent by another worker")
        if status is not None:
            # sent (or abandoned) already: a re-run of the job must not send it again
            self._metrics.notifications.labels("any", "already_done").inc()
            log.info("notify.already_done", delivery_id=delivery_id, status=status)
        else:
            log.warning("notify.unknown_delivery", delivery_id=delivery_id)
        return None

    async def _mark_uncertain(self, delivery_id: str) -> None:
        """Committed before the point of no return: from here the receiver may get the message."""
        await self._pool.execute("UPDATE notification_deliveries SET uncertain = true WHERE id = $1", delivery_id)

    async def _record_failure(self, row: dict[str, Any], error: str, maybe_delivered: bool) -> None:
        abandoned = row["attempts"] >= MAX_ATTEMPTS
        await self._pool.execute(
            "UPDATE notification_deliveries SET status = $2, last_error = $3, uncertain = $4, claimed_until = NULL,"
            " updated_at = now() WHERE id = $1",
            row["id"], "abandoned" if abandoned else "failed", error[:500], maybe_delivered)
        outcome = "abandoned" if abandoned else "failed"
        self._metrics.notifications.labels(row["channel"], outcome).inc()
        log.warning("notify.failed", delivery_id=row["id"], channel=row["channel"], attempts=row["attempts"],
                    maybe_delivered=maybe_delivered, error=error[:200], abandoned=abandoned)

    # -- e-mail -----------------------------------------------------------------------------------

    def _smtp(self) -> aiosmtplib.SMTP:
        s = self._s
        return aiosmtplib.SMTP(hostname=s.smtp_host, port=s.smtp_port, username=s.smtp_username or None,
                               password=s.smtp_password or None, use_tls=s.smtp_security == "tls",
                               start_tls=True if s.smtp_security == "starttls" else False, timeout=SEND_TIMEOUT)

    async def _send_email(self, row: dict[str, Any]) -> None:
        message = email_message(self._s, row["id"], row["target"], row["payload"])
        smtp = self._smtp()
        reached_data = False
        try:
            await smtp.connect()
            await smtp.mail(self._s.smtp_from)
            await smtp.rcpt(row["target"])
            await self._mark_uncertain(row["id"])
            reached_data = True
            await smtp.data(message.as_bytes())
        except aiosmtplib.SMTPResponseException as exc:
            # the server answered with a refusal: it did not take the message
            raise DeliveryFailed(f"SMTP refused: {exc.code} {exc.message}", maybe_delivered=False) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryFailed(f"SMTP failed: {type(exc).__name__}: {exc}", maybe_delivered=reached_data) from exc
        finally:
            if smtp.is_connected:
                try:
                    await smtp.quit()
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    smtp.close()

    # -- webhooks ---------------------------------------------------------------------------------

    async def _send_webhook(self, row: dict[str, Any]) -> None:
        body = webhook_body(row["id"], row["event"], row["payload"])
        headers = webhook_headers(self._webhook_key, row["id"], row["event"], body, time.time())
        await self._mark_uncertain(row["id"])
        try:
            # a client per delivery: notifications are rare, and nothing stays open between them
            async with httpx.AsyncClient(timeout=httpx.Timeout(SEND_TIMEOUT, connect=10.0), follow_redirects=False,
                                         headers={"User-Agent": "abparts-assistant-webhook/1"}) as client:
                response = await client.post(row["target"], content=body, headers=headers)
        except httpx.ConnectError as exc:
            raise DeliveryFailed(f"webhook unreachable: {exc}", maybe_delivered=False) from exc
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"webhook failed: {type(exc).__name__}: {exc}", maybe_delivered=True) from exc
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"webhook answered {response.status_code}", maybe_delivered=False)

    # -- health -----------------------------------------------------------------------------------

    async def smtp_health(self) -> ComponentHealth:
        """SMTP reachability (cached 30 s): degraded when not configured or failing, never unhealthy."""
        if not self._s.smtp_host:
            return ComponentHealth("smtp", Status.DEGRADED, None, "SMTP_HOST empty: support is not e-mailed",
                                   critical=False)
        now = time.monotonic()
        if self._smtp_health and self._smtp_health[0] > now:
            return self._smtp_health[1]
        started = time.perf_counter()
        smtp = self._smtp()
        smtp.timeout = 3.0
        try:
            await smtp.connect()
            await smtp.noop()
            await smtp.quit()
            result = ComponentHealth("smtp", Status.HEALTHY, (time.perf_counter() - started) * 1000, "", critical=False)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            smtp.close()
            self._metrics.degraded.labels("smtp").inc()
            result = ComponentHealth("smtp", Status.DEGRADED, (time.perf_counter() - started) * 1000,
                                     f"{type(exc).__name__}; e-mails wait in the queue", critical=False)
        self._smtp_health = (now + 30.0, result)
        return result

    async def backlog_health(self) -> ComponentHealth:
        """Notifications waiting for a retry make the service degraded (they are not lost)."""
        started = time.perf_counter()
        row = await self._pool.fetchrow(
            "SELECT count(*) FILTER (WHERE status = 'failed') AS failing,"
            " count(*) FILTER (WHERE status = 'abandoned') AS abandoned,"
            " count(*) FILTER (WHERE status IN ('pending', 'sending')) AS pending"
            " FROM notification_deliveries WHERE status <> 'sent'")
        latency = (time.perf_counter() - started) * 1000
        detail = f"{row['pending']} pending, {row['failing']} waiting for retry, {row['abandoned']} abandoned"
        status = Status.DEGRADED if row["failing"] or row["abandoned"] else Status.HEALTHY
        return ComponentHealth("notifications", status, latency, detail, critical=False)


def webhook_body(delivery_id: str, event: str, payload: dict[str, Any]) -> bytes:
    """The JSON body: identical on every attempt of a delivery."""
    return json.dumps({"event": event, "delivery_id": delivery_id, "ticket": payload},
                      ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str).encode()


def email_message(settings: Settings, delivery_id: str, to: str, p: dict[str, Any]) -> EmailMessage:
    msg = EmailMessage()
    machine = p.get("machine") or {}
    what = f" - {machine.get('model') or ''} ({machine.get('id')})" if machine.get("id") else ""
    user = p.get("user") or {}
    msg["Subject"] = f"[{p.get('ticket_number')}] Support request from {user.get('name') or user.get('id')}{what}"
    msg["From"] = settings.smtp_from
    msg["To"] = to
    msg["Date"] = formatdate(localtime=False)
    # stable per delivery: a copy sent again after an interrupted attempt is recognisable
    msg["Message-ID"] = f"<{delivery_id}@abparts-assistant>"
    msg["X-ABParts-Ticket"] = str(p.get("ticket_number"))
    msg["X-ABParts-Delivery"] = delivery_id
    msg.set_content(email_text(p))
    return msg


def email_text(p: dict[str, Any]) -> str:
    """A plain-text summary a support technician can act on without opening the console."""
    user = p.get("user") or {}
    lines = [f"Support ticket {p.get('ticket_number')} (trigger: {p.get('trigger')})", ""]
    if p.get("reason"):
        lines += [f"Reason: {p['reason']}"]
    lines += [f"User: {user.get('name', '')} ({user.get('id', '')}), language: {p.get('lang', '')}",
              f"Opened: {p.get('created_at', '')}", f"Session: {p.get('session_id', '')}"]
    if p.get("console_url"):
        lines.append(f"Console: {p['console_url']}")
    contact = p.get("contact") or {}
    lines += [f"Reply from the console to answer the user live in their chat, or call {contact.get('phone', '')}.", ""]
    machine = p.get("machine") or {}
    lines.append("Machine")
    if machine.get("id"):
        lines.append(f"  {machine.get('id')} {machine.get('model', '')}, serial {machine.get('serial', '?')}, "
                     f"{machine.get('hours', '?')} operating hours")
        for due in machine.get("due") or []:
            lines.append(f"  Maintenance {due.get('status')}: {due.get('interval_hours')} h service at "
                         f"{due.get('next_due_hours')} h ({due.get('task', '')})")
        for m in (machine.get("maintenance") or [])[:5]:
            lines.append(f"  Service {m.get('date', '')} at {m.get('hours', '?')} h: {m.get('description', '')}")
        for part in (machine.get("parts") or [])[:5]:
            lines.append(f"  Part {part.get('date', '')}: {part.get('part_number', '')} {part.get('name', '')}"
                         f" x{part.get('quantity', 1)}")
    else:
        lines.append("  not selected")
    lines += ["", "Steps tried"]
    steps = p.get("steps") or []
    for i, step in enumerate(steps, 1):
        outcome = step.get("outcome") or ("skipped (depends on a step the user could not do)" if step.get("skipped")
                                          else "no answer")
        lines.append(f"  {i}. {step.get('text', '')} -> {outcome}")
        if step.get("comment"):
            lines.append(f"     the user said: {' '.join(str(step['comment']).split())}")
    if not steps:
        lines.append("  none recorded")
    lines += ["", "Conversation"]
    for m in p.get("transcript") or []:
        text = " ".join(str(m.get("text", "")).split())
        lines.append(f"  [{m.get('role')} {str(m.get('created_at', ''))[:16]}] {text}")
    return "\n".join(lines) + "\n"
