"""The endpoint table is the one declaration: everything that lists an endpoint's parameters,
its reconciling read or its row key is pinned to it here.

Adding a parameter to an endpoint in ``_endpoints.py`` and not to the client method, the bulk
request class, the CLI columns or the emulator's handler (or the other way round) fails a test.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import attrs
import pytest

from irefer_async import (
    BulkStatus,
    IReferClient,
    NewSignupRequest,
    NewSpecificActionRequest,
)
from irefer_async import _endpoints as ep
from irefer_async.cli._rows import KINDS, validate
from irefer_async.testing import DEFAULT_CAMPAIGN, Emulator
from irefer_async.testing._journal import JournalEntry

BULK_REQUESTS: dict[str, type[Any]] = {
    "newSignup": NewSignupRequest,
    "newSpecificAction": NewSpecificActionRequest,
}
ALL = sorted(ep.ENDPOINTS)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@pytest.mark.parametrize("method", ALL)
def test_client_method_signature_matches_the_table(method: str) -> None:
    """Each endpoint has a client method taking exactly its parameters, then campaign_id."""
    endpoint = ep.ENDPOINTS[method]
    signature = inspect.signature(getattr(IReferClient, _snake(method)))
    names = [p for p in signature.parameters if p != "self"]
    assert names == [*endpoint.param_names, "campaign_id"]
    for param in endpoint.params:
        default = signature.parameters[param.name].default
        # Required parameters have no default; optional ones default to None ("not sent").
        assert (default is inspect.Parameter.empty) == param.required, param.name
        if not param.required:
            assert default is None, param.name


def test_client_has_one_method_per_endpoint_and_no_more() -> None:
    """No client method for an endpoint the table does not declare."""
    endpoint_methods = {
        name
        for name, member in vars(IReferClient).items()
        if inspect.iscoroutinefunction(member)
        and not name.startswith("_")
        and "campaign_id" in inspect.signature(member).parameters
    }
    assert endpoint_methods == {_snake(method) for method in ALL}


@pytest.mark.parametrize("method", sorted(BULK_REQUESTS))
def test_bulk_request_fields_match_the_table(method: str) -> None:
    """A bulk request class has the write's parameters (required ones first), then campaign_id."""
    endpoint = ep.ENDPOINTS[method]
    fields = attrs.fields(BULK_REQUESTS[method])
    assert [f.name for f in fields] == [*endpoint.param_names, "campaign_id"]
    for param in endpoint.params:
        field = getattr(fields, param.name)
        assert (field.default is attrs.NOTHING) == param.required, param.name


def test_every_write_has_a_bulk_request_and_a_cli_kind() -> None:
    """Writes are exactly the endpoints with a reconciling read, a row key, bulk and CLI."""
    writes = {e.name for e in ep.WRITES}
    assert writes == set(BULK_REQUESTS) == {kind.endpoint.name for kind in KINDS.values()}
    for endpoint in ep.ENDPOINTS.values():
        assert (endpoint.reconcile is not None) == (endpoint.key is not None) == endpoint.write
        spec = endpoint.reconcile
        if spec is not None:
            # Looked for in a list read, by row fields that exist in that list's rows,
            # matched against the write's own parameters: those that identify one write.
            scan = spec.scan
            assert not scan.write and getattr(scan.result, "__origin__", None) is tuple
            row_model = scan.result.__args__[0]  # type: ignore[attr-defined]
            assert set(spec.fields) <= {f.name for f in attrs.fields(row_model)}
            assert len(spec.fields) == len(spec.params)
            assert endpoint.key is not None and spec.params == endpoint.key.fields
            assert spec.casefold <= set(spec.fields)


def test_reconcile_targets_are_what_the_rows_hold() -> None:
    """A write's target: its parameters in field order, emails folded as the matcher does."""
    signup = ep.NEW_SIGNUP.reconcile
    action = ep.NEW_SPECIFIC_ACTION.reconcile
    assert signup is not None and action is not None
    assert signup.target({"email": "Ann@Example.com", "name": "Ann"}) == ("ann@example.com",)
    assert action.target({"external_id": "U1", "action": "/Buy", "referrer_code": "c"}) == (
        "U1",
        "/Buy",
    )


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_cli_columns_match_the_table(kind: str) -> None:
    """The CLI accepts the endpoint's parameters as columns and requires the required ones."""
    spec = KINDS[kind]
    assert spec.columns == (*spec.endpoint.param_names, "campaign_id")
    assert spec.required == tuple(p.name for p in spec.endpoint.params if p.required)
    assert spec.request is BULK_REQUESTS[spec.endpoint.name]


