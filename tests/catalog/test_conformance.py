"""The catalog against real servers: every name a server knows, and only those.

For each server of the matrix (REDISPOLICY_TEST_SERVERS, default: the redis-server on PATH)
``CONFIG GET *`` must return exactly ``catalog().for_server(product, version).names()``, and
an exact-name ``CONFIG GET`` must answer exactly the names ``exists()`` says it knows (that
covers hidden parameters, which ``*`` leaves out, and names removed in this version).
"""

from __future__ import annotations

from typing import Any

import pytest

from redispolicy.catalog.params import ServerCatalog, catalog, identify, parse_version

pytestmark = pytest.mark.redis


def _server_view(server: Any) -> tuple[ServerCatalog, Any]:
    client = server.client()
    product, version = identify(client.info("server"))
    assert product == server.product, f"{server.name}: INFO says {product}, the fixture says {server.product}"
    # Redis < 7.0 compiles the tls-* parameters in only with BUILD_TLS=yes; an exact-name
    # CONFIG GET of a registered parameter always answers, so it tells how the server was built.
    tls = bool(client.config_get("tls-port"))
    view = catalog().for_server(product, version, tls=tls)
    assert view.covered, f"{server.name}: {product} {version} is outside the catalog's versions"
    return view, client


def _names_message(server: Any, view: ServerCatalog, extra: set[str], missing: set[str], what: str) -> str:
    lines = [
        f"{server.name} ({view.product} {view.version}, tls={view.tls}): {what} differs from the catalog"
    ]
    if extra:
        lines.append(
            f"  the server has {len(extra)} names the catalog does not know for this version: "
            + ", ".join(sorted(extra))
        )
    if missing:
        lines.append(
            f"  {len(missing)} catalog names are missing from the server: " + ", ".join(sorted(missing))
        )
    lines.append(
        "  record the difference in tools/catalog-overrides.yaml (with evidence) and rerun "
        "tools/gen_catalog.py"
    )
    return "\n".join(lines)


def test_config_get_star_equals_catalog_names(matrix_server: Any) -> None:
    view, client = _server_view(matrix_server)
    live = set(client.config_get("*"))
    expected = view.names()
    extra, missing = live - expected, expected - live
    assert not extra and not missing, _names_message(matrix_server, view, extra, missing, "CONFIG GET *")


def test_exact_names_equal_catalog_existence(matrix_server: Any) -> None:
    view, client = _server_view(matrix_server)
    cat = catalog()
    candidates = sorted(set(cat.params) | set(cat.aliases))
    pipe = client.pipeline(transaction=False)
    for name in candidates:
        pipe.config_get(name)  # one name per call: Redis 6.x takes exactly one argument
    answered = {name for name, reply in zip(candidates, pipe.execute(), strict=True) if reply}
    expected = {name for name in candidates if view.exists(name)}
    extra, missing = answered - expected, expected - answered
    assert not extra and not missing, _names_message(
        matrix_server, view, extra, missing, "exact-name CONFIG GET of every catalog name"
    )
    # and the hidden ones are really hidden: asked for by name, left out of '*'
    assert view.hidden_names() <= answered
    assert not view.hidden_names() & set(client.config_get("*"))


def test_aliases_resolve_to_the_servers_primary_name(matrix_server: Any) -> None:
    """An alias and its primary read the same setting on the server."""
    view, client = _server_view(matrix_server)
    live = client.config_get("*")
    for name in sorted(view.names()):
        look = view.lookup(name)
        assert look is not None, name
        if look.via_alias is not None and look.canonical in live:
            assert live[name] == live[look.canonical], (
                f"{matrix_server.name}: {name}={live[name]!r} but {look.canonical}={live[look.canonical]!r}"
            )


def test_version_is_parsed_from_info(matrix_server: Any) -> None:
    view, _ = _server_view(matrix_server)
    assert view.major_minor == parse_version(matrix_server.version)
