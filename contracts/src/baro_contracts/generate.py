"""Generates the committed JSON Schema and AsyncAPI documents from the contract models.

`python -m baro_contracts.generate` rewrites them; `--check` fails when they have drifted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from baro_contracts.base import REGISTRATION_HEADER
from baro_contracts.catalog import ALL_EVENTS
from baro_contracts.streams import STREAMS

CONTRACTS_DIR = Path(__file__).resolve().parents[2]


def json_schemas() -> dict[str, str]:
    """Relative path → document text."""
    documents = {}
    for cls in ALL_EVENTS:
        schema = cls.model_json_schema(mode="serialization")
        schema["$id"] = f"urn:baro:contracts:{cls.type_name()}"
        schema["x-subject"] = cls.subject_pattern()
        path = f"schemas/{cls.service}.v{cls.version}/{cls.name}.json"
        documents[path] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return documents


def asyncapi() -> str:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for cls in ALL_EVENTS:
        key = cls.type_name().replace(".", "_")
        stream = STREAMS[cls.service]
        headers: dict[str, Any] = {
            "Nats-Msg-Id": {"type": "string", "description": "= event_id"},
            "Baro-Event-Type": {"type": "string", "description": "= event_type"},
            "traceparent": {"type": "string", "description": "W3C trace context"},
        }
        if "registration_id" in cls.model_fields:
            headers[REGISTRATION_HEADER] = {
                "type": "string",
                "description": "= registration_id: the structure it is about, for routing",
            }
        messages[key] = {
            "name": cls.type_name(),
            "title": cls.__name__,
            "summary": (cls.__doc__ or "").strip(),
            "contentType": "application/json",
            "headers": {"type": "object", "properties": headers},
            "payload": {"$ref": f"./schemas/{cls.service}.v{cls.version}/{cls.name}.json"},
        }
        channels[key] = {
            "address": f"{cls.service}.v{cls.version}.{{edition}}.{cls.name}",
            "parameters": {"edition": {"description": "The edition's year, e.g. 2025"}},
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
            "x-jetstream-stream": stream.name,
        }
        operations[f"publish_{key}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"The {cls.service} service publishes {cls.__name__}.",
        }
    document = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Citizen Experience Barometer events",
            "version": "1.0.0",
            "description": "Public events the barometer services publish on NATS JetStream. "
            "Generated from baro_contracts; do not edit by hand.",
        },
        "defaultContentType": "application/json",
        "servers": {"local": {"host": "127.0.0.1:14222", "protocol": "nats"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }
    return yaml.safe_dump(document, sort_keys=True, allow_unicode=True, width=100)


def documents() -> dict[str, str]:
    return {**json_schemas(), "asyncapi.yaml": asyncapi()}


def drifted(root: Path = CONTRACTS_DIR) -> list[str]:
    """The documents whose committed text differs from what the code generates."""
    stale = [
        p
        for p, text in documents().items()
        if not (root / p).exists() or (root / p).read_text() != text
    ]
    expected = set(documents())
    stale += [
        str(p.relative_to(root))
        for p in (root / "schemas").rglob("*.json")
        if str(p.relative_to(root)) not in expected
    ]
    return sorted(stale)


def write(root: Path = CONTRACTS_DIR) -> None:
    for path, text in documents().items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def main() -> None:
    if "--check" in sys.argv:
        stale = drifted()
        if stale:
            sys.exit("contract documents out of date, run `make contracts`: " + ", ".join(stale))
        return
    write()


if __name__ == "__main__":
    main()
