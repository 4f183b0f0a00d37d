"""What a profile is: for one task, which sources are asked with which fields, which relations follow, how the
answer is shaped, how case workers search, and how long a caller may wait. Plain data and its rules."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Any, Literal

import jq
import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from iko_shared.identifiers import IDENTIFIER_TYPES, IdentifierType

NAME = r"^[a-z][a-z0-9_-]*$"
MAX_RELATION_DEPTH = 3
DEFAULT_FANOUT = 50


@lru_cache(maxsize=512)
def compile_jq(expression: str) -> Any:
    """Compiled once per process: the same expressions run on every lookup."""
    return jq.compile(expression)


def run_jq(expression: str, value: Any) -> Any:
    """The compiled expression over ``value``, handed to jq as text made by orjson: the binding's own
    conversion (``input_value``) goes through the json module, at about twice the cost."""
    return compile_jq(expression).input_text(orjson.dumps(value).decode())


def check_jq(expression: str) -> str:
    try:
        compile_jq(expression)
    except ValueError as exc:
        first = str(exc).splitlines()[0]
        raise ValueError(f"not a valid jq expression: {first}") from None
    return expression


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TimeoutPolicy(Strict):
    default_ms: int = Field(1500, gt=0)
    max_ms: int = Field(5000, gt=0, le=600_000)

    @model_validator(mode="after")
    def _default_within_max(self) -> TimeoutPolicy:
        if self.default_ms > self.max_ms:
            raise ValueError(f"default_ms ({self.default_ms}) exceeds max_ms ({self.max_ms})")
        return self

    def effective_ms(self, requested_ms: int | None) -> int:
        """The caller may ask for less or more than the default, never more than the maximum."""
        if requested_ms is None:
            return self.default_ms
        return min(requested_ms, self.max_ms)


class SubjectsSpec(Strict):
    """Whom a source's answer is about, when the answer names them itself: the persons a search by an address
    finds. The audit trail names each one as a subject of the lookup."""

    type: IdentifierType
    select: str = Field(description="jq over the source's data: one identifier value per subject")

    _select = field_validator("select")(check_jq)


class SourceSpec(Strict):
    """One source asked within a profile; the key it has in the profile names its slot in the answer."""

    source: str | None = Field(None, pattern=NAME, description="the connector; defaults to the key")
    operation: str
    fields: list[str] = Field(default_factory=list, max_length=130)
    params: dict[str, Any] = Field(default_factory=dict)
    # Roles that may receive this source's data (empty: every role of the profile).
    roles: list[str] = Field(default_factory=list)
    # Whom the answer is about when not the identifier asked with (a search's persons); the audit names them.
    subjects: SubjectsSpec | None = None

    def connector(self, key: str) -> str:
        return self.source or key


class RelationSpec(Strict):
    name: str = Field(pattern=NAME)
    from_: str = Field(alias="from", description="the key of the fragment the identifiers are selected from")
    select: str = Field(description="jq: the identifiers to follow, one value each")
    identifier: IdentifierType
    sources: dict[str, SourceSpec] = Field(min_length=1)
    max_fanout: int = Field(DEFAULT_FANOUT, ge=1, le=500)
    relations: list[RelationSpec] = Field(default_factory=list)

    _select = field_validator("select")(check_jq)

    @field_validator("relations")
    @classmethod
    def _nested_relations_start_in_this_branch(
        cls, value: list[RelationSpec], info: ValidationInfo
    ) -> list[RelationSpec]:
        check_relations(value, info.data.get("sources") or {})
        return value


# The value types a filter takes besides the identifier types (``IDENTIFIER_TYPES``), which are checked as such.
VALUE_FILTER_TYPES = ("string", "date", "integer", "boolean", "postcode")


def _filter_type(name: str) -> str:
    if name not in VALUE_FILTER_TYPES and name not in IDENTIFIER_TYPES:
        known = ", ".join([*VALUE_FILTER_TYPES, *IDENTIFIER_TYPES])
        raise ValueError(f"unknown filter type {name!r}; known: {known}")
    return name


FilterType = Annotated[str, AfterValidator(_filter_type)]


class FilterSpec(Strict):
    """One search filter; its name is the source's own parameter name."""

    type: FilterType = "string"
    required: bool = False
    title: str = ""
    # The source takes this parameter as a list (BRP burgerservicenummer).
    as_list: bool = False


