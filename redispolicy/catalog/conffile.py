"""Reading a redis.conf / valkey.conf the way the server itself reads it.

The facts this module relies on, from src/config.c and src/sds.c of Redis 6.0.16 and 8.0.2
and Valkey 8.1.1 (``loadServerConfig``, ``loadServerConfigFromString``, ``sdssplitargs``):

- The file is split on ``\\n``; each line is trimmed of `` \\t\\r\\n`` at both ends; a line
  that then starts with ``#`` or is empty is skipped. A ``#`` later in a line is NOT a
  comment: ``maxmemory 1gb # note`` is four arguments, which Redis refuses.
- ``sdssplitargs`` splits a line: blanks (``isspace``) between arguments; outside quotes an
  argument ends at space, tab, ``\\r`` or ``\\n`` only (a ``\\v`` or ``\\f`` is part of it); a
  quote may open in the middle of an argument (``a"b c"`` is ``ab c``). In double quotes
  ``\\xHH`` (two hex digits) is that byte, ``\\n \\r \\t \\b \\a`` are controls and ``\\c``
  is ``c``; in single quotes only ``\\'`` is an escape. A closing quote must be followed
  by a blank or the end of the line, and a quote left open is an error ("Unbalanced
  quotes"): the server refuses to start, so we refuse the file too.
- The directive name is lower-cased; values keep their case.
- A single-argument parameter given more or fewer arguments is refused. From 7.0 a
  multi-argument parameter given ONE non-empty argument has it split again
  (``save "900 1 300 10"``); Redis 6.0 does not do that.
- The last line that sets a parameter wins, except for two that accumulate:
  ``save`` (7.0+: the first ``save`` line of the file drops the built-in save points and
  every line appends; ``save ""`` empties the list. 6.0: a server started with a config
  file starts with NO save points, ``save S C`` appends, ``save ""`` empties, other forms
  are ignored) and ``client-output-buffer-limit`` (each line sets the classes it names and
  leaves the others at their current value; ``CONFIG GET`` shows all three classes, the
  replica class as ``slave``).
- ``include FILE`` reads FILE at that point, with its own line numbers. A relative FILE is
  opened from the server's current working directory, NOT from the including file's
  directory: that is the directory the server was started in, changed by any ``dir``
  directive read before the include (``dir`` chdir()s while the file is read). From 7.0
  a path with ``*``, ``?`` or ``[`` is a glob whose matches are read in sorted order and
  which may match nothing. A missing file stops the server. Redis does not detect an
  include loop (it recurses until it crashes); we refuse one.
- ``rename-command``, ``user``, ``loadmodule`` and ``sentinel`` are directives, not
  parameters: ``CONFIG GET`` never shows them. From 7.0 an unknown directive is kept for
  modules and refused at startup when no module claims it; a few dead directives
  (``list-max-ziplist-entries`` ...) are accepted and ignored.
- Sizes (``1k``, ``1kb``, ``1m``, ``1mb``, ``1g``, ``1gb``, any case) become bytes, and
  ``CONFIG GET`` shows bytes (``catalog/units.py``, ``catalog/normalize.py``).

What we add: a size bound per file and in total, a NUL byte or a directive line that is not
UTF-8 is refused (a binary file is not a configuration), and nothing that could be secret
is ever put in a message: not a value, not a line's text, not a renamed command's new name.
"""

from __future__ import annotations

import glob
import os
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from redispolicy.catalog.normalize import normalize
from redispolicy.catalog.params import Lookup, ServerCatalog, catalog
from redispolicy.catalog.units import parse_size
from redispolicy.errors import RedispolicyError
from redispolicy.secret import Secret

MAX_FILE_BYTES = 1024 * 1024  # a full redis.conf with every comment is ~110 KB
MAX_TOTAL_BYTES = 4 * 1024 * 1024
MAX_FILES = 256
MAX_INCLUDE_DEPTH = 16

_UNQUOTED_END = " \n\r\t"  # sdssplitargs ends an unquoted argument on these only
_BLANKS = " \t\n\v\f\r"  # isspace() in the C locale: skipped between arguments
_FAST_SPLIT = re.compile(r"[ \t\r\n]+")
_HEX = "0123456789abcdefABCDEF"
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "a": "\a"}
_GLOB_CHARS = ("*", "?", "[")
_STRTOLL = re.compile(r"[ \t\n\v\f\r]*[+-]?[0-9]+")

