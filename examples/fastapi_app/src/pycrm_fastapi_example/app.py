"""The web API: FastAPI routes over pycrm, acting as the user who sent the request.

Who is asking is the application's business (here: the ``X-User`` and ``X-Tenant``
headers, looked up in its own ``users`` table); what they may see and do is pycrm's,
decided inside every query. Every :class:`pycrm.CRMError` becomes an HTTP answer in one
handler: the status by the first part of its ``code`` (``pycrm.HTTP_STATUS``), the body
``error.to_dict()``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import APIRouter, Body, Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

import pycrm
from pycrm.schemas import ContactFields, CustomerFields, OpportunityFields, page_model, view_model
from pycrm_fastapi_example.db import Host, open_host
from pycrm_fastapi_example.models import AuditNote, User

__all__ = ["Actor", "NotAuthenticated", "create_app", "router"]

log = logging.getLogger(__name__)

#: Response models: routes return the entities themselves, these models read them.
CustomerView = view_model(pycrm.Customer)
CustomerPage = page_model(pycrm.Customer)
OpportunityView = view_model(pycrm.Opportunity)


# -- who is asking ------------------------------------------------------------------------
class NotAuthenticated(Exception):
    """The request names no known user of the application (HTTP 401)."""


@dataclass(frozen=True)
class Actor:
    """The application's user behind a request, and whom they act as in the CRM."""

    user_id: int
    display_name: str
    crm_user_id: uuid.UUID
    tenant: str


def get_host(request: Request) -> Host:
    host: Host = request.app.state.host
    return host


HostDep = Annotated[Host, Depends(get_host)]


def get_session(host: HostDep) -> Iterator[Session]:
    """A session of the application's own for one request. Routes commit what they want
    kept; closing the session rolls back anything else (a route that raised)."""
    with host.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_actor(
    host: HostDep,
    x_user: Annotated[str | None, Header()] = None,
    x_tenant: Annotated[str | None, Header()] = None,
) -> Actor:
    """The acting user: ``X-User`` is the application's own user id, ``X-Tenant`` the
    company they work in. pycrm itself refuses a user unknown in that tenant (403)."""
    if not x_user or not x_tenant:
        raise NotAuthenticated("send X-User (your user id) and X-Tenant")
    try:
        user_id = int(x_user)
    except ValueError:
        raise NotAuthenticated(f"unknown user {x_user!r}") from None
    with host.sessions() as session:
        user = session.get(User, user_id)
    if user is None:
        raise NotAuthenticated(f"unknown user {x_user!r}")
    return Actor(
        user_id=user.id,
        display_name=user.display_name,
        crm_user_id=user.crm_user_id,
        tenant=x_tenant,
    )


ActorDep = Annotated[Actor, Depends(get_actor)]


def as_actor(host: Host, actor: Actor) -> pycrm.UnitOfWork:
    """A unit of work of the CRM acting as ``actor``: all of it commits, or none."""
    return host.crm.unit_of_work(user=actor.crm_user_id, tenant=actor.tenant)


def _version(body: dict[str, Any]) -> int | None:
    version = body.pop("version", None)
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise pycrm.ValidationError.single("version", "give the whole number you last read")
    return version


# -- routes -------------------------------------------------------------------------------
router = APIRouter()
JsonObject = Annotated[dict[str, Any], Body()]


@router.post("/customers", status_code=201, response_model=CustomerView)
def create_customer(body: JsonObject, actor: ActorDep, host: HostDep) -> pycrm.Customer:
    """Create a customer owned by the acting user (fields: ``pycrm.schemas.CustomerFields``)."""
    with as_actor(host, actor) as uow:
        return uow.customers.create(**cast(CustomerFields, body))


@router.get("/customers", response_model=CustomerPage)
def list_customers(
    actor: ActorDep,
    host: HostDep,
    level: str | None = None,
    q: Annotated[str | None, Query(description="part of the name")] = None,
    limit: int = 50,
    after: str | None = None,
) -> pycrm.Page[pycrm.Customer]:
    """The customers the acting user may see, a page at a time (``after``: the previous
    page's ``next_cursor``)."""
    where: dict[str, Any] = {}
    if level is not None:
        where["level"] = level
    if q is not None:
        where["name__contains"] = q
    with as_actor(host, actor) as uow:
        return uow.customers.list(where, order_by="name", limit=limit, after=after)


@router.get("/customers/{customer_id}", response_model=CustomerView)
def get_customer(customer_id: uuid.UUID, actor: ActorDep, host: HostDep) -> pycrm.Customer:
    """One customer; 404 when it does not exist *or* the acting user may not see it."""
    with as_actor(host, actor) as uow:
        return uow.customers.get(customer_id)


@router.patch("/customers/{customer_id}", response_model=CustomerView)
def update_customer(
    customer_id: uuid.UUID, body: JsonObject, actor: ActorDep, host: HostDep
) -> pycrm.Customer:
    """Change the fields given; with ``"version"`` refused (409) if changed since read."""
    version = _version(body)
    with as_actor(host, actor) as uow:
        return uow.customers.update(customer_id, version=version, **cast(CustomerFields, body))


@router.delete("/customers/{customer_id}", response_model=CustomerView)
def delete_customer(customer_id: uuid.UUID, actor: ActorDep, host: HostDep) -> pycrm.Customer:
    """Delete (softly); 403 when the acting user sees the customer but may not delete it."""
    with as_actor(host, actor) as uow:
        return uow.customers.delete(customer_id)


