"""Thin deferrable sensors: a quick check on the worker, then the wait in a trigger."""
