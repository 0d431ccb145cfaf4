"""Likely duplicates of customers, contacts and leads: keeping their match keys, checking
new and changed records, listing candidates, and scanning a whole tenant.

Every write of a matched record keeps its :class:`pycrm.core.matching.MatchKey` rows in
step (one per rule and key). A new or changed record is checked with one indexed query on
its keys (:func:`candidates`): a ``block`` rule refuses the save with
:class:`pycrm.ConflictError` naming the record it duplicates unless the caller passes
``allow_duplicates=True`` and holds the ``save_duplicate`` right; ``warn`` rules only list
the candidates (``uow.duplicates.check`` before saving, ``uow.duplicates.of`` after).
Blocking is held under concurrency: the keys checked are locked for the rest of the unit
of work (an advisory lock per key on PostgreSQL, all of a save's taken in one statement;
SQLite and the memory backend have one writer at a time), so two writers of the same new
company cannot both pass.

A save computes its records' keys once for the check and once to store them, and looks
the stored ones up in one query; only when that finds some are the records they belong to
read (are they live, what are they called). A create checked by a ``block`` rule stores its
keys with that lookup (one statement on PostgreSQL), before the record itself: the keys
stored after it are then the same and left be (keys that changed meanwhile are replaced).
"""

from __future__ import annotations

import builtins
import functools
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pydantic import BaseModel, ConfigDict

from pycrm.core.audit import Change
from pycrm.core.kinds import kind_of
from pycrm.core.matching import MATCHED_KINDS, NORMALISERS, MatchKey, MatchKeyColumns, MatchRule
from pycrm.core.records import Record
from pycrm.errors import ConflictError, ValidationError
from pycrm.schemas import checked_call
from pycrm.services.base import RecordService, _as_id
from pycrm.services.batching import chunks
from pycrm.services.lookups import require_configure
from pycrm.services.merging import merge
from pycrm.storage.base import Filter, Op, Query
from pycrm.storage.capabilities import each
from pycrm.storage.capabilities.locks import hold_all
from pycrm.storage.capabilities.matching import (
    LockedLookupAndAdd,
    MatchKeyIndex,
    find_and_add,
    match_keys,
)

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import Step, UnitOfWork

__all__ = ["Candidate", "Deduplicated", "DuplicateGroup", "DuplicateService"]

M = TypeVar("M", bound=Record)

#: The service of each matched kind on a unit of work.
SERVICES = {"customer": "customers", "contact": "contacts", "lead": "leads"}
#: The action that lets a user save a record a ``block`` rule refuses.
SAVE_DUPLICATE = "save_duplicate"
#: Keys of a create this small (rows) are stored with the lookup of its duplicates.
AHEAD_MOST = 32


class Candidate(BaseModel):
    """A record that is likely the same as the one checked: which, and by which rule."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    entity: str
    record_id: uuid.UUID
    name: str
    rule: str
    action: str
    key: str


class DuplicateGroup(BaseModel):
    """Records of one kind sharing a key of one rule."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    entity: str
    rule: str
    key: str
    record_ids: list[uuid.UUID]