# Accepted and ignored by the server (deprecated_configs in config.c); not worth a warning.
_DEAD = frozenset(
    {
        "list-max-ziplist-entries",
        "list-max-ziplist-value",
        "lua-replicate-commands",
        "io-threads-do-reads",
        "dynamic-hz",
    }
)
_COBL_ORDER = ("normal", "slave", "pubsub")  # CONFIG GET's order and names
_COBL_CLASS = {"normal": "normal", "slave": "slave", "replica": "slave", "pubsub": "pubsub"}


@dataclass(frozen=True)
class Directive:
    file: str  # the path as the server would open it
    line: int
    name: str  # lower-cased, as the server compares it
    args: tuple[str, ...]

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class RenamedCommand:
    location: str
    command: str
    disabled: bool  # renamed to "": gone. Otherwise the new name is not kept: it is a secret of sorts


@dataclass(frozen=True)
class ConfFile:
    """What a server started from the file would show in ``CONFIG GET``, for what the file sets."""

    values: dict[str, str | Secret]  # the server's primary name -> CONFIG GET text; secrets wrapped
    locations: dict[str, str]  # name -> "file:line" of the line that decided the value
    notes: tuple[str, ...]  # what was not carried over, each with its file:line
    renamed_commands: tuple[RenamedCommand, ...]
    modules: tuple[str, ...]  # "file:line" of each loadmodule
    files: tuple[str, ...]  # every file read, in order


def conf_error(where: str, message: str, hint: str) -> RedispolicyError:
    return RedispolicyError(f"{where}: {message}", hint)


def split_args(line: str) -> list[str] | None:
    """``sdssplitargs``: the arguments of one line, or None when a quote is unbalanced."""
    if not any(c in line for c in "\"'\v\f"):
        return [a for a in _FAST_SPLIT.split(line) if a]  # no quotes: the rules reduce to this
    args: list[str] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _BLANKS:
            i += 1
        if i >= n:
            return args
        parsed = _one_arg(line, i)
        if parsed is None:
            return None
        arg, i = parsed
        args.append(arg)


def _one_arg(line: str, i: int) -> tuple[str, int] | None:
    out: list[str] = []
    n = len(line)
    quote = ""
    while True:
        c = line[i] if i < n else ""
        if quote == '"':
            if c == "\\" and line[i + 1 : i + 2] == "x" and _hex2(line, i + 2):
                byte = int(line[i + 2 : i + 4], 16)
                # a byte >= 0x80 is kept as its surrogate escape; _as_text joins it to real text
                out.append(chr(byte) if byte < 0x80 else chr(0xDC00 + byte))
                i += 3
            elif c == "\\" and i + 1 < n:
                i += 1
                out.append(_ESCAPES.get(line[i], line[i]))
            elif c == '"':
                return _closed(line, i, out)
            elif not c:
                return None
            else:
                out.append(c)
        elif quote == "'":
            if c == "\\" and line[i + 1 : i + 2] == "'":
                i += 1
                out.append("'")
            elif c == "'":
                return _closed(line, i, out)
            elif not c:
                return None
            else:
                out.append(c)
        elif not c or c in _UNQUOTED_END:
            return "".join(out), i
        elif c in "\"'":
            quote = c
        else:
            out.append(c)
        i += 1


def _hex2(line: str, i: int) -> bool:
    return len(line) >= i + 2 and line[i] in _HEX and line[i + 1] in _HEX


def _closed(line: str, i: int, out: list[str]) -> tuple[str, int] | None:
    # "closing quote must be followed by a space or nothing at all"
    if i + 1 < len(line) and line[i + 1] not in _BLANKS:
        return None
    return "".join(out), i + 1


