"""The utility's own data in: areas and feeders, tariffs, customers and their accounts, key-account contacts
and managers, monthly bills, each from a CSV file (`gridtalk import <kind> FILE`; the columns are in the
README). The service is core.imports.service.DataImports; this package's top level holds only the report's
types, so the command line can name the kinds without loading the database layer."""

from core.imports.report import BillRef, ImportKind, ImportReport, RowError, Tally

__all__ = ["BillRef", "ImportKind", "ImportReport", "RowError", "Tally"]
