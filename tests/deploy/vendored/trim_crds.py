"""Write the v1 schemas of a release manifest's CRDs as small JSON Schemas for the tests:
`python trim_crds.py cnpg-1.30.0.yaml OUT_DIR Cluster Pooler Database ScheduledBackup`.
Descriptions and status are dropped (size), a Pooler's pod template is left free, and an
object with properties takes no others (what `kubectl apply --validate=strict` refuses)."""

import json
import sys
from pathlib import Path
from typing import Any

import yaml


def trim(node: Any) -> Any:
    if isinstance(node, list):
        return [trim(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: trim(v) for k, v in node.items() if k != "description"}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def main(manifest: str, out_dir: str, *kinds: str) -> None:
    for doc in yaml.safe_load_all(Path(manifest).read_text()):
        if not doc or doc.get("kind") != "CustomResourceDefinition":
            continue
        kind = doc["spec"]["names"]["kind"]
        if kind not in kinds:
            continue
        version = next(v for v in doc["spec"]["versions"] if v["name"] == "v1")
        schema = version["schema"]["openAPIV3Schema"]
        schema["properties"].pop("status", None)
        if kind == "Pooler":
            schema["properties"]["spec"]["properties"]["template"] = {"type": "object"}
        schema["properties"]["metadata"] = {"type": "object"}
        path = Path(out_dir) / f"{kind.lower()}.json"
        path.write_text(json.dumps(trim(schema), sort_keys=True, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
