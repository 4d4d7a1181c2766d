"""The parser's worker process (``python -m knowledge.parse_worker``), started by
``knowledge.isolated.IsolatedParser`` for one parse or upload check.

It imports the project's parsing modules, reads one pickled request on stdin, applies the
address-space and CPU-time limits, and writes the pickled answer on stdout. The format libraries
(pypdf, BeautifulSoup, markdown-it, python-docx) load on first use, inside the limits, so only the
one the document needs is loaded. Nothing else of the service is imported (no database driver,
model or logging code): the process starts in about a tenth of a second.
"""

from __future__ import annotations

import os
import pickle
import sys

CPU_MARGIN_SECONDS = 5  # RLIMIT_CPU backs up the parent's wall-clock time-out should the parent be starved


def main() -> int:
    """Read one request, apply the limits, answer; exit status 0 unless the interpreter itself failed."""
    import resource

    from core.errors import AppError
    from knowledge.parsing import parse
    from knowledge.validation import check_upload

    operation, arguments, bounds = pickle.loads(sys.stdin.buffer.read())  # noqa: S301  # from the parent
    if arguments.get("nice"):  # background parses: below the service, so they never slow the answers
        os.nice(arguments["nice"])
    resource.setrlimit(resource.RLIMIT_AS, (bounds["memory_bytes"], bounds["memory_bytes"]))
    resource.setrlimit(resource.RLIMIT_CPU, (bounds["cpu_seconds"], bounds["cpu_seconds"]))
    try:
        if operation == "check":
            value: object = check_upload(arguments["data"], arguments["filename"], arguments["limits"])
        elif operation == "parse":
            value = parse(arguments["data"], arguments["content_type"], filename=arguments["filename"],
                          max_pages=arguments["max_pages"])
        else:
            raise ValueError(f"unknown operation {operation!r}")
        answer: tuple[str, object] = ("ok", value)
    except AppError as exc:
        answer = ("error", (exc.status, exc.code, exc.message))
    except MemoryError:
        raise  # exits non-zero with MemoryError on stderr: the parent says what it means
    except Exception as exc:  # a parser bug: its reason goes back to the parent as a failed parse
        answer = ("error", (500, "kb_parse_failed", f"the parser failed: {type(exc).__name__}: {str(exc)[:300]}"))
    sys.stdout.buffer.write(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
