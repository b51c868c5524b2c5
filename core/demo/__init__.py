"""Deterministic demo data (`gridtalk demo load`, `gridtalk demo accounts --json`)."""

from core.demo.data import DEMO_PASSWORD, SEED, DemoDataset, build_dataset
from core.demo.loader import DemoSummary, database_is_empty, list_demo_accounts, load_demo

__all__ = [
    "DEMO_PASSWORD",
    "SEED",
    "DemoDataset",
    "DemoSummary",
    "build_dataset",
    "database_is_empty",
    "list_demo_accounts",
    "load_demo",
]
