"""Likely duplicates: the rules that say when two customers, contacts or leads are probably
the same, and the keys they compare.

A :class:`MatchRule` reads some fields of a record and normalises each value into a key
("北京聯成互動軟件技術有限公司 " and "北京联成互动软件技术" give the same company-name key;
"+86 138 0013 8000" and "13800138000" the same phone key). Records that share a key of a
rule are likely duplicates. Keys are stored with the record (``pycrm_match_keys``) and
looked up by index, so checking a new record costs one query however many records there
are. A rule either warns (the candidates are listed) or blocks the save
(:class:`pycrm.ConflictError` naming the record it duplicates).

The built-in normalisers (:data:`NORMALISERS`):

- ``company_name``: full-width to half-width, traditional to simplified Chinese, case,
  spaces and punctuation ignored, and company suffixes (有限公司, 股份有限公司, 集团,
  Co., Ltd., Inc., 株式会社...) dropped;
- ``person_name``: the same without the suffixes;
- ``phone``: parsed as a telephone number (national formats of the tenant's region, or
  international with ``+``), compared as E.164; digits alone when it does not parse;
- ``email``: trimmed and case-folded;
- ``domain``: a website's host without ``www.``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Literal, overload
from urllib.parse import urlsplit

from attrs import field, frozen

from pycrm.errors import ConfigurationError

__all__ = ["MATCHED_KINDS", "NORMALISERS", "MatchKey", "MatchKeyColumns", "MatchRule", "normalise"]

#: The kinds whose records are checked for duplicates.
MATCHED_KINDS = ("customer", "contact", "lead")

Normaliser = Callable[[str, str], str | None]

#: Company forms written as words (Latin script): dropped from the end of a name.
_WORD_FORMS = frozenset(
    {
        "co",
        "ltd",
        "limited",
        "inc",
        "incorporated",
        "corp",
        "corporation",
        "llc",
        "gmbh",
        "plc",
        "company",
        "kk",
        "sa",
        "ag",
    }
)
#: Company forms in Chinese and Japanese (no spaces): dropped from the end of a name.
_CJK_FORMS = tuple(
    sorted(
        {
            "股份有限公司",
            "有限责任公司",
            "有限公司",
            "集团",
            "公司",
            "株式会社",
            "有限会社",
            "合同会社",
        },
        key=len,
        reverse=True,
    )
)
#: Dropped at the start too (株式会社 comes first in many Japanese names).
_PREFIXES = ("株式会社", "有限会社", "合同会社")
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


@functools.cache
def _simplified() -> dict[int, str]:
    """Traditional characters to simplified ones (OpenCC's character table, its first
    choice for each): ``str.translate`` with it is a C loop, where OpenCC's phrase-by-phrase
    conversion costs tens of microseconds a name. Both sides of a comparison go through it,
    so the few characters whose simplified form depends on the phrase still match."""
    from importlib import resources

    text = resources.files("opencc").joinpath("dictionary/TSCharacters.txt").read_text("utf-8")
    table: dict[int, str] = {}
    for line in text.splitlines():
        traditional, _, simplified = line.partition("\t")
        choices = simplified.split()
        if len(traditional) == 1 and choices and choices[0] != traditional:
            table[ord(traditional)] = choices[0]
    return table


def _nfkc(text: str) -> str:
    """NFKC (full-width to half-width and the like); ASCII text is its own NFKC."""
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def _folded(text: str) -> str:
    text = _nfkc(text).casefold()
    return text if text.isascii() else text.translate(_simplified())


def person_name(text: str, region: str = "CN") -> str | None:
    """A person's name as compared: folded, without spaces or punctuation."""
    key = _NOT_WORD.sub("", _folded(text))
    return key or None


