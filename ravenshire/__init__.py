"""Ravenshire: the operations system of a small systematic fund.

Layers (dependencies point downward only): data → research → portfolio & risk → execution & monitoring →
orchestration, with the five agents on top. See the README for the library API.
"""

__version__ = "0.1.0"