class DuplicateService:
    """``uow.duplicates``: check values before saving, list a record's likely duplicates,
    scan a tenant for groups of them."""

    def __init__(self, step: Step) -> None:
        self._step = step

    @checked_call
    def check(self, entity: str, fields: Mapping[str, Any]) -> builtins.list[Candidate]:
        """The visible records of ``entity`` (customer, contact, lead) a record with these
        ``fields`` would likely duplicate, by rule; nothing is saved."""
        _check_entity(entity)
        with self._step(read_only=True) as uow:
            values = dict(fields)
            found = candidates(uow, entity, [(None, values)])
            return _visible(uow, entity, found.get(None, []))

    @checked_call
    def of(self, entity: str, record_id: uuid.UUID | str) -> builtins.list[Candidate]:
        """The visible likely duplicates of one stored record."""
        _check_entity(entity)
        with self._step(read_only=True) as uow:
            service = getattr(uow, SERVICES[entity])
            record = service._load(uow, _as_uuid(record_id))
            found = candidates(uow, entity, [(record.id, _values(record))])
            return _visible(uow, entity, found.get(record.id, []))

    @checked_call
    def scan(self, entity: str, *, limit: int = 1000) -> builtins.list[DuplicateGroup]:
        """Groups of live records of ``entity`` that share a key, the largest first (at
        most ``limit``, 1 to 10,000), counted in the database; every record of a group is
        one the acting user may see."""
        _check_entity(entity)
        if isinstance(limit, bool) or not 1 <= limit <= 10_000:
            raise ValidationError.single("limit", "must be between 1 and 10,000")
        with self._step(read_only=True) as uow:
            groups = duplicate_keys(uow, entity, limit)
            visible = _visible_ids(uow, entity, {i for g in groups for i in g.record_ids})
        found = []
        for group in groups:
            ids = [i for i in group.record_ids if i in visible]
            if len(ids) > 1:
                found.append(group.model_copy(update={"record_ids": ids}))
        return found

    @checked_call
    def rebuild(self, entity: str) -> int:
        """Recompute the match keys of every live record of ``entity`` (after the rules
        changed: a plugin added, a normaliser improved), a page at a time; how many
        records. Takes the right to change the configuration."""
        _check_entity(entity)
        with self._step() as uow:
            require_configure(uow)
            done = 0
            page: builtins.list[Record] = []
            for record in each(uow.tx, kind_of(entity), uow.everything, Query()):
                page.append(record)
                if len(page) == 1000:
                    store_keys(uow, entity, page, replace=True)
                    done, page = done + len(page), []
            if page:
                store_keys(uow, entity, page, replace=True)
            return done + len(page)


# -- keys -------------------------------------------------------------------------------
def rules_of(uow: UnitOfWork, entity: str) -> list[MatchRule]:
    return [rule for rule in uow.crm.match_rules if rule.entity == entity]


def region(uow: UnitOfWork) -> str:
    """The region phone numbers are read in: the tenant locale's (zh_CN → CN)."""
    return uow.config.locale.rpartition("_")[2] or "CN"


#: The ``(rule, key)`` pairs of one record: by rule (in the rules' order), each rule's keys
#: sorted.
Pairs = list[tuple[str, str]]


def pairs_of(
    uow: UnitOfWork,
    entity: str,
    records: Sequence[Record],
    rules: Sequence[MatchRule] | None = None,
) -> list[Pairs]:
    """The ``(rule, key)`` pairs of each record of ``entity`` (under ``rules``, by default
    every rule of the kind)."""
    rules = rules_of(uow, entity) if rules is None else rules
    if not rules:
        return [[] for _ in records]
    return list(map(pair_maker(tuple(rules), region(uow)), records))


def pair_maker(rules: tuple[MatchRule, ...], where: str) -> Callable[[Any], Pairs]:
    """The ``(rule, key)`` pairs of one record under ``rules``, phones read in ``where``:
    for each rule its sorted :meth:`~pycrm.MatchRule.keys` of the record's values, with
    each rule's fields and normaliser looked up once (bulk writes key every record), and
    kept for the next save under the same rules."""
    try:
        return _kept_pair_maker(rules, where)
    except TypeError:  # a rule whose normaliser cannot be hashed: made afresh each time
        return _pair_maker(rules, where)


def _pair_maker(rules: tuple[MatchRule, ...], where: str) -> Callable[[Any], Pairs]:
    plan: list[tuple[str, Callable[[str, str], str | None], tuple[tuple[str, bool], ...]]] = []
    for rule in rules:
        if type(rule) is not MatchRule:  # a subclass may key otherwise: ask it
            return lambda record: [
                (rule.key, key)
                for rule in rules
                for key in sorted(rule.keys(_values(record), where))
            ]
        fn = NORMALISERS[rule.normaliser] if isinstance(rule.normaliser, str) else rule.normaliser
        reads = tuple(
            (name[7:], True) if name.startswith("custom.") else (name, False)
            for name in rule.fields
            if name.startswith("custom.") or name in _FIELDS  # what _values holds
        )
        plan.append((rule.key, fn, reads))

    def pairs(record: Any) -> Pairs:
        custom = record.custom or {}
        found: Pairs = []
        for rule_key, normaliser, reads in plan:
            if len(reads) == 1:  # most rules read one field: one key at most, no sorting
                name, is_custom = reads[0]
                value = custom.get(name) if is_custom else getattr(record, name, None)
                # as normalise() reads it
                if isinstance(value, str) and value.strip() and (key := normaliser(value, where)):
                    found.append((rule_key, key[:200]))
                continue
            keys = set()
            for name, is_custom in reads:
                value = custom.get(name) if is_custom else getattr(record, name, None)
                if isinstance(value, str) and value.strip():
                    key = normaliser(value, where)
                    if key:
                        keys.add(key[:200])
            found += [(rule_key, key) for key in sorted(keys)]
        return found

    return pairs