class Column(Strict):
    key: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    title: str
    value: str = Field(description="jq over one row")

    _value = field_validator("value")(check_jq)


class SubjectSpec(Strict):
    """Whose data one search row is: the audit trail names that person or company."""

    type: IdentifierType
    value: str = Field(description="jq over one row: its identifier")

    _value = field_validator("value")(check_jq)


class SearchAction(Strict):
    title: str = ""
    source: str = Field(pattern=NAME)
    operation: str
    fields: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    # Roles that may run this action (empty: every role of the profile), as a source's roles within a profile.
    roles: list[str] = Field(default_factory=list)
    filters: dict[str, FilterSpec] = Field(default_factory=dict)
    rows: str = Field(".[]", description="jq over the source's answer: one value per row")
    # Required: a search discloses the persons or companies in its rows, and each must be named in the record.
    subject: SubjectSpec
    columns: list[Column] = Field(min_length=1)
    # "source": the source pages (params below); "local": IKO pages the rows the source returned.
    paging: Literal["local", "source"] = "local"
    page_param: str = "pagina"
    page_size_param: str = "resultatenPerPagina"
    total: str = Field("null", description="jq over the source's answer: the total number of rows (source paging)")

    _rows = field_validator("rows", "total")(check_jq)


class Profile(Strict):
    name: str = Field(pattern=NAME)
    title: str = ""
    description: str = ""
    identifiers: list[IdentifierType] = Field(min_length=1)
    timeout: TimeoutPolicy = TimeoutPolicy()
    # Roles that may use the profile (empty: every authenticated caller).
    roles: list[str] = Field(default_factory=list)
    # The purposes (doelbinding) the profile serves: a lookup must state one of them.
    purposes: list[str] = Field(min_length=1)
    sources: dict[str, SourceSpec] = Field(min_length=1)
    relations: list[RelationSpec] = Field(default_factory=list)
    transform: str | None = Field(None, description="jq over the assembled answer, giving its view")
    # IKO Server compatibility: the lists in the view a containerParam may page, by containerId (jq paths).
    containers: dict[str, str] = Field(default_factory=dict)
    searches: dict[str, SearchAction] = Field(default_factory=dict)

    @field_validator("transform")
    @classmethod
    def _transform_compiles(cls, value: str | None) -> str | None:
        return None if value is None else check_jq(value)

    @field_validator("containers")
    @classmethod
    def _containers_compile(cls, value: dict[str, str]) -> dict[str, str]:
        for expression in value.values():
            check_jq(expression)
        return value

    @field_validator("searches")
    @classmethod
    def _search_keys(cls, value: dict[str, SearchAction]) -> dict[str, SearchAction]:
        for key in value:
            if not re.match(NAME, key):
                raise ValueError(f"search action key {key!r} must match {NAME}")
        return value

    @field_validator("relations")
    @classmethod
    def _relations_start_at_known_sources(cls, value: list[RelationSpec], info: ValidationInfo) -> list[RelationSpec]:
        check_relations(value, info.data.get("sources") or {})
        if relation_depth(value) > MAX_RELATION_DEPTH:
            raise ValueError(f"relations nest deeper than {MAX_RELATION_DEPTH} levels")
        return value

    def connectors(self) -> set[str]:
        """Every connector this profile may ask, relations and searches included."""
        found = {spec.connector(key) for key, spec in self.sources.items()}

        def walk(relations: list[RelationSpec]) -> None:
            for relation in relations:
                found.update(spec.connector(key) for key, spec in relation.sources.items())
                walk(relation.relations)

        walk(self.relations)
        found.update(action.source for action in self.searches.values())
        return found


def relation_depth(relations: list[RelationSpec]) -> int:
    return max((1 + relation_depth(r.relations) for r in relations), default=0)


def check_relations(relations: list[RelationSpec], sources: dict[str, SourceSpec]) -> None:
    names = [r.name for r in relations]
    if len(set(names)) != len(names):
        raise ValueError(f"relation names must be unique at one level, got {names}")
    for relation in relations:
        if relation.from_ not in sources:
            raise ValueError(f"relation {relation.name!r} starts from {relation.from_!r}, which is not a source here")
