"""``python -m knowledge``: ingest, search, list, delete, reindex, eval, seed.

Uses DATABASE_URL; when it is empty, the embedded PostgreSQL under DATA_DIR (the same one
``python -m server serve`` starts). Indexing runs in this process with a progress bar.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from core.settings import Settings
from knowledge import MIGRATIONS_DIR, KnowledgeBase, create_knowledge_base
from knowledge.ingest import Progress


@contextlib.contextmanager
def _database(settings: Settings) -> Iterator[str]:
    if settings.database_url:
        yield settings.database_url
        return
    from core.embedded import embedded_postgres

    settings.data_path.mkdir(parents=True, exist_ok=True)
    with embedded_postgres(settings.data_path / "pg") as dsn:
        yield dsn


@contextlib.asynccontextmanager
async def _knowledge_base(settings: Settings, dsn: str) -> AsyncIterator[KnowledgeBase]:
    from core.db import migrate, open_pool

    pool = await open_pool(dsn, min_size=1, max_size=4)
    try:
        await migrate(pool, [MIGRATIONS_DIR])
        yield create_knowledge_base(settings, pool)
    finally:
        await pool.close()


class _Bar:
    """A rich progress bar per document: pages done of total."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bars

        self.progress = Bars(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("pages"),
                             TimeElapsedColumn(), disable=not sys.stderr.isatty() and os.environ.get("KB_PROGRESS") != "1")

    def start(self, label: str) -> Progress:
        """A new bar labelled ``label``; the returned callback moves it."""
        task = self.progress.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            self.progress.update(task, completed=done, total=max(total, 1))

        return update


async def _run(args: argparse.Namespace, kb: KnowledgeBase) -> int:
    if args.cmd == "ingest":
        bar = _Bar()
        status = 0
        with bar.progress:
            for path in args.paths:
                p = Path(path)
                result = await kb.add_document(await asyncio.to_thread(p.read_bytes), filename=p.name, machine_models=args.model, lang=args.lang,
                                               title=args.title, wait=True, progress=bar.start(p.name))
                doc = await kb.get_document(result["id"])
                bar.progress.console.print(f"{p.name}: document {result['id']} {doc['status']}"
                                           f"{' (unchanged)' if result['duplicate'] else ''}, {doc['chunks']} chunks"
                                           f"{', error: ' + doc['error'] if doc['error'] else ''}")
                status |= doc["status"] != "ready"
        return status
    if args.cmd == "search":
        passages = await kb.search(args.query, k=args.k, machine_model=args.model, lang=args.lang)
        for n, hit in enumerate(passages, 1):
            print(f"[{n}] score {hit.score:.4f} sim {hit.similarity:.3f}  {hit.title} | p.{hit.page or '-'} | {hit.section} "
                  f"({hit.kind}, doc {hit.document_id})")
            print("    " + hit.text[:300].replace("\n", "\n    "))
        return 0
    if args.cmd == "list":
        for d in await kb.list_documents(kind=None):
            print(f"{d['id']:>4}  {d['kind']:<10} {d['status'] or '-':<10} {d['pages_done']}/{d['pages_total']} pages  "
                  f"{d['chunks']:>4} chunks  {d['lang'] or '-':<3} {','.join(d['machine_models']) or '-':<24} {d['title']}")
        return 0
    if args.cmd == "delete":
        await kb.delete_document(args.id)
        print(f"deleted document {args.id}")
        return 0
    if args.cmd == "reindex":
        bar = _Bar()
        with bar.progress:
            ids = await kb.reindex(args.id, wait=True, progress=bar.start("reindex"))
        print(f"re-indexed {len(ids)} document(s)")
        return 0
    if args.cmd == "seed":
        bar = _Bar()
        with bar.progress:
            results = await kb.seed_samples(wait=True, progress=bar.start("samples"))
        print(json.dumps(results))
        return 0
    if args.cmd == "eval":
        from knowledge.evaluation import evaluate, load_questions, render_table, summarise

        if not args.no_seed:
            await kb.seed_samples(wait=True)
        outcomes = await evaluate(kb, load_questions(Path(args.file)), k=args.k)
        print(render_table(summarise(outcomes)))
        misses = [o for o in outcomes if o.rank is None or o.rank > 5]
        if misses and args.verbose:
            print("\nnot in the top 5:")
            for o in misses:
                print(f"  {o.question.id} [{o.question.lang}] rank={o.rank}: {o.question.text}")
        return 0
    raise AssertionError(args.cmd)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m knowledge", description="Manage and query the knowledge base.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ingest", help="index files (PDF, HTML, Markdown, text, DOCX)")
    p.add_argument("paths", nargs="+")
    p.add_argument("--model", help="machine model(s), comma-separated")
    p.add_argument("--lang", help="language code of the documents (en, el, ar, es, tr, no)")
    p.add_argument("--title")
    p = sub.add_parser("search", help="search as the assistant does")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--model")
    p.add_argument("--lang")
    sub.add_parser("list", help="list documents and their status")
    p = sub.add_parser("delete", help="delete a document")
    p.add_argument("id", type=int)
    p = sub.add_parser("reindex", help="index one document (or all) again")
    p.add_argument("id", type=int, nargs="?")
    sub.add_parser("seed", help="index the sample AutoBoss manuals")
    p = sub.add_parser("eval", help="retrieval quality on a question set")
    p.add_argument("file")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--no-seed", action="store_true", help="do not index the sample manuals first")
    p.add_argument("-v", "--verbose", action="store_true", help="list the questions missed")
    return ap


def main(argv: list[str] | None = None) -> int:
    from core.errors import AppError
    from core.logs import configure_logging
    from core.settings import SettingsError

    args = parser().parse_args(argv)
    try:
        # types and choices only: this command serves nothing and uses no secret, so the
        # production rules for secrets (core.settings.Settings.problems) are not its business
        settings = Settings.from_env(os.environ, strict=False)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(os.environ.get("LOG_LEVEL", "warning"), "console")

    async def go(dsn: str) -> int:
        async with _knowledge_base(settings, dsn) as kb:
            return await _run(args, kb)

    try:
        with _database(settings) as dsn:
            return asyncio.run(go(dsn))
    except AppError as exc:
        print(f"error ({exc.code}): {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
