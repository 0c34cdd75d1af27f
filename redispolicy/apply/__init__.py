"""CHANGING IT: atomic config apply with read-back, the apply lock and the audit trail."""
