"""Brygga: documents and consent across the secrecy boundary (HTTP, storage, wiring)."""

__version__ = "0.1.0"