_kept_pair_maker = functools.lru_cache(maxsize=256)(_pair_maker)


def keys_of(
    uow: UnitOfWork, entity: str, records: Sequence[Record], pairs: Sequence[Pairs] | None = None
) -> MatchKeyColumns:
    """The match keys of records of ``entity``, one row per rule and key (``pairs``: the
    records' :func:`pairs_of`, when already known)."""
    pairs = pairs_of(uow, entity, records) if pairs is None else pairs
    return MatchKeyColumns(
        uow.tenant,
        entity,
        (
            (key, rule, record.id)
            for record, found in zip(records, pairs, strict=True)
            for rule, key in found
        ),
    )


def index(uow: UnitOfWork, entity: str) -> MatchKeyIndex:
    """Where the tenant's match keys are kept (computed from the records without one)."""
    rules = tuple(rules_of(uow, entity))
    return match_keys(uow.tx, uow.everything, pair_maker(rules, region(uow)))


def store_keys(
    uow: UnitOfWork,
    entity: str,
    records: Sequence[Record],
    *,
    replace: bool = False,
    pairs: Sequence[Pairs] | None = None,
) -> None:
    """Keep the keys of new records (``replace``: of changed ones, instead of theirs);
    ``pairs``: the records' :func:`pairs_of`, when already known. New records whose keys
    the duplicate check stored already (:func:`refuse_blocked`) keep them, unless their keys
    changed since."""
    if not rules_of(uow, entity):
        return
    pairs = pairs_of(uow, entity, records) if pairs is None else pairs
    ahead = uow.match_keys_ahead
    if ahead:
        stored = [ahead.pop(r.id, None) for r in records]
        if not replace and any(found is not None for found in stored):
            rows = list(zip(records, pairs, stored, strict=True))
            new = [(r, p) for r, p, found in rows if found is None]
            changed = [(r, p) for r, p, found in rows if found is not None and p != found]
            for group, again in ((new, False), (changed, True)):
                if group:
                    _write_keys(uow, entity, [r for r, _ in group], [p for _, p in group], again)
            return
    _write_keys(uow, entity, records, pairs, replace)


def _write_keys(
    uow: UnitOfWork, entity: str, records: Sequence[Record], pairs: Sequence[Pairs], replace: bool
) -> None:
    keys = keys_of(uow, entity, records, pairs)
    if keys or replace:
        ids = [r.id for r in records] if replace else []
        index(uow, entity).replace_match_keys(uow.tenant, ids, keys)


def drop_keys(uow: UnitOfWork, entity: str, records: Iterable[uuid.UUID]) -> None:
    """Forget the keys of records (deleted or merged)."""
    index(uow, entity).replace_match_keys(uow.tenant, sorted(set(records), key=str), [])


def candidates(
    uow: UnitOfWork, entity: str, rows: Sequence[tuple[uuid.UUID | None, Mapping[str, Any]]]
) -> dict[uuid.UUID | None, list[Candidate]]:
    """For each ``(record id or None, field values)``, the stored live records sharing a
    key with it (itself and the other rows' records left out), by rule."""
    rules = {rule.key: rule for rule in rules_of(uow, entity)}
    if not rules:
        return {}
    where = region(uow)
    wanted: dict[str, set[tuple[uuid.UUID | None, str]]] = defaultdict(set)
    for rid, values in rows:
        for rule in rules.values():
            for key in rule.keys(values, where):
                wanted[key].add((rid, rule.key))
    if not wanted:
        return {}
    # One candidate per record and rule: a blocking rule is never hidden by a warning one.
    hits: dict[uuid.UUID | None, dict[tuple[uuid.UUID, str], str]] = defaultdict(dict)
    own = {rid for rid, _ in rows if rid is not None}
    for stored in index(uow, entity).find_match_keys(uow.tenant, entity, sorted(wanted)):
        if stored.record_id in own:
            continue
        for rid, rule_key in wanted[stored.key]:
            if rule_key == stored.rule:
                hits[rid].setdefault((stored.record_id, rule_key), stored.key)
    if not hits:
        return {}
    return _named(uow, entity, hits, rules)


