"""Triggers: the asynchronous waiting of the deferrable sensors, run in the triggerer."""
