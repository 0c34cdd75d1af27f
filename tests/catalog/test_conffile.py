"""The redis.conf reader (catalog/conffile.py): every quoting, unit, repeat and include rule of
src/config.c and sdssplitargs, and hostile files. The live comparison with CONFIG GET is in
tests/test_init_conf_live.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from redispolicy.catalog.conffile import MAX_FILE_BYTES, ConfFile, read_conf, split_args
from redispolicy.catalog.params import catalog
from redispolicy.commands.init_conf import parse_server_version, source_from_conf
from redispolicy.errors import RedispolicyError, UsageError
from redispolicy.secret import Secret

DEFAULT_COBL = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"


def conf(tmp_path: Path, text: str, server: str = "redis-7.0", name: str = "redis.conf") -> ConfFile:
    path = tmp_path / name
    path.write_text(text)
    product, version = parse_server_version(server)
    return read_conf(path, catalog().for_server(product, version), start_dir=tmp_path)


def refused(tmp_path: Path, text: str | bytes, server: str = "redis-7.0") -> str:
    path = tmp_path / "redis.conf"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    product, version = parse_server_version(server)
    with pytest.raises(RedispolicyError) as exc:
        read_conf(path, catalog().for_server(product, version), start_dir=tmp_path)
    assert exc.value.hint, "every error ends with the next step"
    return str(exc.value)


# -- sdssplitargs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "args"),
    [
        ("maxmemory 1gb", ["maxmemory", "1gb"]),
        ("  a \t b  ", ["a", "b"]),
        ('a "b c" d', ["a", "b c", "d"]),
        (r'a "x\ny\tz\"q\\"', ["a", 'x\ny\tz"q\\']),
        (r'a "\x41\x7a"', ["a", "Az"]),
        (r'a "\xZZ"', ["a", "xZZ"]),  # not two hex digits: a plain escape of 'x'
        (r"a 'it\'s \n'", ["a", "it's \\n"]),  # single quotes: only \' is an escape
        ('a ""', ["a", ""]),
        ("a ''", ["a", ""]),
        ('a"b c"', ["ab c"]),  # a quote may open inside an argument
        ("a\vb c", ["a\vb", "c"]),  # \v separates nothing outside quotes ...
        ("a \vb", ["a", "b"]),  # ... but is skipped between arguments (isspace)
        ("back\\slash", ["back\\slash"]),
        ("", []),
    ],
)
def test_split_args_follows_sdssplitargs(line: str, args: list[str]) -> None:
    assert split_args(line) == args


@pytest.mark.parametrize("line", ['a "open', "a 'open", 'a "x"y', "a 'x'y", 'a "ends in backslash\\'])
def test_split_args_refuses_unbalanced_quotes(line: str) -> None:
    assert split_args(line) is None


# -- lines, names, values ------------------------------------------------------------------------


def test_comments_blank_lines_case_units_and_booleans(tmp_path: Path) -> None:
    r = conf(
        tmp_path,
        "# a comment\n\n   # an indented comment\r\nMAXMEMORY 1GB\r\nAppendOnly YES\n"
        "maxmemory-policy ALLKEYS-LRU\n\tproto-max-bulk-len 1mb\nclient-query-buffer-limit 1g\n"
        "active-defrag-ignore-bytes 100k\n",
    )
    assert r.values == {
        "maxmemory": "1073741824",
        "appendonly": "yes",
        "maxmemory-policy": "allkeys-lru",
        "proto-max-bulk-len": str(1024**2),
        "client-query-buffer-limit": str(1000**3),
        "active-defrag-ignore-bytes": "100000",
    }
    assert r.locations["maxmemory"] == f"{tmp_path / 'redis.conf'}:4"
    assert r.notes == ()


@pytest.mark.parametrize("size", ["1k", "1kb", "1m", "1mb", "1g", "1gb", "1KB", "1Gb"])
def test_memory_units_become_bytes(tmp_path: Path, size: str) -> None:
    mult = {"k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}
    assert conf(tmp_path, f"maxmemory {size}\n").values["maxmemory"] == str(mult[size[1:].lower()])


def test_a_hash_inside_a_line_is_an_argument_not_a_comment(tmp_path: Path) -> None:
    message = refused(tmp_path, "port 6379\nmaxmemory 1gb # one gigabyte\n")
    assert "redis.conf:2: maxmemory takes one value, this line gives 4" in message


def test_last_line_wins_and_its_line_is_the_location(tmp_path: Path) -> None:
    r = conf(tmp_path, "maxmemory 1mb\nmaxmemory 2mb\n")
    assert r.values["maxmemory"] == str(2 * 1024**2)
    assert r.locations["maxmemory"].endswith("redis.conf:2")


def test_quoted_values(tmp_path: Path) -> None:
    r = conf(
        tmp_path, 'proc-title-template "{title} {listen-addr}"\nnotify-keyspace-events ""\nlogfile \'\'\n'
    )
    assert r.values["proc-title-template"] == "{title} {listen-addr}"
    assert r.values["notify-keyspace-events"] == ""
    assert r.values["logfile"] == ""


def test_multi_argument_parameters_and_one_quoted_argument(tmp_path: Path) -> None:
    r = conf(tmp_path, 'bind 127.0.0.1 -::1\noom-score-adj-values "0 100 900"\n')
    assert r.values["bind"] == "127.0.0.1 -::1"
    assert r.values["oom-score-adj-values"] == "0 100 900"


def test_aliases_resolve_to_the_servers_name(tmp_path: Path) -> None:
    r = conf(tmp_path, "slaveof 10.0.0.1 6380\nslave-read-only no\n")
    assert r.values["replicaof"] == "10.0.0.1 6380"
    assert r.values["replica-read-only"] == "no"
    assert conf(tmp_path, "replicaof no one\n").values["replicaof"] == ""


def test_a_value_the_catalog_does_not_accept_is_kept_with_a_note(tmp_path: Path) -> None:
    r = conf(tmp_path, "maxmemory-policy allkeys-sometimes\n")
    assert r.values["maxmemory-policy"] == "allkeys-sometimes"
    assert len(r.notes) == 1 and "redis.conf:1: maxmemory-policy" in r.notes[0]


# -- save and client-output-buffer-limit ---------------------------------------------------------


def test_repeated_save_lines_accumulate_and_replace_the_defaults(tmp_path: Path) -> None:
    r = conf(tmp_path, "save 900 1\nsave 300 10\n")
    assert r.values["save"] == "900 1 300 10"
    assert r.locations["save"].endswith(":2")


def test_save_empty_resets_and_later_lines_append(tmp_path: Path) -> None:
    assert conf(tmp_path, 'save 900 1\nsave ""\n').values["save"] == ""
    assert conf(tmp_path, "save 900 1\nsave ''\nsave 60 5\n").values["save"] == "60 5"


def test_one_quoted_save_argument_is_split_on_7_and_ignored_on_6(tmp_path: Path) -> None:
    assert conf(tmp_path, 'save "900 1 300 10"\n').values["save"] == "900 1 300 10"
    assert conf(tmp_path, "save 900 1 300 10\n").values["save"] == "900 1 300 10"
    r6 = conf(tmp_path, 'save "900 1 300 10"\nsave 60 5\n', "redis-6.0")
    assert r6.values["save"] == "60 5"
    assert any("redis.conf:1" in n and "ignores" in n for n in r6.notes)


def test_no_save_line_is_the_default_on_7_and_none_on_6(tmp_path: Path) -> None:
    assert "save" not in conf(tmp_path, "port 7000\n").values
    r6 = conf(tmp_path, "port 7000\n", "redis-6.0")
    assert r6.values["save"] == ""
    assert any("no save line" in n for n in r6.notes)


@pytest.mark.parametrize("line", ["save 0 1", "save 900", "save 900 -1", "save 900 x", 'save "" 900 1'])
def test_invalid_save_lines_are_refused(tmp_path: Path, line: str) -> None:
    assert "redis.conf:1: save" in refused(tmp_path, line + "\n")


def test_client_output_buffer_limit_lines_merge_into_one_value(tmp_path: Path) -> None:
    r = conf(
        tmp_path,
        "client-output-buffer-limit replica 512mb 128mb 120\nclient-output-buffer-limit pubsub 0 0 0\n",
    )
    assert r.values["client-output-buffer-limit"] == (
        f"normal 0 0 0 slave {512 * 1024**2} {128 * 1024**2} 120 pubsub 0 0 0"
    )
    assert r.locations["client-output-buffer-limit"].endswith(":2")
    untouched = conf(tmp_path, "client-output-buffer-limit normal 0 0 0\n")
    assert untouched.values["client-output-buffer-limit"] == DEFAULT_COBL


def test_client_output_buffer_limit_several_classes_on_one_line(tmp_path: Path) -> None:
    line = "client-output-buffer-limit normal 1mb 0 0 SLAVE 1gb 1gb 0\n"
    assert conf(tmp_path, line).values["client-output-buffer-limit"] == (
        f"normal {1024**2} 0 0 slave {1024**3} {1024**3} 0 pubsub 33554432 8388608 60"
    )
    assert "one class per line" in refused(tmp_path, line, "redis-6.0")


@pytest.mark.parametrize(
    "line",
    ["normal 0 0", "master 0 0 0", "normal 1x 0 0", "normal 0 0 -1", "bogus 0 0 0"],
)
def test_invalid_client_output_buffer_limit_is_refused(tmp_path: Path, line: str) -> None:
    assert "redis.conf:1: client-output-buffer-limit" in refused(
        tmp_path, f"client-output-buffer-limit {line}\n"
    )


# -- include ------------------------------------------------------------------------------------


def test_relative_include_is_opened_from_the_start_directory_not_the_including_file(tmp_path: Path) -> None:
    sub = tmp_path / "etc"
    sub.mkdir()
    (tmp_path / "extra.conf").write_text("maxmemory 2mb\n")
    (sub / "extra.conf").write_text("maxmemory 3mb\n")  # next to the including file: not this one
    main = sub / "redis.conf"
    main.write_text("maxmemory 1mb\ninclude extra.conf\n")
    r = read_conf(main, catalog().for_server("redis", "7.0"), start_dir=tmp_path)
    assert r.values["maxmemory"] == str(2 * 1024**2)
    assert r.locations["maxmemory"] == f"{tmp_path / 'extra.conf'}:1"
    assert r.files == (str(main), str(tmp_path / "extra.conf"))


def test_include_follows_an_earlier_dir_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "more.conf").write_text("hz 20\n")
    r = conf(tmp_path, f"dir {data}\ninclude more.conf\n")
    assert r.values["hz"] == "20"
    assert r.values["dir"] == str(data)


def test_absolute_include_and_later_lines_override_it(tmp_path: Path) -> None:
    inc = tmp_path / "inc.conf"
    inc.write_text("hz 30\nmaxmemory 5mb\n")
    r = conf(tmp_path, f"include {inc}\nhz 40\n")
    assert (r.values["hz"], r.values["maxmemory"]) == ("40", str(5 * 1024**2))


def test_include_glob_reads_matches_in_sorted_order_and_may_match_nothing(tmp_path: Path) -> None:
    d = tmp_path / "conf.d"
    d.mkdir()
    (d / "b.conf").write_text("hz 2\n")
    (d / "a.conf").write_text("hz 1\nmaxmemory 1mb\n")
    r = conf(tmp_path, "include conf.d/*.conf\ninclude empty.d/*.conf\n")
    assert r.values["hz"] == "2"
    assert r.locations["hz"] == f"{d / 'b.conf'}:1"
    assert any("matches no file" in n for n in r.notes)


def test_include_glob_is_a_plain_name_on_redis_6(tmp_path: Path) -> None:
    assert "cannot read" in refused(tmp_path, "include conf.d/*.conf\n", "redis-6.0")


def test_missing_include_is_refused_with_its_line(tmp_path: Path) -> None:
    message = refused(tmp_path, "port 1\ninclude missing.conf\n")
    assert f"redis.conf:2: cannot read {tmp_path / 'missing.conf'}" in message


def test_include_loop_is_refused(tmp_path: Path) -> None:
    (tmp_path / "b.conf").write_text("include redis.conf\n")
    message = refused(tmp_path, "include b.conf\n")
    assert "include loop" in message and "b.conf:1" in message
    assert "include loop" in refused(tmp_path, "include redis.conf\n")


def test_include_takes_one_file(tmp_path: Path) -> None:
    assert "exactly one file" in refused(tmp_path, "include a.conf b.conf\n")


# -- directives that are not parameters -----------------------------------------------------------


def test_rename_command_is_recorded_without_its_new_name(tmp_path: Path) -> None:
    r = conf(tmp_path, 'rename-command CONFIG hidden-config-9f2\nrename-command flushall ""\n')
    assert [(c.command, c.disabled) for c in r.renamed_commands] == [("CONFIG", False), ("FLUSHALL", True)]
    assert r.values == {}
    assert all("hidden-config-9f2" not in n for n in r.notes)
    assert any("redis.conf:1: rename-command CONFIG (renamed)" in n for n in r.notes)


def test_loadmodule_user_and_sentinel_are_notes(tmp_path: Path) -> None:
    r = conf(tmp_path, "loadmodule /opt/m.so a b\nuser alice on >pa55word ~* +@all\nmymodule.opt 5\n")
    assert r.modules == (f"{tmp_path / 'redis.conf'}:1",)
    assert not any("pa55word" in n or "alice" in n for n in r.notes)
    assert any("redis.conf:3: unknown directive mymodule.opt" in n and "module" in n for n in r.notes)


def test_unknown_directive_is_a_note_with_its_line_and_a_suggestion(tmp_path: Path) -> None:
    r = conf(tmp_path, "port 7000\nmaxmemroy 1gb\n")
    assert r.values == {"port": "7000"}
    assert len(r.notes) == 1
    assert "redis.conf:2: unknown directive maxmemroy (did you mean maxmemory?)" in r.notes[0]


def test_dead_directives_are_ignored(tmp_path: Path) -> None:
    r = conf(tmp_path, "list-max-ziplist-entries 512\n", "redis-8.0")
    assert r.values == {} and "ignored" in r.notes[0]


def test_a_name_of_another_version_is_carried_over_under_this_servers_name(tmp_path: Path) -> None:
    r = conf(tmp_path, "hash-max-listpack-entries 64\nsave 60 1\n", "redis-6.0")
    assert r.values == {"hash-max-ziplist-entries": "64", "save": "60 1"}
    assert "refuse" in r.notes[0]


def test_valkey_names(tmp_path: Path) -> None:
    r = conf(tmp_path, "masterauth pw\nprimaryuser u\nreplica-priority 5\n", "valkey-8.1", "valkey.conf")
    assert set(r.values) == {"primaryauth", "primaryuser", "replica-priority"}
    assert r.notes == ()


def test_relative_dir_without_a_start_directory_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / "redis.conf"
    path.write_text("dir ./\nhz 5\n")
    r = read_conf(path, catalog().for_server("redis", "7.0"))
    assert "dir" not in r.values and "relative" in r.notes[0]
    assert conf(tmp_path, "dir ./data/\n").values["dir"] == str(tmp_path / "data")


# -- secrets ------------------------------------------------------------------------------------------


def test_secrets_are_wrapped_and_never_in_messages(tmp_path: Path) -> None:
    r = conf(tmp_path, 'requirepass "s3cr3t pass"\nmasterauth s3cr3t\n')
    assert r.values["requirepass"] == Secret("s3cr3t pass")
    assert isinstance(r.values["masterauth"], Secret)
    assert "s3cr3t" not in repr(r)
    message = refused(tmp_path, "requirepass s3cr3t extra\n")
    assert "s3cr3t" not in message
    message = refused(tmp_path, 'requirepass "s3cr3t\n')
    assert "s3cr3t" not in message and "redis.conf:1: unbalanced quotes" in message


# -- hostile files ------------------------------------------------------------------------------------


def test_a_ten_megabyte_line_is_refused_quickly(tmp_path: Path) -> None:
    message = refused(tmp_path, "requirepass " + "x" * (10 * 1024 * 1024) + "\n")
    assert "larger than" in message
    assert MAX_FILE_BYTES < 10 * 1024 * 1024


def test_a_binary_file_is_refused(tmp_path: Path) -> None:
    assert "binary file" in refused(tmp_path, b"port 1\n\x7fELF\x02\x01\x00\x00garbage")


def test_a_directive_that_is_not_utf8_is_refused_but_a_comment_may_be(tmp_path: Path) -> None:
    assert "redis.conf:2: not UTF-8" in refused(tmp_path, b"# caf\xe9\nlogfile caf\xe9\n")
    assert "redis.conf:1: a \\xHH escape" in refused(tmp_path, 'logfile "\\xe9"\n')
    assert conf(tmp_path, 'logfile "caf\\xc3\\xa9"\n').values["logfile"] == "café"
    assert "\\x00" in refused(tmp_path, 'logfile "a\\x00b"\n')


def test_an_unreadable_file_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(RedispolicyError, match="cannot read"):
        read_conf(tmp_path / "nope.conf", catalog().for_server("redis", "7.0"))
    with pytest.raises(RedispolicyError, match="cannot read"):
        read_conf(tmp_path, catalog().for_server("redis", "7.0"))  # a directory


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_a_file_without_permission_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "redis.conf"
    path.write_text("port 1\n")
    path.chmod(0)
    with pytest.raises(RedispolicyError, match="Permission denied"):
        read_conf(path, catalog().for_server("redis", "7.0"))


# -- source_from_conf --------------------------------------------------------------------------------


def test_source_from_conf_names_its_version_and_guesses_valkey_from_the_header(tmp_path: Path) -> None:
    v = tmp_path / "valkey.conf"
    v.write_text("# Valkey configuration file example.\nmaxmemory 1mb\n")
    source = source_from_conf(v, None)
    assert (source.product, source.version) == ("valkey", catalog().versions_known["valkey"][-1])
    assert source.values == {"maxmemory": str(1024**2)}
    assert source.origin == str(v) and "--server-version" in source.notes[0]
    r = tmp_path / "redis.conf"
    r.write_text("# Redis configuration file example.\nhz 5\n")
    assert source_from_conf(r, None).product == "redis"
    pinned = source_from_conf(r, "redis-6.0", start_dir=tmp_path)
    assert (pinned.product, pinned.version, pinned.values["save"]) == ("redis", "6.0", "")


@pytest.mark.parametrize("text", ["redis", "7.0", "memcached-1.6", "redis-7", "redis 7.0"])
def test_a_malformed_server_version_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match=r"PRODUCT-X\.Y"):
        parse_server_version(text)
