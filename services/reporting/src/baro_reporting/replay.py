"""`baro replay reporting --edition YEAR`: an edition's reports rendered again from the
streams alone (registration's events, audit-ingest's referentials, scoring's publications
and their documents, reporting's own editorial versions), each compared with the SHA-256
its `reporting.v1.report_rendered` announced: MATCH or MISMATCH per report.

The documents are built by the same code as the live service's (`documents`), from facts
folded by the same functions (`facts`); only where the facts come from differs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TextIO

from nats.js import JetStreamContext

from baro_chassis.nats import connect
from baro_chassis.settings import Settings
from baro_contracts.streams import (
    AUDIT_STREAM,
    REGISTRATION_STREAM,
    REPORTING_STREAM,
    SCORING_STREAM,
)
from baro_reporting.building import SYNTHESIS, Wanted, input_document, render_executor
from baro_reporting.consumers import fetch_document
from baro_reporting.documents import EditionContext
from baro_reporting.facts import (
    KEPT_REGISTRATION_EVENTS,
    Editorial,
    Publication,
    earlier_of,
    edition_facts,
    no_editorial,
    producer_position,
)
from baro_reporting.render import TEMPLATE_VERSION, render_pdf
from baro_reporting.streams import read_subject


@dataclass
class StreamFacts:
    registrations: list[tuple[int, str]] = field(default_factory=list)
    referentials: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    publications: list[Publication] = field(default_factory=list)
    editorials: dict[tuple[int, int], Editorial] = field(default_factory=dict)
    announced: list[dict[str, Any]] = field(default_factory=list)
    events: int = 0


async def read_streams(js: JetStreamContext, edition: int) -> StreamFacts:
    facts = StreamFacts()
    async for msg in read_subject(js, REGISTRATION_STREAM.name, "registration.v1.>"):
        facts.events += 1
        body = json.loads(msg.data)
        if body.get("event_type") in KEPT_REGISTRATION_EVENTS:
            facts.registrations.append((producer_position(body["event_id"])[1], msg.data.decode()))
    async for msg in read_subject(js, AUDIT_STREAM.name, "audit.v1.*.referential_published"):
        facts.events += 1
        body = json.loads(msg.data)
        position = producer_position(body["event_id"])[1]
        facts.referentials.setdefault(body["edition"], []).append((position, msg.data.decode()))
    async for msg in read_subject(js, SCORING_STREAM.name, "scoring.v1.*.results_published"):
        facts.events += 1
        body = json.loads(msg.data)
        facts.publications.append(
            Publication(
                edition=body["edition"],
                fingerprint=body["fingerprint"],
                method=body["method"],
                position=producer_position(body["event_id"])[1],
                published_at=datetime.fromisoformat(body["published_at"]),
                published_by=body["published_by"],
                included_through=body["included_through"],
                document={},
            )
        )
    async for msg in read_subject(js, REPORTING_STREAM.name, "reporting.v1.>"):
        facts.events += 1
        body = json.loads(msg.data)
        if body["event_type"] == "reporting.v1.editorial_revised":
            key = (body["edition"], body["editorial_version"])
            facts.editorials[key] = Editorial(body["edition"], key[1], body["content"])
        elif body["event_type"] == "reporting.v1.report_rendered" and body["edition"] == edition:
            facts.announced.append(body)
    return facts


async def with_checked_document(js: JetStreamContext, publication: Publication) -> Publication:
    """The publication with its document, fetched and checked as the live consumer does."""
    text = await fetch_document(
        js, publication.edition, publication.fingerprint, publication.method
    )
    return replace(publication, document=json.loads(text))


@dataclass(frozen=True)
class Verdict:
    announced: dict[str, Any]
    sha256: str | None
    reason: str = ""
    other_template: bool = False
    """Rendered with another template version than this build's: not rendered again."""

    @property
    def matches(self) -> bool:
        return self.sha256 is not None and self.sha256 == str(self.announced["sha256"])

    @property
    def status(self) -> str:
        if self.other_template:
            return "TEMPLATE"
        return "MATCH" if self.matches else "MISMATCH"


@dataclass
class Outcome:
    edition: int
    events: int
    verdicts: list[Verdict]

    @property
    def checked(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.other_template]

    @property
    def all_match(self) -> bool:
        return bool(self.checked) and all(v.matches for v in self.checked)