class _Reader:
    """Yields the directives of a file and of what it includes, in the order the server reads them."""

    def __init__(self, server: ServerCatalog, start_dir: Path) -> None:
        self.globs = server.major_minor >= (7, 0)
        self.cwd = start_dir  # the server's working directory: moves with each `dir` line
        self.stack: list[tuple[str, str]] = []  # (real path, shown path) of the files being read
        self.files: list[str] = []
        self.total = 0
        self.notes: list[str] = []

    def read(self, path: Path, shown: str, where: str | None) -> Iterator[Directive]:
        real = os.path.realpath(path)
        loop = [s for r, s in self.stack if r == real]
        if loop:
            chain = " -> ".join(s for _, s in self.stack) + f" -> {shown}"
            raise conf_error(
                where or shown,
                f"include loop: {shown} is already being read ({chain})",
                "remove the include that points back; Redis itself would recurse until it crashes",
            )
        if len(self.stack) >= MAX_INCLUDE_DEPTH or len(self.files) >= MAX_FILES:
            raise conf_error(
                where or shown,
                f"too many included files (more than {MAX_FILES}, or nested deeper than {MAX_INCLUDE_DEPTH})",
                "point --from-conf at the file the server is started with",
            )
        data = self._load(path, shown, where)
        self.stack.append((real, shown))
        self.files.append(shown)
        try:
            yield from self._lines(data, shown)
        finally:
            self.stack.pop()

    def _load(self, path: Path, shown: str, where: str | None) -> bytes:
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise conf_error(
                where or shown,
                f"cannot read {shown}: {reason}",
                "the server would refuse to start as well; check the path (a relative include is "
                "opened from the directory the server starts in, or the last `dir` before it)",
            ) from None
        if len(data) > MAX_FILE_BYTES or self.total + len(data) > MAX_TOTAL_BYTES:
            raise conf_error(
                shown,
                f"larger than {MAX_FILE_BYTES // 1024} KiB per file / {MAX_TOTAL_BYTES // 1024 // 1024} MiB "
                "in all: not a configuration file",
                "point --from-conf at the server's redis.conf / valkey.conf",
            )
        self.total += len(data)
        if b"\0" in data:
            line = data[: data.index(b"\0")].count(b"\n") + 1
            raise conf_error(
                f"{shown}:{line}",
                "a NUL byte: this is a binary file, not a configuration file",
                "point --from-conf at the server's redis.conf / valkey.conf",
            )
        return data

    def _lines(self, data: bytes, shown: str) -> Iterator[Directive]:
        for number, raw in enumerate(data.split(b"\n"), start=1):
            stripped = raw.strip(b" \t\r\n")
            if not stripped or stripped.startswith(b"#"):
                continue
            where = f"{shown}:{number}"
            try:
                text = stripped.decode("utf-8")
            except UnicodeDecodeError:
                raise conf_error(
                    where, "not UTF-8 text", "save the file as UTF-8 (comments may stay as they are)"
                ) from None
            args = split_args(text)
            if args is None:
                raise conf_error(
                    where,
                    "unbalanced quotes (a quote left open, or a closing quote followed by more text)",
                    "close the quote and put a blank after it; the server refuses this line too",
                )
            if not args:
                continue
            name, *rest = _as_text(args, where)
            directive = Directive(shown, number, name.lower(), tuple(rest))
            if directive.name == "include":
                yield from self._include(directive)
                continue
            if directive.name == "dir" and len(directive.args) == 1:
                self.cwd = self.cwd / directive.args[0]  # an absolute path replaces cwd
            yield directive

    def _include(self, d: Directive) -> Iterator[Directive]:
        if len(d.args) != 1:
            raise conf_error(d.location, "include takes exactly one file", "write one include line per file")
        target = self.cwd / d.args[0]
        if self.globs and any(c in d.args[0] for c in _GLOB_CHARS):
            matches = sorted(glob.glob(str(target)))
            if not matches:
                self.notes.append(f"{d.location}: include {target} matches no file (the server skips it too)")
            for match in matches:
                yield from self.read(Path(match), match, d.location)
            return
        yield from self.read(target, str(target), d.location)


def _as_text(args: list[str], where: str) -> list[str]:
    """The arguments as text: ``\\xHH`` escapes gave bytes, and those bytes must be UTF-8 with the rest."""
    out = []
    for arg in args:
        if "\0" in arg:
            raise conf_error(
                where, "a \\x00 byte in a value", "remove it: the server would cut the value there"
            )
        try:
            out.append(arg.encode("utf-8", "surrogateescape").decode("utf-8"))
        except UnicodeError:
            raise conf_error(
                where, "a \\xHH escape makes a value that is not UTF-8 text", "write the value as text"
            ) from None
    return out


def read_conf(path: Path, server: ServerCatalog, *, start_dir: Path | None = None) -> ConfFile:
    """What ``server`` (a product and version) would show in CONFIG GET when started from ``path``.

    ``start_dir``: the directory the server is started in, for relative includes and a
    relative ``dir``; without it relative includes are opened from the current directory
    and a relative ``dir`` is left out (with a note), since it names a place we cannot know.
    """
    reader = _Reader(server, start_dir or Path.cwd())
    state = _State(server, None if start_dir is None else str(start_dir))
    for directive in reader.read(path, str(path), None):
        state.apply(directive)
    return state.result(str(path), reader)


