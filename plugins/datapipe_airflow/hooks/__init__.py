"""Hooks: how DataPipe's tasks talk to the BDMS and to CalibPipe (through the catalog)."""
