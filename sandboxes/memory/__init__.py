"""In-memory books: the ``memory`` platform, for the engine's tests and benchmarks (import to register it)."""

from sandboxes.memory.books import Faults, MemoryBooks
from sandboxes.memory.provider import PASSWORD, MemoryProvider

__all__ = ["PASSWORD", "Faults", "MemoryBooks", "MemoryProvider"]
