"""Browser fixtures: Debian's Chromium driven by Playwright against the real server and the scripted LLM."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "browser"

pytestmark = pytest.mark.browser


def _require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install the Debian package 'chromium' (make system-deps)")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    _require_chromium()
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


@pytest.fixture
def widget_settings(settings_factory: Callable[..., Any], llm_server: Any) -> Callable[..., Any]:
    """Development-mode settings whose model is the scripted LLM."""

    def make(**kw: Any) -> Any:
        # require_grounding off: the scripted model answers even when the (empty) knowledge base has nothing,
        # so the widget tests control the answer text; the citation tests upload a manual first.
        base: dict[str, Any] = dict(env="development", openai_base_url=llm_server.base_url, openai_api_key="test-key",
                                    openai_model="primary", openai_fallback_model="fallback", llm_max_retries=1,
                                    llm_backoff_seconds=0.01, llm_timeout_seconds=10, require_grounding=False)
        base.update(kw)
        return settings_factory(**base)

    return make


@pytest.fixture
async def server(widget_settings: Callable[..., Any], running_server: Callable[..., Any]) -> AsyncIterator[Any]:
    async with running_server(widget_settings()) as srv:
        yield srv


class Shots:
    """Saves screenshots under tests/artifacts/browser/ (git-ignored) for a person to look at."""

    def __init__(self, name: str) -> None:
        self.name = re.sub(r"[^\w.-]+", "_", name)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    async def __call__(self, page: Page, label: str) -> Path:
        path = ARTIFACTS / f"{self.name}-{label}.png"
        await page.screenshot(path=str(path))
        return path


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Shots:
    return Shots(request.node.name)


@pytest.fixture
async def new_page(browser: Browser) -> AsyncIterator[Callable[..., Any]]:
    """``page = await new_page(width=1280, height=800)``: a fresh context (own storage) per call; pages record errors."""
    contexts: list[BrowserContext] = []

    async def make(width: int = 1280, height: int = 800, **kw: Any) -> Page:
        ctx = await browser.new_context(viewport={"width": width, "height": height}, **kw)
        contexts.append(ctx)
        page = await ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: errors.append("dialog: " + d.message))
        page.errors = errors  # type: ignore[attr-defined]
        return page

    yield make
    for ctx in contexts:
        await ctx.close()