def _named(
    uow: UnitOfWork,
    entity: str,
    hits: Mapping[uuid.UUID | None, Mapping[tuple[uuid.UUID, str], str]],
    rules: Mapping[str, MatchRule],
) -> dict[uuid.UUID | None, list[Candidate]]:
    ids = frozenset(other for found in hits.values() for other, _ in found)
    live = {r.id: r for r in uow.tx.find(kind_of(entity), uow.everything, Query(ids=ids))}
    result: dict[uuid.UUID | None, list[Candidate]] = {}
    for rid, found in hits.items():
        result[rid] = [
            Candidate(
                entity=entity,
                record_id=other,
                name=str(getattr(live[other], "name", "")),
                rule=rule,
                action=rules[rule].action,
                key=key,
            )
            for (other, rule), key in sorted(
                found.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])
            )
            if other in live
        ]
    return result


def refuse_blocked(
    uow: UnitOfWork,
    entity: str,
    records: Sequence[Record],
    *,
    allowed: bool,
    only: set[tuple[str, str]] | None = None,
    pairs: Sequence[Pairs] | None = None,
    new: bool = False,
) -> None:
    """Refuse records a ``block`` rule finds a live duplicate of (also among themselves),
    unless the caller allowed duplicates and may save them; ``only`` these (rule, key)
    pairs when given. ``pairs``: the records' :func:`pairs_of`, when already known.

    ``new``: the records are being created; when they are few and looked up, their keys
    are stored with the lookup, and :func:`store_keys` later leaves them be."""
    rules = rules_of(uow, entity)
    blocking = [r for r in rules if r.action == "block"]
    if not blocking:
        return
    every: Sequence[Pairs] | None = pairs  # under every rule: the keys to store
    if new and every is None and len(records) <= AHEAD_MOST:
        every = pairs_of(uow, entity, records, rules)
    if every is None:
        pairs = pairs_of(uow, entity, records, blocking)
    else:
        names = {rule.key for rule in blocking}
        pairs = [[(rule, key) for rule, key in found if rule in names] for found in every]
    # Two writers of the same new record take turns from here.
    prefix = f"pycrm-duplicate:{uow.tenant}:{entity}:"
    locks = sorted({f"{prefix}{rule}:{key}" for found in pairs for rule, key in found})
    added: Sequence[MatchKey] = ()
    # New records with few keys store them with their lookup.
    few = new and every is not None and any(pairs) and sum(map(len, every)) <= AHEAD_MOST
    if few and not allowed:
        added = keys_of(uow, entity, records, cast(Sequence[Pairs], every))
    # A store that takes the locks with the lookup saves a round trip (the lookup below
    # happens when the records are not refused among themselves first).
    with_lookup = bool(added) and callable(getattr(uow.tx, "lock_find_and_add_match_keys", None))
    if not with_lookup:
        hold_all(uow.tx, locks)
    if allowed:
        for record in records:
            uow.access.require(entity, SAVE_DUPLICATE, record, stored=False)
        return
    _refuse_within(uow, entity, records, pairs)
    found = _blocked_by(uow, entity, records, pairs, only, added, locks if with_lookup else None)
    if found:  # the records sharing a key are read only now: are they live, their names
        ids = frozenset(other for others in found.values() for other, _, _ in others)
        live = {r.id: r for r in uow.tx.find(kind_of(entity), uow.everything, Query(ids=ids))}
        for record in records:
            for other, rule, key in found.get(record.id, []):
                if other in live:
                    name = str(getattr(live[other], "name", ""))
                    candidate = Candidate(
                        entity=entity,
                        record_id=other,
                        name=name,
                        rule=rule,
                        action="block",
                        key=key,
                    )
                    raise _conflict(uow, entity, candidate)
    if added and every is not None:  # stored: store_keys leaves them be
        uow.match_keys_ahead.update({r.id: list(p) for r, p in zip(records, every, strict=True)})


