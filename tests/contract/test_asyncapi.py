"""The published event contract: a valid AsyncAPI 3.0 document that covers every event the code can publish.

The AsyncAPI schema is the official one, from npm's `@asyncapi/specs` (tests/asyncapi, installed by
`make setup`).
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest

from tests.support import import_every_vodkit_module
from vodkit_gateway.app import create_app
from vodkit_gateway.settings import GatewaySettings
from vodkit_shared import asyncapi
from vodkit_shared.events import EVENT_TYPES, Envelope, Event
from vodkit_shared.service import start_site

pytestmark = pytest.mark.contract
ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "tests" / "asyncapi" / "node_modules" / "@asyncapi" / "specs" / "schemas" / "3.0.0.json"
DOC = asyncapi.document()


@pytest.fixture(scope="module")
def asyncapi_validator() -> jsonschema.Draft7Validator:
    if not SPEC.is_file():
        pytest.fail("the AsyncAPI 3.0.0 schema is not installed: run `make setup` (tests/asyncapi)")
    schema = json.loads(SPEC.read_text())
    assert schema["$id"] == "http://asyncapi.com/definitions/3.0.0/asyncapi.json"
    return jsonschema.Draft7Validator(schema)


def test_the_document_is_valid_asyncapi_3(asyncapi_validator: jsonschema.Draft7Validator) -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in asyncapi_validator.iter_errors(DOC)]
    assert errors == []
    broken = copy.deepcopy(DOC)  # the validator reads the bindings, not only the top level
    broken["channels"]["video.assembled"]["bindings"]["amqp"]["exchange"]["type"] = "round-robin"
    assert not asyncapi_validator.is_valid(broken)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = DOC
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_reference_in_the_document_resolves() -> None:
    refs = set(_refs(DOC))
    assert len(refs) > len(EVENT_TYPES) * 3
    for ref in refs:
        _resolve(ref)
    for operation in DOC["operations"].values():  # AsyncAPI 3: an operation's messages are its channel's
        channel = _resolve(operation["channel"]["$ref"])
        for message in operation.get("messages", []):
            assert message["$ref"].startswith(operation["channel"]["$ref"] + "/messages/")
            assert message["$ref"].rsplit("/", 1)[1] in channel["messages"]


def _event_classes() -> list[type[Event]]:
    """Every Event subclass in vodkit's code: each module of each package imported, then subclasses walked."""
    import_every_vodkit_module()
    found: list[type[Event]] = []
    pending = list(Event.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending += cls.__subclasses__()
    return found


def test_every_event_class_in_the_code_is_a_channel_message_and_operation_of_the_document() -> None:
    classes = _event_classes()
    assert len(classes) >= len(EVENT_TYPES)
    names, _ = asyncapi.wire_schemas()
    sent = {op["channel"]["$ref"] for op in DOC["operations"].values() if op["action"] == "send"}
    for cls in classes:
        assert EVENT_TYPES.get(cls.TYPE) is cls, f"{cls.__name__} ({cls.TYPE}) is not in EVENT_TYPES"
        message = DOC["components"]["messages"][names[cls]]
        assert (message["name"], message["bindings"]["amqp"]["messageType"]) == (cls.TYPE, cls.TYPE)
        channel = DOC["channels"][cls.TYPE]
        assert channel["address"] == cls.TYPE
        assert channel["bindings"]["amqp"]["exchange"] == {
            "name": "vodkit",
            "type": "topic",
            "durable": True,
            "autoDelete": False,
        }
        assert list(channel["messages"].values()) == [{"$ref": f"#/components/messages/{names[cls]}"}]
        assert f"#/channels/{cls.TYPE}" in sent
    assert set(DOC["channels"]) - set(EVENT_TYPES) == {"serviceQueue", "serviceRetryQueue", "serviceDeadLetterQueue"}
    assert DOC["channels"]["serviceQueue"]["parameters"]["eventType"]["enum"] == list(EVENT_TYPES)


@pytest.mark.parametrize("model", [Envelope, *EVENT_TYPES.values()], ids=lambda model: model.__name__)
def test_each_schema_is_the_models_own(model: type[Event] | type[Envelope]) -> None:
    names, _ = asyncapi.wire_schemas()
    own = model.model_json_schema(
        mode="serialization", ref_template=asyncapi.SCHEMA_REF, schema_generator=asyncapi.WireSchema
    )
    nested = own.pop("$defs", {})
    schemas = DOC["components"]["schemas"]
    assert schemas[names[model]] == own
    assert all(schemas[name] == schema for name, schema in nested.items())
    if model is not Envelope:
        payload = DOC["components"]["messages"][names[model]]["payload"]
        assert payload["properties"]["data"] == {"$ref": f"#/components/schemas/{names[model]}"}
        assert payload["properties"]["type"] == {"const": model.TYPE}


def _sample(schema: dict[str, Any], definitions: dict[str, Any]) -> Any:
    """A value the schema accepts, the plainest there is (the models are made to accept it, not trusted to)."""
    if "$ref" in schema:
        return _sample(definitions[schema["$ref"].rsplit("/", 1)[1]], definitions)
    if "const" in schema or "enum" in schema:
        return schema.get("const", schema.get("enum", [None])[0])
    if "anyOf" in schema:
        return _sample(schema["anyOf"][0], definitions)
    kind = schema.get("type")
    if kind == "object":
        return {name: _sample(field, definitions) for name, field in schema.get("properties", {}).items()}
    if kind == "array":
        return [_sample(schema.get("items", {}), definitions)]
    if kind in ("integer", "number"):
        return schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1)
    if kind == "string":
        return "x" * max(1, schema.get("minLength", 1))
    simple = {"boolean": True, "null": None}
    assert kind in simple, f"no sample for {schema}: teach _sample this kind"
    return simple[kind]


