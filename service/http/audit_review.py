"""Auditors' review: the emergency-access queue with verdicts, and the anomaly report."""
from __future__ import annotations

from .routing import Routes

routes = Routes("audit")
