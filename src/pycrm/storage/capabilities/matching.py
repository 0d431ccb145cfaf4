"""The match-key capability: the normalised keys of customers, contacts and leads, kept
in an index so likely duplicates are found by lookup (:mod:`pycrm.core.matching`).

A transaction with :class:`MatchKeyIndex` keeps the keys (the SQL backend: the
``pycrm_match_keys`` table, indexed by tenant, kind and key): a write replaces a record's
keys, a check looks its keys up, a scan groups them in the database. Any other gets
:class:`ScanningMatchKeys`, which keeps nothing and computes the keys of every live
record of the kind when asked: the same answers, at the cost of reading them all. One
with :class:`MatchKeyLookupAndAdd` too stores the keys of a new record with the lookup of
its duplicates (one statement on PostgreSQL instead of two).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from pycrm.core.kinds import kind_of
from pycrm.core.matching import MatchKey
from pycrm.storage.base import Scope, Transaction
from pycrm.storage.capabilities import capability, each

__all__ = [
    "LockedLookupAndAdd",
    "MatchKeyIndex",
    "MatchKeyLookupAndAdd",
    "ScanningMatchKeys",
    "find_and_add",
    "match_keys",
]

#: The keys a record gives: (record) -> [(rule, key)].
KeysOf = Callable[[object], Iterable[tuple[str, str]]]


class MatchKeyIndex(Protocol):
    """A transaction that keeps records' match keys."""

    def replace_match_keys(
        self, tenant: str, record_ids: Sequence[uuid.UUID], keys: Sequence[MatchKey]
    ) -> None:
        """Forget every key of ``record_ids`` and store ``keys`` (of those records)."""
        ...

    def find_match_keys(self, tenant: str, entity: str, keys: Sequence[str]) -> list[MatchKey]:
        """The stored keys of ``entity`` records equal to one of ``keys`` (any rule)."""
        ...

    def shared_match_keys(
        self, tenant: str, entity: str, limit: int
    ) -> list[tuple[str, str, list[uuid.UUID]]]:
        """``(rule, key, record ids)`` of keys more than one record has, the most shared
        first, at most ``limit``."""
        ...

    def search_match_keys(
        self, tenant: str, entity: str, rules: Sequence[str], fragment: str, limit: int
    ) -> list[uuid.UUID]:
        """Records of ``entity`` with a key of one of ``rules`` containing ``fragment``
        (a phone's digits, part of an e-mail), at most ``limit``."""
        ...


class MatchKeyLookupAndAdd(Protocol):
    """A transaction that looks keys up and stores new ones in one go (one statement)."""

    def find_and_add_match_keys(
        self, tenant: str, entity: str, keys: Sequence[str], added: Sequence[MatchKey]
    ) -> list[MatchKey]:
        """:meth:`MatchKeyIndex.find_match_keys`, then ``added`` (keys of records not yet
        stored, none among those found) stored."""
        ...


class LockedLookupAndAdd(Protocol):
    """A transaction that takes named locks, then looks keys up and stores new ones, in
    one round trip (one statement on PostgreSQL)."""

    def lock_find_and_add_match_keys(
        self,
        locks: Sequence[str],
        tenant: str,
        entity: str,
        keys: Sequence[str],
        added: Sequence[MatchKey],
    ) -> list[MatchKey]:
        """Take every lock of ``locks`` (as :func:`pycrm.storage.capabilities.locks.
        hold_all` takes them), then :meth:`MatchKeyLookupAndAdd.find_and_add_match_keys`:
        the lookup sees every key a writer committed while this one waited for a lock. It
        may also return stored keys equal to one of ``added`` that ``keys`` leaves out (the
        caller keeps those it looked for)."""
        ...


def find_and_add(
    index: MatchKeyIndex,
    tenant: str,
    entity: str,
    keys: Sequence[str],
    added: Sequence[MatchKey],
) -> list[MatchKey]:
    """The stored keys of ``entity`` equal to one of ``keys``, then ``added`` stored (the
    keys of new records): at once where the index (a transaction) can, else a lookup then
    a write."""
    both = getattr(index, "find_and_add_match_keys", None)
    if callable(both):
        found: list[MatchKey] = both(tenant, entity, keys, added)
        return found
    found = index.find_match_keys(tenant, entity, keys)
    index.replace_match_keys(tenant, [], added)
    return found


class ScanningMatchKeys:
    """:class:`MatchKeyIndex` without an index: keys are computed from the records."""

    def __init__(self, tx: Transaction, scope: Scope, keys_of: KeysOf) -> None:
        self.tx, self.scope, self.keys_of = tx, scope, keys_of

    def replace_match_keys(
        self, tenant: str, record_ids: Sequence[uuid.UUID], keys: Sequence[MatchKey]
    ) -> None:
        """Nothing to keep: keys are computed when asked."""

    def find_match_keys(self, tenant: str, entity: str, keys: Sequence[str]) -> list[MatchKey]:
        """The keys equal to one of ``keys``, computed from every live record."""
        wanted = set(keys)
        return [k for k in self._all(tenant, entity) if k.key in wanted]

    def shared_match_keys(
        self, tenant: str, entity: str, limit: int
    ) -> list[tuple[str, str, list[uuid.UUID]]]:
        """Keys shared by several records, computed from every live record."""
        groups: dict[tuple[str, str], set[uuid.UUID]] = defaultdict(set)
        for key in self._all(tenant, entity):
            groups[(key.rule, key.key)].add(key.record_id)
        shared = [(r, k, sorted(ids, key=str)) for (r, k), ids in groups.items() if len(ids) > 1]
        return sorted(shared, key=lambda g: (-len(g[2]), g[0], g[1]))[:limit]

    def search_match_keys(
        self, tenant: str, entity: str, rules: Sequence[str], fragment: str, limit: int
    ) -> list[uuid.UUID]:
        """Records whose keys contain ``fragment``, computed from every live record."""
        found = dict.fromkeys(
            k.record_id for k in self._all(tenant, entity) if k.rule in rules and fragment in k.key
        )
        return list(found)[:limit]

    def _all(self, tenant: str, entity: str) -> Iterable[MatchKey]:
        for record in each(self.tx, kind_of(entity), self.scope):
            for rule, key in self.keys_of(record):
                yield MatchKey(
                    tenant=tenant,
                    entity=entity,
                    record_id=record.id,
                    rule=rule,
                    key=key,
                )


def match_keys(tx: Transaction, scope: Scope, keys_of: KeysOf) -> MatchKeyIndex:
    """``tx`` itself when it keeps match keys, else a :class:`ScanningMatchKeys`."""
    return capability(tx, MatchKeyIndex, lambda t: ScanningMatchKeys(t, scope, keys_of))
