"""Campaign commands over the services' HTTP APIs.

- `generate`: registers a realistic panel for an edition in the registration service, closes
  it, waits for audit-ingest's plans, and writes one probe per planned slot as JSON lines.
- `import`: posts a JSON-lines file of probes (one object per line, with its `edition`);
  idempotent (a probe already recorded answers 200), with a progress bar; each rejected line
  is reported with its reason and the rest go on.
- `demo`: generate and import a demo edition when that edition does not exist yet.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from baro_audit_ingest.generator import edition_dates, probes_for_plan, structures
from baro_audit_ingest.referential import ReferentialDocument
from baro_chassis.auth import Role, issue_token
from baro_chassis.settings import Settings

DEFAULT_REGISTRATION_URL = "http://127.0.0.1:8001"
DEFAULT_AUDIT_URL = "http://127.0.0.1:8002"
RETRYABLE = {429, 502, 503, 504}


def _headers(role: Role) -> dict[str, str]:
    """A short-lived token signed with BARO_JWT_SECRET (the dev-only secret on a local stack)."""
    secret = Settings.from_env("audit-ingest").jwt_secret
    token = issue_token(secret, roles=(role,), subject=f"campaign-{role.value}")
    return {"Authorization": f"Bearer {token}"}


def _check(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 400:
        raise SystemExit(f"{what} failed: {response.status_code} {response.text}")
    return response.json()


# --- generate -----------------------------------------------------------------------------


def register_panel(registration_url: str, year: int, count: int, seed: int) -> list[dict[str, Any]]:
    """Register `count` structures (those not registered yet), close the edition; returns
    every registration of the edition after the close."""
    admin = _headers(Role.ADMIN)
    with httpx.Client(base_url=registration_url, headers=admin, timeout=60) as client:
        if client.get(f"/editions/{year}").status_code == 404:
            _check(client.post("/editions", json=edition_dates(year)), f"opening edition {year}")
        known = {
            r["siret"] for r in _check(client.get(f"/editions/{year}/registrations"), "listing")
        }
        edition = _check(client.get(f"/editions/{year}"), "reading the edition")
        for body in structures(count, seed, year):
            if body["siret"] not in known and edition.get("closed_at") is None:
                _check(client.post(f"/editions/{year}/registrations", json=body), "registering")
        if edition.get("closed_at") is None:
            _check(client.post(f"/editions/{year}/close"), "closing registration")
        return list(_check(client.get(f"/editions/{year}/registrations"), "listing"))


def wait_for_plans(
    audit_url: str, year: int, registration_ids: list[str], timeout: float = 120
) -> list[dict[str, Any]]:
    auditor = _headers(Role.AUDITOR)
    plans = []
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=audit_url, headers=auditor, timeout=60) as client:
        for registration_id in registration_ids:
            while (
                response := client.get(f"/editions/{year}/plans/{registration_id}")
            ).status_code != 200:
                if time.monotonic() > deadline:
                    raise SystemExit(
                        f"no plan for {registration_id} after {timeout}s: {response.text}"
                    )
                time.sleep(0.1)
            plans.append(response.json())
    return plans


def generate(
    *, year: int, count: int, seed: int, out: Path, registration_url: str, audit_url: str
) -> int:
    started = time.monotonic()
    registrations = register_panel(registration_url, year, count, seed)
    ours = {b["siret"] for b in structures(count, seed, year)}
    panel = [r for r in registrations if r["status"] == "in_panel" and r["siret"] in ours]
    panel.sort(key=lambda r: r["siret"])
    plans = wait_for_plans(audit_url, year, [r["registration_id"] for r in panel])
    with httpx.Client(base_url=audit_url, headers=_headers(Role.AUDITOR), timeout=60) as client:
        referential = ReferentialDocument.from_json(
            _check(client.get(f"/editions/{year}/referential"), "reading the referential")
        )
    lines = 0
    with out.open("w", encoding="utf-8") as file:
        for registration, plan in zip(panel, plans, strict=True):
            for probe in probes_for_plan(
                plan=plan,
                referential=referential,
                certified=bool(registration["certifications"]),
                seed=seed,
                year=year,
            ):
                file.write(json.dumps(probe, ensure_ascii=False) + "\n")
                lines += 1
    print(
        f"edition {year}: {len(registrations)} registrations, {len(panel)} in the panel, "
        f"{lines} probes written to {out} in {time.monotonic() - started:.1f}s"
    )
    return 0


# --- import -------------------------------------------------------------------------------


@dataclass
class ImportReport:
    recorded: int = 0
    already_present: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def lines(self) -> int:
        return self.recorded + self.already_present + len(self.rejected)

    def summary(self) -> str:
        rate = self.lines / self.seconds if self.seconds else 0.0
        return (
            f"{self.lines} lines in {self.seconds:.1f}s ({rate:.0f}/s): {self.recorded} recorded, "
            f"{self.already_present} already present, {len(self.rejected)} rejected"
        )


Line = tuple[int, dict[str, Any]]
"""A probe of the file, with its line number."""


def parse_line(text: str) -> tuple[int, dict[str, Any]]:
    """(edition, probe) from one line; ValueError says why it is not a probe."""
    try:
        probe = json.loads(text)
        edition = int(probe.pop("edition"))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"not a probe with its edition ({type(exc).__name__}: {exc})") from exc
    return edition, probe


async def _post_batch(
    client: httpx.AsyncClient, edition: int, batch: list[Line], report: ImportReport, bar: tqdm
) -> None:
    """One request for the batch; probes the service could not take now are sent again."""
    waiting = batch
    reason = ""
    for attempt in range(6):
        try:
            response = await client.post(
                f"/editions/{edition}/probes/batch", json={"probes": [p for _, p in waiting]}
            )
        except httpx.TransportError as exc:
            reason = f"the service did not answer ({exc!r})"
        else:
            if response.status_code == 200:
                waiting, reason = _count(waiting, response.json()["results"], report, bar)
                if not waiting:
                    return
            else:
                reason = _reason(response)
                if response.status_code not in RETRYABLE:
                    break
        await asyncio.sleep(0.2 * 2**attempt)
    for number, _ in waiting:
        _reject(report, bar, number, reason)
    bar.update(len(waiting))


def _count(
    sent: list[Line], results: list[dict[str, Any]], report: ImportReport, bar: tqdm
) -> tuple[list[Line], str]:
    """Account for each probe's result; returns those to send again, and why."""
    again: list[Line] = []
    reason = ""
    for (number, probe), result in zip(sent, results, strict=True):
        status = result["status"]
        if status == 201:
            report.recorded += 1
        elif status == 200:
            report.already_present += 1
        elif status in RETRYABLE:
            again.append((number, probe))
            reason = _refusal(status, result["error"])
        else:
            _reject(report, bar, number, _refusal(status, result["error"]))
    bar.update(len(sent) - len(again))
    return again, reason


