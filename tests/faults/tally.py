"""What the fault suite did, for the line it ends with: faults injected, survived, records lost, duplicates."""

from __future__ import annotations

from collections.abc import Mapping

from tests.support import report

REPORT = "faults"


class Tally:
    def fault(self, survived: bool) -> None:
        report.add(REPORT, injected=1, survived=int(survived))

    def books(self, *, expected: int, found: int) -> None:
        """Documents the platform handed over against what the accounting system holds afterwards."""
        report.add(REPORT, lost=max(0, expected - found), duplicates=max(0, found - expected))


@report.line(REPORT)
def line(counts: Mapping[str, int]) -> str:
    return (f"faults injected {counts.get('injected', 0)}, survived {counts.get('survived', 0)}, records lost "
            f"{counts.get('lost', 0)}, duplicates {counts.get('duplicates', 0)}")


TALLY = Tally()
