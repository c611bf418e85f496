"""The fault suite's table: one row per case, printed and written to .data/faults-table.txt
(quoted in the issue's closing note)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from fault_counts import Verdict

TABLE_FILE = Path(__file__).resolve().parents[2] / ".data" / "faults-table.txt"


@dataclass
class Row:
    fault: str
    probes: Verdict
    registrations: Verdict
    recovery_seconds: float | None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def cells(self) -> list[str]:
        def stages(v: Verdict) -> list[str]:
            return [str(len(v.acknowledged))] + [str(v.found(s)) for s in v.counts.stages]

        lost = sum(len(x) for v in (self.probes, self.registrations) for x in v.lost.values())
        duplicated = sum(
            len(x) for v in (self.probes, self.registrations) for x in v.duplicated.values()
        )
        recovery = "never" if self.recovery_seconds is None else f"{self.recovery_seconds:.1f}s"
        return [
            self.fault,
            *stages(self.probes),
            "/".join(stages(self.registrations)),
            str(lost),
            str(duplicated),
            recovery,
            "PASS" if not self.problems else "FAIL",
        ]


HEADER = [
    "fault",
    "acknowledged",
    "stored",
    "streamed",
    "scored",
    "registrations a/s/s/s/b",
    "lost",
    "dup",
    "recovery",
    "result",
]


def render(rows: list[Row]) -> str:
    table = [HEADER, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    lines = [
        f"Fault suite, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: probes acknowledged (200/201) vs "
        "stored vs streamed vs scored; registrations the same and billed, a/s/s/s/b; "
        "recovery = from the fault until writes succeed again, the killed part is ready and "
        "every write acknowledged before the fault is scored (bar: 30 s)",
        "",
    ]
    for number, line in enumerate(table):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    for row in rows:
        for said in row.problems + row.notes:
            lines.append(f"  {row.fault}: {said}")
    return "\n".join(lines) + "\n"


def publish(rows: list[Row], extra: list[str]) -> str:
    text = render(rows) + "".join(f"{line}\n" for line in extra)
    TABLE_FILE.parent.mkdir(parents=True, exist_ok=True)
    TABLE_FILE.write_text(text)
    return text