class CustomerWithNote(BaseModel):
    """A customer, its contacts, and the application's own note about it."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=2000)
    customer: dict[str, Any]
    contacts: list[dict[str, Any]] = []


@router.post("/customers/with-note", status_code=201, response_model=CustomerView)
def create_customer_with_note(
    body: CustomerWithNote, actor: ActorDep, host: HostDep, session: SessionDep
) -> pycrm.Customer:
    """One transaction for the application's row and pycrm's: the audit note, the
    customer and its contacts are all written, or none of them."""
    note = AuditNote(tenant=actor.tenant, author_id=actor.user_id, text=body.note)
    session.add(note)
    session.flush()  # the application's row is written first, in the same transaction
    with host.crm.unit_of_work(
        user=actor.crm_user_id, tenant=actor.tenant, connection=session
    ) as uow:  # pycrm's writes join the session's transaction (as a savepoint)
        customer = uow.customers.create(**cast(CustomerFields, body.customer))
        for contact in body.contacts:
            uow.contacts.create(**cast(ContactFields, {**contact, "customer_id": customer.id}))
    note.customer_id = customer.id
    session.commit()  # both, together; pycrm's events are handed out after this commit
    return customer


class NoteView(BaseModel):
    """An audit note as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    text: str
    customer_id: uuid.UUID | None


@router.get("/audit-notes", response_model=list[NoteView])
def list_notes(actor: ActorDep, session: SessionDep) -> list[AuditNote]:
    """The acting user's audit notes (the application's own table)."""
    query = (
        select(AuditNote)
        .where(AuditNote.author_id == actor.user_id, AuditNote.tenant == actor.tenant)
        .order_by(AuditNote.id)
    )
    return list(session.scalars(query))


@router.post("/opportunities", status_code=201, response_model=OpportunityView)
def create_opportunity(body: JsonObject, actor: ActorDep, host: HostDep) -> pycrm.Opportunity:
    """Create a deal; money as ``{"amount": "250000.00", "currency": "CNY"}``."""
    with as_actor(host, actor) as uow:
        return uow.opportunities.create(**cast(OpportunityFields, body))


class Move(BaseModel):
    """Where to move a deal: a stage key of its pipeline."""

    model_config = ConfigDict(extra="forbid")

    to: str
    version: int | None = None


@router.post("/opportunities/{opportunity_id}/move", response_model=OpportunityView)
def move_opportunity(
    opportunity_id: uuid.UUID, body: Move, actor: ActorDep, host: HostDep
) -> pycrm.Opportunity:
    """Move a deal to another stage; the pipeline's rules refuse with 422 (``rule.…``)."""
    with as_actor(host, actor) as uow:
        return uow.opportunities.move(opportunity_id, to=body.to, version=body.version)


@router.get("/reports/weighted-pipeline", response_model=pycrm.WeightedPipeline)
async def weighted_pipeline(
    actor: ActorDep,
    host: HostDep,
    by: Annotated[list[str] | None, Query(description="owner, department, stage…")] = None,
) -> pycrm.WeightedPipeline:
    """Open deals the acting user may see, weighted by probability (an ``async`` route:
    the work runs on pycrm's worker thread, the event loop goes on meanwhile)."""
    groups = tuple(by) if by else ("stage",)
    async with host.acrm.unit_of_work(user=actor.crm_user_id, tenant=actor.tenant) as uow:
        return await uow.run(lambda u: u.reports.weighted_pipeline(by=groups))


# -- errors -------------------------------------------------------------------------------
async def crm_error(request: Request, error: Exception) -> JSONResponse:
    """Every pycrm error: the status by its code's family, the body its ``to_dict()``."""
    assert isinstance(error, pycrm.CRMError)
    status = pycrm.HTTP_STATUS.get(error.code.partition(".")[0], 500)
    if status >= 500:
        log.error("%s %s failed", request.method, request.url.path, exc_info=error)
    return JSONResponse(error.to_dict(), status_code=status)


async def request_error(request: Request, error: Exception) -> JSONResponse:
    """A request FastAPI could not read (a bad id, a malformed body): the same shape as
    pycrm's validation errors."""
    assert isinstance(error, RequestValidationError)
    # The location without its "body"/"path"/"query" head: the field, as pycrm names it.
    problems = [
        (".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]), str(e["msg"]))
        for e in error.errors()
    ]
    return JSONResponse(pycrm.ValidationError(problems).to_dict(), status_code=422)


async def not_authenticated(request: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"code": "unauthenticated", "message": str(error)}, status_code=401)


# -- the application ----------------------------------------------------------------------
def create_app(database_url: str, *, settings: pycrm.Settings | None = None) -> FastAPI:
    """The application over the database at ``database_url``: on startup it opens one
    engine, migrates its own tables, then opens the CRM in the same database (migrating
    pycrm's tables); on shutdown it closes them."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        host = open_host(database_url, settings=settings)
        app.state.host = host
        try:
            yield
        finally:
            await host.aclose()

    app = FastAPI(title="pycrm inside a FastAPI application", lifespan=lifespan)
    app.include_router(router)
    app.add_exception_handler(pycrm.CRMError, crm_error)
    app.add_exception_handler(RequestValidationError, request_error)
    app.add_exception_handler(NotAuthenticated, not_authenticated)
    return app