class _State:
    """The values the directives leave behind, applied in file order like the server does."""

    def __init__(self, server: ServerCatalog, workdir: str | None) -> None:
        self.server = server
        self.modern = server.major_minor >= (7, 0)
        self.workdir = workdir  # the server's working directory as far as we know it
        self.values: dict[str, str | Secret] = {}
        self.locations: dict[str, str] = {}
        self.notes: list[str] = []
        self.renamed: list[RenamedCommand] = []
        self.modules: list[str] = []
        # Redis 6.0 drops the built-in save points when started with a file; 7.0+ on the first `save`
        self.save: list[tuple[int, int]] | None = None if self.modern else []
        self.save_at: str | None = None
        self.cobl: dict[str, tuple[int, int, int]] | None = None

    @property
    def server_name(self) -> str:
        return f"{self.server.product} {self.server.major_minor[0]}.{self.server.major_minor[1]}"

    def apply(self, d: Directive) -> None:
        if d.name in _DIRECTIVES:
            _DIRECTIVES[d.name](self, d)
            return
        found = self.server.lookup(d.name)
        if found is None:
            self._not_a_parameter(d)
            return
        if not self.server.exists(d.name):
            self.notes.append(
                f"{d.location}: {d.name} is {found.canonical} on {self.server_name}, which refuses the "
                f"name {d.name} at startup; carried over as {found.canonical}"
            )
        if found.canonical == "save":
            self._save(d)
        elif found.canonical == "client-output-buffer-limit":
            self._cobl(d)
        else:
            self._parameter(d, found)

    # -- ordinary parameters --------------------------------------------------------------
    def _parameter(self, d: Directive, found: Lookup) -> None:
        param = found.param
        if not param.multi_arg and len(d.args) != 1:
            raise conf_error(
                d.location,
                f"{d.name} takes one value, this line gives {len(d.args)}",
                'quote a value that contains blanks ("...") or write "" for an empty one; '
                "the server refuses this line too",
            )
        args = self._multi(d) if param.multi_arg else list(d.args)
        text = " ".join(args)
        if found.canonical in {"replicaof", "slaveof"} and [a.lower() for a in args] == ["no", "one"]:
            text = ""
        if found.canonical == "dir":
            workdir = self._dir(d, text)
            if workdir is None:
                return
            text = workdir
        try:
            value = normalize(param, text)
        except (ValueError, ArithmeticError) as exc:
            shown = "(sensitive)" if param.sensitive else repr(text)
            self.notes.append(
                f"{d.location}: {found.canonical} {shown}: {exc}; carried over as written, "
                "validate will show it"
            )
            value = text
        self._set(found.canonical, Secret(value) if param.sensitive else value, d.location)

    def _multi(self, d: Directive) -> list[str]:
        # 7.0+: one non-empty argument of a multi-argument parameter is split again
        if self.modern and len(d.args) == 1 and d.args[0]:
            again = split_args(d.args[0])
            if again is None:
                raise conf_error(d.location, "unbalanced quotes inside the quoted value", "fix the quoting")
            return _as_text(again, d.location)
        return list(d.args)

    def _dir(self, d: Directive, text: str) -> str | None:
        """``dir`` as CONFIG GET shows it (the absolute working directory); None: unknowable."""
        if posixpath.isabs(text):
            self.workdir = posixpath.normpath(text)
        elif self.workdir is not None:
            self.workdir = posixpath.normpath(posixpath.join(self.workdir, text))
        else:
            self.notes.append(
                f"{d.location}: dir {text!r} is relative to the directory the server is started in, "
                "which the file does not say: not carried over"
            )
        return self.workdir

    def _set(self, name: str, value: str | Secret, where: str) -> None:
        self.values[name] = value
        self.locations[name] = where

    # -- save and client-output-buffer-limit: lines that accumulate --------------------------
    def _save(self, d: Directive) -> None:
        args = self._multi(d)
        if args == [""]:
            self.save = []
            self.save_at = d.location
            return
        if not self.modern and len(args) != 2:
            self.notes.append(
                f"{d.location}: {self.server_name} ignores a save line without exactly two numbers"
            )
            return
        if len(args) % 2 or not args or not all(_STRTOLL.fullmatch(a) for a in args):
            raise conf_error(
                d.location,
                'save takes "<seconds> <changes>" pairs of whole numbers, or "" for none',
                "fix the line: the server refuses it too",
            )
        pairs = [(int(args[i]), int(args[i + 1])) for i in range(0, len(args), 2)]
        if any(seconds < 1 or changes < 0 for seconds, changes in pairs):
            raise conf_error(
                d.location,
                "save: seconds must be at least 1 and changes at least 0",
                "fix the line: the server refuses it too",
            )
        self.save = (self.save or []) + pairs
        self.save_at = d.location

    def _cobl(self, d: Directive) -> None:
        args = self._multi(d)
        if (not self.modern and len(args) != 4) or not args or len(args) % 4:
            raise conf_error(
                d.location,
                "client-output-buffer-limit takes <class> <hard> <soft> <soft-seconds>"
                + (" groups" if self.modern else " (one class per line on this version)"),
                "fix the line: the server refuses it too",
            )
        current = self.cobl if self.cobl is not None else _cobl_defaults()
        for i in range(0, len(args), 4):
            cls, hard, soft, secs = args[i : i + 4]
            name = _COBL_CLASS.get(cls.lower())
            try:
                if name is None:
                    raise ValueError(f"unknown client class {cls!r}: normal, replica or pubsub")
                if not _STRTOLL.fullmatch(secs) or int(secs) < 0:
                    raise ValueError("soft-seconds is a whole number, 0 or more")
                current[name] = (parse_size(hard), parse_size(soft), int(secs))
            except ValueError as exc:
                raise conf_error(
                    d.location,
                    f"client-output-buffer-limit: {exc}",
                    "fix the line: the server refuses it too",
                ) from None
        self.cobl = current
        self._set("client-output-buffer-limit", _cobl_text(current), d.location)

    # -- what is not a parameter --------------------------------------------------------------
    def _not_a_parameter(self, d: Directive) -> None:
        if d.name in _DEAD:
            self.notes.append(
                f"{d.location}: {d.name} is accepted and ignored by the server: not carried over"
            )
            return
        known = catalog().lookup(d.name)
        if known is not None:
            self.notes.append(
                f"{d.location}: {d.name} is not a parameter of {self.server_name}: not carried over "
                "(pass --server-version if the file is meant for another version)"
            )
            return
        guess = catalog().suggest(d.name)
        hint = f" (did you mean {guess}?)" if guess else ""
        # 7.0+ keeps unknown directives for modules and checks them once every module is loaded
        modules = " unless a module loaded with loadmodule defines it" if self.modern else ""
        self.notes.append(
            f"{d.location}: unknown directive {d.name}{hint}: not carried over; "
            f"{self.server_name} refuses to start with it{modules}"
        )

    def result(self, origin: str, reader: _Reader) -> ConfFile:
        if self.save is not None:
            self._set("save", " ".join(f"{s} {c}" for s, c in self.save), self.save_at or origin)
            if self.save_at is None:
                self.notes.append(
                    f"{origin}: no save line: {self.server_name} started with a config file has no save "
                    'points (save "")'
                )
        return ConfFile(
            values=self.values,
            locations=self.locations,
            notes=tuple(reader.notes + self.notes),
            renamed_commands=tuple(self.renamed),
            modules=tuple(self.modules),
            files=tuple(reader.files),
        )