async def replay_edition(settings: Settings, edition: int, workers: int = 2) -> Outcome:
    nc = await connect(settings.nats_url, "reporting-replay")
    try:
        js = nc.jetstream()
        facts = await read_streams(js, edition)
        documents: dict[int, Publication] = {}

        async def document_of(publication: Publication) -> Publication:
            if publication.position not in documents:
                documents[publication.position] = await with_checked_document(js, publication)
            return documents[publication.position]

        verdicts: list[Verdict] = []
        work: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for announced in sorted(facts.announced, key=_order):
            publication = _publication_of(facts.publications, announced)
            if announced["template_version"] != TEMPLATE_VERSION:
                verdicts.append(
                    Verdict(
                        announced,
                        None,
                        f"rendered with template {announced['template_version']}, this build "
                        f"has {TEMPLATE_VERSION}: check it with that build",
                        other_template=True,
                    )
                )
                continue
            if publication is None:
                verdicts.append(Verdict(announced, None, "its publication is not in the stream"))
                continue
            editorial = (
                facts.editorials.get((edition, announced["editorial_version"]))
                if announced["editorial_version"]
                else no_editorial(edition)
            )
            if editorial is None:
                verdicts.append(
                    Verdict(announced, None, "its editorial version is not in the stream")
                )
                continue
            earlier = [await document_of(p) for p in earlier_of(facts.publications, publication)]
            context = EditionContext(
                edition_facts(
                    await document_of(publication),
                    facts.registrations,
                    facts.referentials.get(edition, []),
                    earlier,
                    editorial,
                ),
                TEMPLATE_VERSION,
            )
            want = Wanted(
                announced["kind"], announced["registration_id"], announced["editorial_version"]
            )
            work.append((announced, input_document(context, want)))
    finally:
        await nc.close()
    executor = render_executor(workers)
    loop = asyncio.get_running_loop()
    try:
        futures = [(a, loop.run_in_executor(executor, render_pdf, d)) for a, d in work]
        for announced, future in futures:
            verdicts.append(Verdict(announced, (await future).sha256))
    finally:
        executor.shutdown()
    return Outcome(edition, facts.events, sorted(verdicts, key=lambda v: _order(v.announced)))


def _order(announced: dict[str, Any]) -> tuple[int, str, str, str]:
    return (
        0 if announced["kind"] == SYNTHESIS else 1,
        announced["registration_id"] or "",
        announced["fingerprint"],
        str(announced["editorial_version"]),
    )


def _publication_of(
    publications: Iterable[Publication], announced: dict[str, Any]
) -> Publication | None:
    found = [
        p
        for p in publications
        if p.edition == announced["edition"] and p.fingerprint == announced["fingerprint"]
    ]
    return max(found, key=lambda p: p.position) if found else None


def report(outcome: Outcome, out: TextIO) -> None:
    for verdict in outcome.verdicts:
        a = verdict.announced
        what = (
            f"{a['kind']:<9} {a['registration_id'] or '-':<36} fingerprint {a['fingerprint'][:12]}"
        )
        if verdict.sha256 is None:
            detail = verdict.reason
        elif verdict.matches:
            detail = f"sha256 {verdict.sha256[:16]}"
        else:
            detail = f"announced {a['sha256'][:16]}, rendered {verdict.sha256[:16]}"
        print(f"{verdict.status:<9} {what}  {detail}", file=out)
    checked = outcome.checked
    matched = sum(1 for v in checked if v.matches)
    others = len(outcome.verdicts) - len(checked)
    print(
        f"edition {outcome.edition}: {matched} of {len(checked)} reports of template "
        f"{TEMPLATE_VERSION} MATCH"
        + (f"; {others} of other template versions not rendered again" if others else "")
        + f" ({outcome.events} events read)",
        file=out,
    )


def add_command(sub: Any) -> None:
    replay = sub.add_parser(
        "replay", help="render an edition's reports again from the streams and compare them"
    )
    replay.add_argument("--edition", type=int, required=True)
    replay.add_argument("--workers", type=int, default=2)


async def run_command(args: argparse.Namespace, settings: Settings) -> int:
    outcome = await replay_edition(settings, args.edition, args.workers)
    if not outcome.verdicts:
        print(f"no report of edition {args.edition} was announced on the streams", file=sys.stderr)
        return 2
    report(outcome, sys.stdout)
    return 0 if outcome.all_match else 1