def company_name(text: str, region: str = "CN") -> str | None:
    """A company's name as compared: folded, without punctuation and company forms."""
    words = [w for w in _NOT_WORD.split(_folded(text)) if w]
    while len(words) > 1 and words[-1] in _WORD_FORMS:  # "Acme Co., Ltd." → "acme"
        words.pop()
    key = "".join(words)
    if key.startswith(_PREFIXES):  # one test for all of them: most names have none
        for prefix in _PREFIXES:
            if key.startswith(prefix) and len(key) > len(prefix):
                key = key[len(prefix) :]
    changed = key.endswith(_CJK_FORMS)
    while changed:  # "…集团有限公司" loses both forms
        changed = False
        for form in _CJK_FORMS:
            if key.endswith(form) and len(key) > len(form):
                key, changed = key[: -len(form)], True
                break
    return key or None


#: A mainland mobile number, alone or after +86 (spaces, dashes and dots left out); alone,
#: not one beginning 179xx00, which phonenumbers reads as a call abroad (179xx is a carrier
#: and 00 the international prefix: "17900001000" is +1 000).
_CN_MOBILE = re.compile(r"(?:\+86|(?!179\d\d00))(1[3-9]\d{9})")
#: A mainland landline dialled at home: the trunk 0, a 2- or 3-digit area code (010, 0755)
#: and a 7- or 8-digit subscriber number, i.e. 0 and 9 to 11 digits not starting with 0.
#: phonenumbers drops the 0 from every such number and keeps the rest (the region's
#: number pattern never starts with 0, so the number is not viable with it, and 9 to 11
#: digits is a possible length): tests/unit/test_duplicates.py checks it for every area
#: code shape against phonenumbers itself.
_CN_LANDLINE = re.compile(r"0([1-9]\d{8,10})")
_SEPARATORS = str.maketrans("", "", " -.()\u3000")


def phone(text: str, region: str = "CN") -> str | None:
    """A telephone number as E.164 (``+8613800138000``), or its digits when it does not
    parse as a number of ``region`` (or an international one); None without 5 digits."""
    text = _nfkc(text)
    if region == "CN":  # what phonenumbers gives, ten times faster
        bare = text.translate(_SEPARATORS)
        if (mobile := _CN_MOBILE.fullmatch(bare)) or (mobile := _CN_LANDLINE.fullmatch(bare)):
            return f"+86{mobile[1]}"
    return _parsed_phone(text, region)


def _parsed_phone(text: str, region: str) -> str | None:
    """:func:`phone` of NFKC-normalised text through phonenumbers (no fast path)."""
    import phonenumbers

    digits = re.sub(r"\D", "", text)
    if len(digits) < 5:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return digits
    if not phonenumbers.is_possible_number(number):
        return digits
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def email(text: str, region: str = "CN") -> str | None:
    """An e-mail address, trimmed and case-folded (None without an ``@``)."""
    key = _nfkc(text).strip().casefold()
    return key if "@" in key else None


def domain(text: str, region: str = "CN") -> str | None:
    """A website's host, without ``www.`` and a port (``https://www.ACME.com/x`` →
    ``acme.com``)."""
    value = _nfkc(text).strip().casefold()
    if not value:
        return None
    try:
        host = urlsplit(value if "//" in value else f"//{value}").hostname or ""
    except ValueError:  # not a URL ("http://[" reads as a broken IPv6 address): no host
        return None
    host = host.removeprefix("www.")
    return host if "." in host else None


#: The built-in normalisers by name.
NORMALISERS: dict[str, Normaliser] = {
    "company_name": company_name,
    "person_name": person_name,
    "phone": phone,
    "email": email,
    "domain": domain,
}


def normalise(normaliser: str | Normaliser, value: Any, region: str = "CN") -> str | None:
    """The key of one value (None: the value gives no key: empty, too short)."""
    if value is None or not isinstance(value, str) or not value.strip():
        return None
    fn = NORMALISERS[normaliser] if isinstance(normaliser, str) else normaliser
    key = fn(value, region)
    return key[:200] if key else None


