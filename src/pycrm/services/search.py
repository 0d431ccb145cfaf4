"""One search box over customers, contacts, leads and deals: ``uow.search.find("联成")``.

A name (or a lead's company) is matched on its folded copy (full-width, case: see
:func:`pycrm.core.text.fold`), so part of a Chinese, Japanese or Latin name finds it; a
phone number on the duplicate rules' telephone keys (``13800138000`` finds
"+86 138-0013-8000"), an e-mail on their e-mail keys. Only records the acting user may see
are found, at most ``limit`` of each kind.
"""

from __future__ import annotations

import builtins
import re
import unicodedata
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from pycrm.core.kinds import kind_of
from pycrm.core.text import fold
from pycrm.errors import ValidationError
from pycrm.schemas import checked_call
from pycrm.services.batching import chunks
from pycrm.services.duplicates import index, region, rules_of
from pycrm.storage.base import AnyOf, Filter, Op, Query

if TYPE_CHECKING:
    from pycrm.services.unit_of_work import Step, UnitOfWork

__all__ = ["SEARCHED", "SearchHit", "SearchService"]

#: What each kind is searched by: its name fields.
SEARCHED: dict[str, tuple[str, ...]] = {
    "customer": ("name",),
    "contact": ("name",),
    "lead": ("name", "company"),
    "opportunity": ("name",),
}


class SearchHit(BaseModel):
    """One record found: its kind, id and name, and what matched (``name``, ``phone``,
    ``email``)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    kind: str
    record_id: uuid.UUID
    name: str
    matched: str


class SearchService:
    """``uow.search``: find records by part of a name, phone or e-mail."""

    def __init__(self, step: Step) -> None:
        self._step = step

    @checked_call
    def find(
        self,
        text: Annotated[str, Field(min_length=1, max_length=200)],
        *,
        kinds: Sequence[str] | None = None,
        limit: Annotated[int, Field(ge=1, le=200)] = 20,
    ) -> builtins.list[SearchHit]:
        """Customers, contacts, leads and deals whose name contains ``text``, or whose
        phone or e-mail does: at most ``limit`` of each kind, by kind then name."""
        wanted = list(kinds) if kinds is not None else list(SEARCHED)
        if unknown := [k for k in wanted if k not in SEARCHED]:
            raise ValidationError.single("kinds", f"{unknown}: give some of {list(SEARCHED)}")
        needle = text.strip()
        if not needle:
            raise ValidationError.single("text", "give something to look for")
        with self._step(read_only=True) as uow:
            hits: builtins.list[SearchHit] = []
            for kind in wanted:
                hits += _search(uow, kind, needle, limit)
        return hits


def _search(uow: UnitOfWork, kind: str, needle: str, limit: int) -> list[SearchHit]:
    cls = kind_of(kind)
    by_name = AnyOf(tuple(Filter(f, Op.CONTAINS, needle) for f in SEARCHED[kind]))
    query = Query(filters=(by_name,), order=(("name", False),), limit=limit)
    hits = {
        r.id: SearchHit(kind=kind, record_id=r.id, name=_name(r), matched="name")
        for r in uow.tx.find(cls, uow.scope, query)
    }
    for matched, ids in _by_keys(uow, kind, needle).items():
        fresh = sorted({i for i in ids if i not in hits}, key=str)
        for chunk in chunks(fresh, 500):
            query = Query(ids=frozenset(chunk), order=(("name", False),), limit=limit)
            for record in uow.tx.find(cls, uow.scope, query):
                hits[record.id] = SearchHit(
                    kind=kind, record_id=record.id, name=_name(record), matched=matched
                )
    return sorted(hits.values(), key=lambda h: (fold(h.name), str(h.record_id)))[:limit]


#: Key matches read before visibility is applied (the keys know no owner).
KEY_HITS = 10_000
_PHONE_LIKE = re.compile(r"[\d\s()+\-.]+")


def _by_keys(uow: UnitOfWork, kind: str, needle: str) -> dict[str, list[uuid.UUID]]:
    """Records whose phone or e-mail keys contain what was typed."""
    if kind not in ("customer", "contact", "lead"):
        return {}
    found: dict[str, list[uuid.UUID]] = {}
    rules = rules_of(uow, kind)
    store = index(uow, kind)
    text = unicodedata.normalize("NFKC", needle).strip()
    phones = [r.key for r in rules if r.normaliser == "phone"]
    fragment = _phone_fragment(text, region(uow))
    if fragment is not None and phones:
        found["phone"] = store.search_match_keys(uow.tenant, kind, phones, fragment, KEY_HITS)
    mails = [r.key for r in rules if r.normaliser == "email"]
    if mails and len(text) >= 3 and " " not in text:
        where = text.casefold()
        found["email"] = store.search_match_keys(uow.tenant, kind, mails, where, KEY_HITS)
    return found


def _phone_fragment(text: str, where: str) -> str | None:
    """What a phone key contains when ``text`` is (part of) a number: the whole number as
    stored (E.164 without its +) when it reads as one, else its digits without a trunk 0."""
    if not _PHONE_LIKE.fullmatch(text):
        return None
    digits = re.sub(r"\D", "", text)
    if len(digits) < 4:
        return None
    whole = _valid_number(text, where)
    if whole is not None:
        return whole[1:]
    return digits.lstrip("0") or None


def _valid_number(text: str, where: str) -> str | None:
    """``text`` as E.164 when it is a whole, valid number (a part of one is not)."""
    import phonenumbers

    try:
        number = phonenumbers.parse(text, where)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _name(record: Any) -> str:
    return str(getattr(record, "name", "") or getattr(record, "company", "") or "")
