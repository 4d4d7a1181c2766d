"""Real receivers for support notifications: an aiosmtpd SMTP server and an HTTP webhook receiver."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from testkit.scripted_llm import ThreadedServer, free_port
from testkit.tls import CertificatePair, write_self_signed

# in the Standard Webhooks form (whsec_ + base64 of the key), as receivers are given it
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"webhook-secret-for-the-test-suite-0123").decode()


class Mailbox:
    """An aiosmtpd handler keeping every accepted message."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.drop_after_data = 0  # this many times: keep the message, then cut the connection without replying
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            drop = self.drop_after_data > 0
            self.drop_after_data -= int(drop)
        if drop:
            server.transport.abort()
        return "250 Message accepted for delivery"

    async def wait(self, count: int = 1, within: float = 30) -> list[Message]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while len(self.messages) < count:
            if loop.time() > deadline:
                raise AssertionError(f"expected {count} e-mail(s), got {len(self.messages)}")
            await asyncio.sleep(0.1)
        return list(self.messages)


class SmtpServer:
    """``security``: ``none``, ``starttls`` (STARTTLS required before MAIL) or ``tls`` (implicit TLS)."""

    def __init__(self, port: int, security: str = "none", tls: ssl.SSLContext | None = None) -> None:
        self.port = port
        self.security = security
        self.tls = tls
        self.mailbox = Mailbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        options: dict[str, Any] = {}
        if self.security == "starttls":
            options = {"tls_context": self.tls, "require_starttls": True}
        elif self.security == "tls":
            options = {"ssl_context": self.tls}
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> CertificatePair:
    """A self-signed certificate for 127.0.0.1; clients trust it through SSL_CERT_FILE."""
    return write_self_signed(tmp_path_factory.mktemp("tls"), common_name="127.0.0.1", dns_names=(), stem="smtp-")


@pytest.fixture
def smtp_server(tls_files: CertificatePair) -> Iterator[Callable[..., SmtpServer]]:
    """``smtp_server(start=True, port=None, security="none")``: a real SMTP server on a free port."""
    started: list[SmtpServer] = []

    def make(*, start: bool = True, port: int | None = None, security: str = "none") -> SmtpServer:
        server = SmtpServer(port or free_port(), security, tls_files.server_context() if security != "none" else None)
        if start:
            server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


class WebhookReceiver:
    """Accepts POSTs, verifies them with the Standard Webhooks reference library (as a real receiver
    would), and can fail the first N."""

    def __init__(self, secret: str, fail_first: int = 0) -> None:
        self.secret = secret
        self.fail_first = fail_first
        self.calls: list[dict[str, Any]] = []  # every request, accepted or not
        self.accepted: list[dict[str, Any]] = []

    def app(self) -> Starlette:
        async def hook(request: Request) -> JSONResponse:
            body = await request.body()
            try:
                Webhook(self.secret).verify(body, dict(request.headers))
                valid = True
            except WebhookVerificationError:
                valid = False
            call = {"headers": dict(request.headers), "body": body, "valid": valid}
            self.calls.append(call)
            if not call["valid"]:
                return JSONResponse({"error": "bad signature"}, status_code=401)
            if len(self.calls) <= self.fail_first:
                return JSONResponse({"error": "temporarily down"}, status_code=503)
            call["json"] = json.loads(body)
            self.accepted.append(call)
            return JSONResponse({"ok": True})

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    async def wait(self, count: int = 1, within: float = 30) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while len(self.accepted) < count:
            if loop.time() > deadline:
                raise AssertionError(f"expected {count} webhook(s), got {len(self.accepted)} of {len(self.calls)} calls")
            await asyncio.sleep(0.1)
        return list(self.accepted)


@pytest.fixture
def webhook_receiver() -> Iterator[Callable[..., tuple[WebhookReceiver, str]]]:
    """``webhook_receiver(fail_first=0)`` -> (receiver, url) served by uvicorn on a free port."""
    servers: list[ThreadedServer] = []

    def make(fail_first: int = 0) -> tuple[WebhookReceiver, str]:
        receiver = WebhookReceiver(WEBHOOK_SECRET, fail_first)
        server = ThreadedServer(receiver.app())
        server.__enter__()
        servers.append(server)
        return receiver, server.url + "/hook"

    yield make
    for server in servers:
        server.server.force_exit = True  # do not wait for idle keep-alive connections
        server.__exit__(None, None, None)


@pytest.fixture
def esc_settings(settings_factory, llm_server):
    """Settings for an escalation test server: scripted LLM, quick notification retries, no SMTP unless given."""

    def make(**kw: Any):
        base = dict(openai_base_url=llm_server.base_url, openai_api_key="test-key", openai_model="primary",
                    llm_max_retries=0, llm_timeout_seconds=5, notify_retry_max_seconds=1.0,
                    support_email="support@example.test", support_phone="+47 11 22 33 44",
                    smtp_from="assistant@example.test", smtp_security="none", smtp_host="")
        base.update(kw)
        return settings_factory(**base)

    return make
