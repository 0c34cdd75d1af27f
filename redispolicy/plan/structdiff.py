"""The one door to DeepDiff: which entries of two flat mappings differ.

plan and compare both ask the same question of normalized values (sensitive ones only as
digests, so the diff's own objects hold no secret); DeepDiff answers it, and its report
shapes and import cost stay here.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

_KINDS = ("values_changed", "type_changes", "dictionary_item_added", "dictionary_item_removed")


def differing_keys(a: Mapping[str, Hashable], b: Mapping[str, Hashable]) -> set[str]:
    """The keys whose value differs between ``a`` and ``b``, or that only one of them has."""
    from deepdiff import DeepDiff  # imported here: validate's cold start does not need it

    # The tree view gives each difference's path as a list of keys: no parsing of "root['...']",
    # which a key holding a quote or a bracket would defeat.
    diff = DeepDiff(dict(a), dict(b), view="tree")
    out: set[str] = set()
    for kind in _KINDS:
        for level in diff.get(kind, ()):
            out.add(str(level.path(output_format="list")[0]))
    return out


__all__ = ["differing_keys"]