def _refusal(status: int, body: dict[str, Any]) -> str:
    return f"{status} {body['error']}: {body['message']}"


def _reason(response: httpx.Response) -> str:
    try:
        return _refusal(response.status_code, response.json())
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code}: {response.text[:300]}"


def _reject(report: ImportReport, bar: tqdm, number: int, reason: str) -> None:
    report.rejected.append((number, reason))
    bar.write(f"line {number}: rejected: {reason}", file=sys.stderr)


def read_lines(path: Path) -> list[tuple[int, str]]:
    """The file's non-blank lines with their line numbers (from 1)."""
    text = path.read_text(encoding="utf-8")
    return [
        (number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()
    ]


async def import_probes(
    lines: list[tuple[int, str]],
    audit_url: str,
    concurrency: int = 4,
    progress: bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
    batch_size: int = 100,
) -> ImportReport:
    """Post the probes `batch_size` at a time (consecutive lines of one edition), `concurrency`
    batches in flight; every line ends recorded, already present, or rejected with why."""
    report = ImportReport()
    started = time.monotonic()
    batches: asyncio.Queue[tuple[int, list[Line]]] = asyncio.Queue()
    with tqdm(total=len(lines), unit="probe", disable=not progress, file=sys.stderr) as bar:
        current: tuple[int, list[Line]] | None = None
        for number, text in lines:
            try:
                edition, probe = parse_line(text)
            except ValueError as exc:
                _reject(report, bar, number, str(exc))
                bar.update()
                continue
            if current is None or current[0] != edition or len(current[1]) >= batch_size:
                current = (edition, [])
                batches.put_nowait(current)
            current[1].append((number, probe))
        async with httpx.AsyncClient(
            base_url=audit_url,
            headers=_headers(Role.AUDITOR),
            timeout=120,
            transport=transport,
        ) as client:

            async def worker() -> None:
                while not batches.empty():
                    edition, batch = batches.get_nowait()
                    await _post_batch(client, edition, batch, report, bar)

            await asyncio.gather(*(worker() for _ in range(concurrency)))
    report.rejected.sort()
    report.seconds = time.monotonic() - started
    return report


# --- demo ---------------------------------------------------------------------------------


def demo(*, year: int, count: int, seed: int, registration_url: str, audit_url: str) -> int:
    with httpx.Client(
        base_url=registration_url, headers=_headers(Role.ADMIN), timeout=30
    ) as client:
        if client.get(f"/editions/{year}").status_code != 404:
            print(f"demo: edition {year} already exists; nothing to load")
            return 0
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"demo-{year}.jsonl"
        generate(
            year=year,
            count=count,
            seed=seed,
            out=path,
            registration_url=registration_url,
            audit_url=audit_url,
        )
        report = asyncio.run(import_probes(read_lines(path), audit_url, progress=False))
    print(f"demo: edition {year} loaded: {report.summary()}")
    return 0 if not report.rejected else 1


# --- command line -------------------------------------------------------------------------


def add_commands(sub: Any) -> None:
    generate_cmd = sub.add_parser(
        "generate", help="register a realistic panel and write its probes as JSON lines"
    )
    generate_cmd.add_argument("--edition", type=int, required=True)
    generate_cmd.add_argument("--structures", type=int, default=300)
    generate_cmd.add_argument("--seed", type=int, default=1)
    generate_cmd.add_argument("--out", type=Path, required=True)
    import_cmd = sub.add_parser("import", help="post a JSON-lines file of probes")
    import_cmd.add_argument("file", type=Path)
    import_cmd.add_argument("--concurrency", type=int, default=4, help="batches in flight")
    import_cmd.add_argument("--batch-size", type=int, default=100, help="probes per request")
    demo_cmd = sub.add_parser("demo", help="load a demo edition if it does not exist yet")
    demo_cmd.add_argument("--edition", type=int, required=True)
    demo_cmd.add_argument("--structures", type=int, default=60)
    demo_cmd.add_argument("--seed", type=int, default=1)
    for command in (generate_cmd, import_cmd, demo_cmd):
        command.add_argument("--audit-url", default=DEFAULT_AUDIT_URL)
    for command in (generate_cmd, demo_cmd):
        command.add_argument("--registration-url", default=DEFAULT_REGISTRATION_URL)


def run_command(args: argparse.Namespace) -> int:
    if args.command == "generate":
        return generate(
            year=args.edition,
            count=args.structures,
            seed=args.seed,
            out=args.out,
            registration_url=args.registration_url,
            audit_url=args.audit_url,
        )
    if args.command == "import":
        report = asyncio.run(
            import_probes(
                read_lines(args.file),
                args.audit_url,
                concurrency=args.concurrency,
                batch_size=args.batch_size,
            )
        )
        print(report.summary())
        return 0 if not report.rejected else 1
    return demo(
        year=args.edition,
        count=args.structures,
        seed=args.seed,
        registration_url=args.registration_url,
        audit_url=args.audit_url,
    )
