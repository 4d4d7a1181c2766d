"""Parsing uploads in a worker process with memory and time limits.

A manual is untrusted input: a hostile or just unusual file can make a parser use gigabytes of
memory, run for minutes or crash the interpreter. Each parse therefore runs in a fresh child
process (``python -m knowledge.parse_worker``, which imports nothing but the parsers) with an
address-space limit (``RLIMIT_AS``), a CPU-time limit and a wall-clock time-out enforced by the
parent, which kills it. The parses of ingestion
(background work) run at a lower CPU priority than the service; the checks of uploads (a request
waits for them) do not. Whatever happens to the
child, the parent gets either the parsed document or a ``ParseFailed`` error that says why; the
service itself is never taken down, and a file that kills its parser fails the same way every time
instead of crash-looping the service when ingestion resumes.

The request (operation, bytes, options) goes to the child's stdin and the result comes back on its
stdout, both pickled: the child runs this package's own code, so nothing untrusted is unpickled.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import pickle
import signal
import sys
from typing import Any

from core.errors import AppError
from core.logs import get_logger
from knowledge.errors import IngestionBusy, ParseFailed
from knowledge.models import Limits, ParsedDocument
from knowledge.parse_worker import CPU_MARGIN_SECONDS
from knowledge.validation import CheckedUpload

log = get_logger("knowledge.isolated")

_NICENESS = 10


@dataclasses.dataclass(frozen=True)
class IsolationLimits:
    """What one parse may use: ``memory_bytes`` of address space, ``seconds`` of wall-clock time.

    ``workers`` children run at once for the checks of uploads (the request path) and as many for
    the parses of ingestion jobs (background), so a backlog of ingestion never delays an upload's
    answer; a call waits at most ``queue_seconds`` for a child of its kind.
    """

    memory_bytes: int = 1536 * 1024 * 1024
    seconds: float = 300.0
    workers: int = 2
    queue_seconds: float = 120.0


class IsolatedParser:
    """Runs ``check_upload`` and ``parse`` in a child process per call (see the module docstring)."""

    def __init__(self, limits: IsolationLimits | None = None) -> None:
        self.limits = limits or IsolationLimits()
        self._checks = asyncio.Semaphore(max(1, self.limits.workers))
        self._parses = asyncio.Semaphore(max(1, self.limits.workers))

    async def check(self, data: bytes, filename: str, limits: Limits) -> CheckedUpload:
        """``knowledge.validation.check_upload`` in a child; its 4xx errors come back as they were."""
        result = await self._call(self._checks, "check", {"data": data, "filename": filename, "limits": limits,
                                                          "nice": 0}, filename)
        if not isinstance(result, CheckedUpload):
            raise ParseFailed(f"the parser returned {type(result).__name__} instead of a checked upload")
        return result

    async def parse(self, data: bytes, content_type: str, *, filename: str = "", max_pages: int = 2000) -> ParsedDocument:
        """``knowledge.parsing.parse`` in a child."""
        result = await self._call(self._parses, "parse", {"data": data, "content_type": content_type, "filename": filename,
                                                          "max_pages": max_pages, "nice": _NICENESS}, filename)
        if not isinstance(result, ParsedDocument):
            raise ParseFailed(f"the parser returned {type(result).__name__} instead of a document")
        return result

    async def _call(self, slots: asyncio.Semaphore, operation: str, arguments: dict[str, Any], filename: str) -> object:
        try:
            await asyncio.wait_for(slots.acquire(), self.limits.queue_seconds)
        except TimeoutError:
            log.warning("kb.parse_queue_timeout", filename=filename, seconds=self.limits.queue_seconds)
            raise IngestionBusy(f"every parser stayed busy for {self.limits.queue_seconds:g} s; try again later") from None
        try:
            return await self._run_child(operation, arguments, filename)
        finally:
            slots.release()

    async def _run_child(self, operation: str, arguments: dict[str, Any], filename: str) -> object:
        bounds = {"memory_bytes": self.limits.memory_bytes, "cpu_seconds": int(self.limits.seconds) + CPU_MARGIN_SECONDS}
        request = pickle.dumps((operation, arguments, bounds), protocol=pickle.HIGHEST_PROTOCOL)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "knowledge.parse_worker", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(request), self.limits.seconds)
        except TimeoutError:
            _kill(proc)
            await proc.wait()
            log.warning("kb.parse_timeout", filename=filename, seconds=self.limits.seconds)
            raise ParseFailed(f"parsing took longer than {self.limits.seconds:g} s (KB_PARSE_TIMEOUT_SECONDS)") from None
        except BaseException:  # cancelled (shutdown): the child must not outlive the parse
            _kill(proc)
            with contextlib.suppress(ProcessLookupError):
                await asyncio.shield(proc.wait())
            raise
        if proc.returncode != 0 or not out:
            raise _crash(proc.returncode, err, self.limits, filename)
        kind, value = pickle.loads(out)  # noqa: S301  # written by this package's own child process
        if kind == "ok":
            return value
        status, code, message = value
        if status >= 500:
            # a bug in a parser, not a property of the file: reported as a failed parse with the reason
            raise ParseFailed(message)
        raise _rebuild(status, code, message)


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


def _crash(returncode: int | None, err: bytes, limits: IsolationLimits, filename: str) -> ParseFailed:
    tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] if err else []
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.Signals._value2member_map_ else str(-returncode)
        reason = f"the parser was killed by {name}"
        if -returncode == signal.SIGXCPU:
            reason += f" (more than {int(limits.seconds) + CPU_MARGIN_SECONDS} s of CPU)"
    elif tail and "MemoryError" in tail[0]:
        reason = f"the document needs more than {limits.memory_bytes // (1024 * 1024)} MB to parse (KB_PARSE_MEMORY_MB)"
    else:
        reason = f"the parser exited with status {returncode}" + (f": {tail[0][:300]}" if tail else "")
    log.warning("kb.parse_crashed", filename=filename, returncode=returncode, reason=reason)
    return ParseFailed(reason)


def _rebuild(status: int, code: str, message: str) -> AppError:
    """The child's client error as the same class (found by its code), so callers see no difference."""
    from knowledge import errors

    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, AppError) and value.default_code == code and value.status == status:
            return value(message)
    error = AppError(message, code=code)
    error.status = status
    return error
