"""REDIS FACTS: the parameter table and value normalization. Pure: no I/O beyond the package data."""