def _blocked_by(
    uow: UnitOfWork,
    entity: str,
    records: Sequence[Record],
    pairs: Sequence[Pairs],
    only: set[tuple[str, str]] | None,
    added: Sequence[MatchKey] = (),
    locks: Sequence[str] | None = None,
) -> dict[uuid.UUID, list[tuple[uuid.UUID, str, str]]]:
    """For each record, the stored records sharing a key of a block rule with it (``only``
    these pairs, when given) as ``(record id, rule, key)``, by id then rule: one query,
    which stores the ``added`` keys too (of the new ``records``), and takes ``locks``
    first when given (the transaction's ``lock_find_and_add_match_keys``)."""
    wanted: dict[str, list[tuple[uuid.UUID, str]]] = defaultdict(list)
    for record, found in zip(records, pairs, strict=True):
        for rule, key in found:
            wanted[key].append((record.id, rule))
    if not wanted:
        return {}
    own = {r.id for r in records}
    # The keys each record shares with another, by rule.
    shared: dict[uuid.UUID, dict[tuple[uuid.UUID, str], set[str]]] = defaultdict(dict)
    matched = index(uow, entity)
    if locks is not None:
        locking = cast(LockedLookupAndAdd, uow.tx)
        looked_up = locking.lock_find_and_add_match_keys(
            locks, uow.tenant, entity, sorted(wanted), added
        )
    elif added:
        looked_up = find_and_add(matched, uow.tenant, entity, sorted(wanted), added)
    else:
        looked_up = matched.find_match_keys(uow.tenant, entity, sorted(wanted))
    for stored in looked_up:
        if stored.record_id in own:
            continue
        for rid, rule in wanted[stored.key]:
            if rule == stored.rule:
                shared[rid].setdefault((stored.record_id, rule), set()).add(stored.key)
    result: dict[uuid.UUID, list[tuple[uuid.UUID, str, str]]] = {}
    for rid, by_rule in shared.items():
        hits = [
            (other, rule, min(keys))
            for (other, rule), keys in by_rule.items()
            if only is None or any((rule, key) in only for key in keys)
        ]
        if hits:
            result[rid] = sorted(hits, key=lambda hit: (str(hit[0]), hit[1]))
    return result


def _conflict(uow: UnitOfWork, entity: str, candidate: Candidate) -> ConflictError:
    """The refusal, naming the record it duplicates when the user may see it (a record
    outside their reach is not named: its existence alone is said)."""
    what = candidate.rule.rpartition(".")[2]
    seen = candidate.record_id in _visible_ids(uow, entity, {candidate.record_id})
    which = f"{entity} {candidate.name!r} ({candidate.record_id})" if seen else f"another {entity}"
    return ConflictError(
        f"{which} already has this {what}: likely the same {entity} (rule {candidate.rule}); "
        "save anyway with allow_duplicates=True",
        fields=_rule_fields(uow, entity, candidate.rule),
    )


def _rule_fields(uow: UnitOfWork, entity: str, rule: str) -> tuple[str, ...]:
    """The fields the rule ``rule`` of ``entity`` reads."""
    return next((r.fields for r in rules_of(uow, entity) if r.key == rule), ())


def _refuse_within(
    uow: UnitOfWork, entity: str, records: Sequence[Record], pairs: Sequence[Pairs]
) -> None:
    """Refuse two of ``records`` sharing a key of a block rule (``pairs``: their keys under
    the block rules)."""
    if len(records) < 2:
        return
    seen: dict[tuple[str, str], Record] = {}
    for record, found in zip(records, pairs, strict=True):
        for rule, key in found:
            first = seen.setdefault((rule, key), record)
            if first is not record:
                raise ConflictError(
                    f"two new {entity} records are likely the same (rule {rule}): "
                    f"{getattr(first, 'name', first.id)!r} and "
                    f"{getattr(record, 'name', record.id)!r}",
                    fields=_rule_fields(uow, entity, rule),
                )


def duplicate_keys(uow: UnitOfWork, entity: str, limit: int) -> list[DuplicateGroup]:
    """Keys of ``entity`` shared by more than one record, the most shared first."""
    shared = index(uow, entity).shared_match_keys(uow.tenant, entity, limit)
    return [
        DuplicateGroup(entity=entity, rule=rule, key=key, record_ids=ids)
        for rule, key, ids in shared
    ]


# -- helpers ----------------------------------------------------------------------------
def _values(record: Record | Any) -> dict[str, Any]:
    return {name: getattr(record, name, None) for name in _FIELDS} | {"custom": record.custom}


#: The built-in fields match rules may read.
_FIELDS = ("name", "company", "phone", "mobile", "email", "website", "address", "title")


