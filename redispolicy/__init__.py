"""redispolicy: keep Redis and Valkey servers configured as reviewed code."""

__version__ = "0.1.0"
