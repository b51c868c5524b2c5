"""Prometheus metrics: one registry per process, built by the composition root (api lifespan, worker start)."""

from core.observability.http import serve_metrics
from core.observability.metrics import InstrumentedNlu, Metrics
from core.observability.repository import MetricsRepository, OutboxSnapshot

__all__ = ["InstrumentedNlu", "Metrics", "MetricsRepository", "OutboxSnapshot", "serve_metrics"]