def _visible(uow: UnitOfWork, entity: str, found: Sequence[Candidate]) -> list[Candidate]:
    visible = _visible_ids(uow, entity, {c.record_id for c in found})
    return [c for c in found if c.record_id in visible]


def _visible_ids(uow: UnitOfWork, entity: str, ids: set[uuid.UUID]) -> set[uuid.UUID]:
    seen: set[uuid.UUID] = set()
    for chunk in chunks(sorted(ids, key=str), 500):
        query = Query(ids=frozenset(chunk))
        seen |= {r.id for r in uow.tx.find(kind_of(entity), uow.scope, query)}
    return seen


def _check_entity(entity: str) -> None:
    if entity not in MATCHED_KINDS:
        raise ValidationError.single("entity", f"give one of {list(MATCHED_KINDS)}")


def _as_uuid(value: uuid.UUID | str) -> uuid.UUID:
    return _as_id(value)


class Deduplicated(RecordService[M]):
    """What customers, contacts and leads share: their match keys kept in step with every
    write, ``block`` rules checked before a save, and merging."""

    def _before_insert(self, uow: UnitOfWork, records: Sequence[M]) -> None:
        super()._before_insert(uow, records)
        refuse_blocked(uow, self.entity.kind, records, allowed=uow.allow_duplicates, new=True)

    def _after_insert(self, uow: UnitOfWork, records: Sequence[M]) -> None:
        super()._after_insert(uow, records)
        store_keys(uow, self.entity.kind, records)

    def _before_write(self, uow: UnitOfWork, record: M, old: M | None) -> None:
        super()._before_write(uow, record, old)
        if old is None or _values(record) == _values(old):
            return
        kind = self.entity.kind
        pairs, before = pairs_of(uow, kind, [record, old])
        new = set(pairs) - set(before)
        if new:  # a duplicate it was saved as stays allowed; a new one is checked
            refuse_blocked(
                uow, kind, [record], allowed=uow.allow_duplicates, only=new, pairs=[pairs]
            )
        store_keys(uow, kind, [record], replace=True, pairs=[pairs])

    def _after_delete(self, uow: UnitOfWork, record: M) -> None:
        super()._after_delete(uow, record)
        drop_keys(uow, self.entity.kind, [record.id])

    @checked_call
    def merge(
        self,
        survivor_id: uuid.UUID | str,
        others: Sequence[uuid.UUID | str],
        *,
        prefer: Mapping[str, uuid.UUID | str] | None = None,
    ) -> M:
        """Merge ``others`` (likely duplicates) into ``survivor_id``, in one unit of work.

        Each field keeps the survivor's value, or takes the first of the others' when
        the survivor has none; ``prefer`` maps a field (or ``custom.<key>``) to the
        record whose value wins. Everything pointing at the others (contacts, deals,
        orders, payment plans, tickets, activities, sub-customers, shares...) moves to
        the survivor, each move audited; the others are deleted with ``merged_into``
        naming the survivor, whose history then shows theirs too. Takes ``edit`` on the
        survivor and ``delete`` on the others; emits ``<kind>.merged``.
        """
        with self._step() as uow:
            ids = [_as_id(o) for o in others]
            chosen = {name: _as_id(rid) for name, rid in (prefer or {}).items()}
            saved, _ = merge(self, uow, _as_id(survivor_id), ids, chosen)
            store_keys(uow, self.entity.kind, [saved], replace=True)
            return self._shown(uow, saved)  # type: ignore[arg-type]

    def history(self, record_id: uuid.UUID | str) -> builtins.list[Change]:
        """Every recorded change of one record, oldest first, with the history of the
        records merged into it."""
        found = super().history(record_id)
        with self._step(read_only=True) as uow:
            rid = _as_id(record_id)
            query = Query(filters=(Filter("merged_into", Op.EQ, rid),), deleted=True)
            merged = uow.tx.find(self.entity, uow.everything, query)
            for record in merged:
                found += uow.tx.changes(uow.everything, self.entity.kind, record.id)
        return sorted(found, key=lambda c: (c.at, str(c.record_id), c.version))

    def _after_restore(self, uow: UnitOfWork, record: M) -> None:
        super()._after_restore(uow, record)
        kind = self.entity.kind
        pairs = pairs_of(uow, kind, [record])
        refuse_blocked(uow, kind, [record], allowed=uow.allow_duplicates, pairs=pairs)
        store_keys(uow, kind, [record], pairs=pairs)