class _Reads(dict[str, str]):
    """Query parameters that remember which names the handler looked up."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)


@pytest.mark.parametrize("method", ALL)
def test_emulator_reads_exactly_the_tables_parameters(method: str) -> None:
    """The emulator's handler for each method looks up every declared parameter, and no other.

    (Read-only use of the emulator: its handler is run with a query that records lookups.)
    """
    endpoint = ep.ENDPOINTS[method]
    emulator = Emulator()
    values = {"campaign_id": str(DEFAULT_CAMPAIGN.id)}
    values.update({name: "x" for name in endpoint.param_names})
    if method == "newSignup":
        values.update(email="ann@example.com", source="t")
    params = _Reads(values)
    entry = JournalEntry(seq=1, at=0.0, method=method, call=1, params=dict(values))
    emulator._process(
        DEFAULT_CAMPAIGN.license_key,
        method,
        params,
        api_key=DEFAULT_CAMPAIGN.api_key,
        ip="127.0.0.1",
        entry=entry,
    )
    assert params.read - {"campaign_id"} == set(endpoint.param_names)


# -- one row key per write kind ---------------------------------------------------------------


def test_signup_request_key_is_the_tables_case_folded_email() -> None:
    """NewSignupRequest.key compares emails case-insensitively, as the CLI does."""
    request = NewSignupRequest(" Ann@Example.COM ")
    assert request.key == "ann@example.com"
    assert request.key == ep.NEW_SIGNUP.row_key({"email": " Ann@Example.COM "})


def test_cli_key_is_the_bulk_key() -> None:
    """The CLI's duplicate key of a valid row is the bulk request's key, for both kinds."""
    signup = validate(KINDS["signups"], 2, {"email": "Ann@Example.com"})
    assert signup.key == "ann@example.com" == signup.request.key
    action = validate(
        KINDS["actions"], 2, {"external_id": "P@e.io", "action": "/d", "referrer_code": "c"}
    )
    assert action.key == "P@e.io|/d" == action.request.key


async def test_invalid_bulk_action_row_keeps_its_key(irefer_emulator: Any) -> None:
    """An invalid action row still gets its external_id|action key (not one looked up by email)."""
    rows: list[Any] = [{"external_id": "p@example.com", "action": "/dashboard"}]
    async with irefer_emulator.client.bulk_new_specific_actions(rows) as run:
        outcomes = [o async for o in run]
    assert outcomes[0].status is BulkStatus.INVALID
    assert outcomes[0].key == "p@example.com|/dashboard"


async def test_invalid_bulk_signup_row_key_is_case_folded(irefer_emulator: Any) -> None:
    """An invalid signup row's key is the folded email, like a valid row's."""
    rows: list[Any] = [{"email": "Bob@Example.com", "nickname": "b"}]
    async with irefer_emulator.client.bulk_new_signups(rows) as run:
        outcomes = [o async for o in run]
    assert outcomes[0].status is BulkStatus.INVALID
    assert outcomes[0].key == "bob@example.com"


def test_row_key_is_none_when_a_key_field_is_missing() -> None:
    """A row without its key fields has no key."""
    assert ep.NEW_SPECIFIC_ACTION.row_key({"external_id": "p"}) is None
    assert ep.NEW_SIGNUP.row_key({"email": 3}) is None
    assert ep.REFERRERS.row_key({}) is None


def test_each_result_type_resolves_once_and_a_list_names_its_row_model() -> None:
    """`result` (resolved on first use) is the client method's return type; `item` its row."""
    methods = {
        "referrerStats": "referrer_stats",
        "campaignStats": "campaign_stats",
        "newSignup": "new_signup",
        "newSpecificAction": "new_specific_action",
        "referrers": "referrers",
        "rewards": "rewards",
        "specificActionSignups": "specific_action_signups",
    }
    for name, endpoint in ep.ENDPOINTS.items():
        result = endpoint.result
        assert endpoint.result is result, name  # cached: a call reads it as a slot
        annotation = inspect.signature(getattr(IReferClient, methods[name])).return_annotation
        if getattr(result, "__origin__", None) is tuple:
            assert endpoint.item is result.__args__[0], name
            assert annotation == f"tuple[{endpoint.item.__name__}, ...]", name
        else:
            assert endpoint.item is None, name
            assert annotation == result.__name__, name