def _rename(state: _State, d: Directive) -> None:
    if len(d.args) != 2:
        raise conf_error(d.location, "rename-command takes a command and its new name", "fix the line")
    disabled = d.args[1] == ""
    state.renamed.append(RenamedCommand(d.location, d.args[0].upper(), disabled))
    # The new name is a guard (whoever knows it may run the command): it never goes in a note.
    what = "disabled" if disabled else "renamed"
    state.notes.append(f"{d.location}: rename-command {d.args[0].upper()} ({what}) is not a config parameter")


def _user(state: _State, d: Directive) -> None:
    # ACL rules carry passwords: neither the user nor the rules go in the note.
    state.notes.append(f"{d.location}: an ACL user line is not a config parameter: not carried over")


def _loadmodule(state: _State, d: Directive) -> None:
    if not d.args:
        raise conf_error(d.location, "loadmodule takes the module's path", "fix the line")
    state.modules.append(d.location)
    state.notes.append(
        f"{d.location}: loadmodule {d.args[0]}: modules and their settings are not carried over"
    )


def _sentinel(state: _State, d: Directive) -> None:
    state.notes.append(
        f"{d.location}: a sentinel directive: not carried over (redispolicy manages data servers)"
    )


_DIRECTIVES = {"rename-command": _rename, "user": _user, "loadmodule": _loadmodule, "sentinel": _sentinel}


def _cobl_defaults() -> dict[str, tuple[int, int, int]]:
    default = catalog().params["client-output-buffer-limit"].default or ""
    words = default.split()
    return {
        _COBL_CLASS[words[i]]: (int(words[i + 1]), int(words[i + 2]), int(words[i + 3]))
        for i in range(0, len(words), 4)
    }


def _cobl_text(limits: dict[str, tuple[int, int, int]]) -> str:
    return " ".join(f"{cls} {h} {s} {t}" for cls in _COBL_ORDER for h, s, t in [limits[cls]])
