"""Loading the utility's own data from CSV files: `DataImports.run` reads a whole file, checks every row (its
cells, then the codes it names against the database), and only when the file has no error at all upserts it
in the caller's transaction — all of it or nothing; a written bills file then queues the statements of the key
accounts' bills it created or changed (core.billing.statements). A dry run checks and counts the same way and writes
nothing. A file imported twice changes nothing the second time (every record is compared before it is written).

Built once per process (core.services.CoreServices.imports); each call takes the caller's session and never
commits. A written import is one audit row (`import.<kind>`, the counts in its detail).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from core.billing.statements import BillStatements
from core.clock import Clock
from core.imports import messages as M
from core.imports.accounts import AccountImporter
from core.imports.base import Context, Importer
from core.imports.bills import BillImporter
from core.imports.contacts import ContactImporter
from core.imports.reader import Problems, cells_of, read_table
from core.imports.report import ImportKind, ImportReport
from core.imports.repository import ImportRepository
from core.imports.tariffs import TariffImporter
from core.imports.topology import TopologyImporter
from core.staff.audit import Actor, AuditService

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
IMPORTERS: dict[ImportKind, Importer[Any]] = {
    importer.kind: importer
    for importer in (TopologyImporter(), TariffImporter(), AccountImporter(), ContactImporter(), BillImporter())
}


class DataImports:
    def __init__(
        self, clock: Clock, audit: AuditService, tz: ZoneInfo, statements: BillStatements | None = None
    ) -> None:
        self.clock = clock
        self.audit = audit
        self.tz = tz
        self.statements = statements  # the bill statements a written bills import queues (None: none)

    async def run(
        self,
        session: AsyncSession,
        kind: ImportKind,
        data: bytes,
        *,
        source: str = "",
        dry_run: bool = False,
        actor: Actor = None,
        client: str | None = None,
        progress: Progress | None = None,
        progress_every: int = 1000,
    ) -> ImportReport:
        """Import one file of `kind` (its bytes; `source` names it in the report and the audit log)."""
        importer = IMPORTERS[kind]
        report = ImportReport(kind=kind, source=source, dry_run=dry_run)
        problems = Problems()
        repo = ImportRepository(session)
        ctx = Context(repo=repo, problems=problems, now=self.clock.now(), tz=self.tz)
        rows = _parse(importer, ctx, data, report, progress, progress_every)
        if rows is not None:  # the rows that read well are checked against the database even when others did not
            if progress is not None:
                progress(M.PROGRESS_CHECK.format(rows=len(rows)))
            plan = await importer.plan(ctx, rows)
            if not problems:
                report.tallies, report.changed_bills = plan.tallies, plan.changed_bills
            if not problems and not dry_run:
                if progress is not None:
                    progress(M.PROGRESS_WRITE)
                await plan.write(repo)
                self._audit(session, report, actor, client)
                if self.statements is not None and report.changed_bills:
                    refs = [(bill.account_id, bill.period) for bill in report.changed_bills]
                    corrected = [(bill.account_id, bill.period) for bill in report.changed_bills if bill.corrected]
                    report.statements = await self.statements.queue(session, refs, corrected=corrected)
        report.errors = sorted(problems.errors, key=lambda e: e.line)
        _log(report)
        return report

    def _audit(self, session: AsyncSession, report: ImportReport, actor: Actor, client: str | None) -> None:
        detail = {"rows": report.rows, "counts": {name: asdict(tally) for name, tally in report.tallies.items()}}
        self.audit.record(session, actor, f"import.{report.kind}", "import", report.source or None, detail, client)


def _parse(
    importer: Importer[Any],
    ctx: Context,
    data: bytes,
    report: ImportReport,
    progress: Progress | None,
    every: int,
) -> Sequence[tuple[int, Any]] | None:
    """The rows that read well, typed, with their lines; each error of a cell and each repeated row (by the
    importer's unique columns) in ctx.problems. None when the file cannot be read or its header is wrong."""
    table = read_table(data, importer.columns, importer.kind, ctx.problems)
    if table is None:
        return None
    report.rows = table.rows
    rows: list[tuple[int, Any]] = []
    seen: dict[tuple[str, ...], int] = {}
    unique, what = importer.unique
    for done, cells in enumerate(cells_of(table, importer.columns, ctx.problems), start=1):
        key = cells.values(unique)
        first = seen.setdefault(key, cells.line) if all(key) else cells.line
        if first != cells.line:
            ctx.problems.add(cells.line, unique[-1], M.DUPLICATE_ROW.format(what=f"the same {what}", first=first))
        row = importer.parse(cells, ctx)
        if row is not None and first == cells.line:
            rows.append((cells.line, row))
        if progress is not None and done % every == 0:
            progress(M.PROGRESS_READ.format(done=done, total=len(table.records)))
    return rows


def _log(report: ImportReport) -> None:
    what = f"import {report.kind} {report.source}".rstrip()
    if report.refused:
        log.warning("%s refused: %d errors in %d rows", what, len(report.errors), report.rows)
        return
    counts = ", ".join(f"{name} {t.created}/{t.updated}/{t.unchanged}" for name, t in report.tallies.items())
    verb = "checked (dry run)" if report.dry_run else "imported"
    log.info("%s %s: %d rows; created/updated/unchanged: %s", what, verb, report.rows, counts)