def _fields(value: Iterable[str] | str) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value)
    if not items or not all(isinstance(v, str) and v for v in items):
        raise ConfigurationError("a match rule reads one or more fields by name")
    return items


def _check_normaliser(_: object, __: Any, value: str | Normaliser) -> None:
    if isinstance(value, str) and value not in NORMALISERS:
        raise ConfigurationError(
            f"unknown normaliser {value!r}; built-in ones: {sorted(NORMALISERS)}, or give "
            "a function (value, region) -> key"
        )
    if not isinstance(value, str) and not callable(value):
        raise ConfigurationError("a normaliser is a name or a function (value, region) -> key")


@frozen(kw_only=True)
class MatchRule:
    """Records of ``entity`` whose ``fields`` give the same key (by ``normaliser``) are
    likely duplicates; ``action`` says whether that warns or blocks the save.

    ``key`` names the rule (``"customer.phone"``). ``fields`` are built-in field names or
    ``custom.<key>``; each value gives at most one key (a rule over ``phone`` and
    ``mobile`` matches a phone written in either).
    """

    key: str
    entity: str
    fields: tuple[str, ...] = field(converter=_fields)
    normaliser: str | Normaliser = field(validator=_check_normaliser)
    action: Literal["warn", "block"] = "warn"

    def __attrs_post_init__(self) -> None:
        if self.entity not in MATCHED_KINDS:
            raise ConfigurationError(f"match rules are for {list(MATCHED_KINDS)}")
        if self.action not in ("warn", "block"):
            raise ConfigurationError("a match rule's action is 'warn' or 'block'")
        if not isinstance(self.key, str) or not 0 < len(self.key) <= 80:
            raise ConfigurationError("a match rule has a key of 1 to 80 characters")

    def keys(self, values: Mapping[str, Any], region: str = "CN") -> set[str]:
        """The keys a record with these field values gives under this rule."""
        found = set()
        for name in self.fields:
            if name.startswith("custom."):
                value = (values.get("custom") or {}).get(name[7:])
            else:
                value = values.get(name)
            key = normalise(self.normaliser, value, region)
            if key is not None:
                found.add(key)
        return found


@frozen(kw_only=True)
class MatchKey:
    """One key a record gives under one rule, stored so likely duplicates are one indexed
    lookup. Kept in step with the record by every write (kind ``"match_key"``)."""

    kind: ClassVar[str] = "match_key"

    tenant: str
    entity: str
    record_id: uuid.UUID
    rule: str
    key: str


class MatchKeyColumns(Sequence[MatchKey]):
    """Match keys of one tenant and kind held column by column, in the order the index
    keeps them (by key, rule, then record): what a bulk write hands the store. Read as a
    sequence it gives :class:`MatchKey` objects, made when asked; a store that knows this
    class writes the columns as they are (a batch's keys are thousands of objects else)."""

    __slots__ = ("entity", "keys", "record_ids", "rules", "tenant")

    def __init__(
        self, tenant: str, entity: str, rows: Iterable[tuple[str, str, uuid.UUID]]
    ) -> None:
        """``rows``: ``(key, rule, record id)`` of each key, in any order."""
        self.tenant, self.entity = tenant, entity
        ordered = sorted(rows)
        self.keys: list[str] = [row[0] for row in ordered]
        self.rules: list[str] = [row[1] for row in ordered]
        self.record_ids: list[uuid.UUID] = [row[2] for row in ordered]

    def __len__(self) -> int:
        return len(self.keys)

    @overload
    def __getitem__(self, index: int) -> MatchKey: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[MatchKey]: ...

    def __getitem__(self, index: int | slice) -> MatchKey | Sequence[MatchKey]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return MatchKey(
            tenant=self.tenant,
            entity=self.entity,
            record_id=self.record_ids[index],
            rule=self.rules[index],
            key=self.keys[index],
        )