def _validator(message: str) -> jsonschema.Draft7Validator:
    """The message's payload schema, its references resolved within the document."""
    return jsonschema.Draft7Validator({**DOC, "$ref": f"#/components/messages/{message}/payload"})


@pytest.mark.parametrize("event_type", list(EVENT_TYPES))
def test_an_envelope_the_code_makes_validates_against_its_message_and_no_other(event_type: str) -> None:
    model = EVENT_TYPES[event_type]
    schema = model.model_json_schema(ref_template="#/$defs/{model}")
    payload = model.model_validate(_sample(schema, schema.get("$defs", {})))
    wire = json.loads(Envelope.wrap(payload, video_id="v1", correlation_id="c1").to_json())
    names, _ = asyncapi.wire_schemas()
    mine = _validator(names[model])
    assert [e.message for e in mine.iter_errors(wire)] == []
    assert not mine.is_valid({**wire, "type": "some.other"})
    assert not mine.is_valid({**wire, "data": {}})
    others = [name for cls, name in names.items() if cls is not model and cls is not Envelope]
    assert not any(_validator(other).is_valid(wire) for other in others)


def test_the_committed_documents_are_current() -> None:
    """docs/asyncapi.json and the reference in docs/events.md are what `make asyncapi` writes now."""
    committed = (ROOT / "docs" / "asyncapi.json").read_text()
    assert committed == asyncapi.document_json(), "docs/asyncapi.json is stale: run `make asyncapi`"
    events = (ROOT / "docs" / "events.md").read_text()
    assert events == asyncapi.with_reference(events, DOC), "docs/events.md is stale: run `make asyncapi`"
    for event_type in EVENT_TYPES:
        assert f"#### {event_type}\n" in events


async def test_the_gateway_serves_the_document_without_a_token_naming_its_exchange(tmp_path: Path) -> None:
    settings = GatewaySettings(  # type: ignore[call-arg]
        data_dir=tmp_path, bus_url=f"memory://asyncapi-{uuid.uuid4().hex}", bus_exchange="acme", sweep_interval_s=3600
    )
    runner, port = await start_site(create_app(settings), "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/api/asyncapi.json") as response:
                assert (response.status, response.content_type) == (200, "application/json")
                served = await response.json()
            async with http.get(f"http://127.0.0.1:{port}/api/openapi.json") as response:
                listed = (await response.json())["paths"]["/api/asyncapi.json"]["get"]
    finally:
        await runner.cleanup()
    assert served == asyncapi.document("acme")
    assert served["channels"]["package.done"]["bindings"]["amqp"]["exchange"]["name"] == "acme"
    assert served["channels"]["serviceQueue"]["address"] == "acme.{service}.{eventType}"
    assert listed["security"] == []
