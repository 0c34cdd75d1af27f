"""Parameters whose value is a path or a switch for loading code: dangerous to change remotely.

A CONFIG SET of ``dir`` + ``dbfilename`` makes the server write its RDB file anywhere
it can write (the classic way to plant a file through an exposed Redis); ``logfile``,
``aclfile`` and the TLS file parameters read or write arbitrary paths; the
``enable-*-command`` switches open DEBUG and MODULE LOAD, that is, code execution.
None of them is ever applied unless the policy names it under ``allow_dangerous``.
"""

from __future__ import annotations

from redispolicy.catalog.params import Param

# Listed by name so a reviewer can see them; the suffix rule below catches future ones.
_PATHS = frozenset(
    {
        "dir",
        "dbfilename",
        "logfile",
        "pidfile",
        "aclfile",
        "appendfilename",
        "appenddirname",
        "cluster-config-file",
        "req-res-logfile",
        "unixsocket",
        "tls-cert-file",
        "tls-key-file",
        "tls-client-cert-file",
        "tls-client-key-file",
        "tls-ca-cert-file",
        "tls-ca-cert-dir",
        "tls-dh-params-file",
    }
)
_CODE = frozenset({"enable-debug-command", "enable-module-command", "enable-protected-configs", "loadmodule"})
_PATH_SUFFIXES = ("file", "dir", "dirname", "filename")


def danger(param: Param) -> str | None:
    """Why a parameter needs an explicit opt-in, or None when it does not."""
    name = param.name
    if name in _CODE or name.endswith("-command"):
        return "opens commands that load or run code"
    if name in _PATHS or name.endswith(_PATH_SUFFIXES):
        return "points the server at a file path"
    if param.protected:
        return "is protected (enable-protected-configs)"
    return None
