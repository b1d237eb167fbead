"""The figures: what each round did, the tallies per fault kind, and the final table."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from bench.fault_campaign.sampler import Sampler
from bench.fault_campaign.settings import KINDS


@dataclass
class Tally:
    injected: int = 0
    failed: int = 0  # the fault could not be injected (it is then neither recovered)
    recovered: int = 0
    times: list[float] = field(default_factory=list)
    lost: int = 0
    doubles: int = 0
    hands: int = 0
    readies: int = 0
    fenced: int = 0


@dataclass
class Round:
    index: int
    kind: str
    node: str
    note: str = ""
    injected: bool = True
    recovered: bool = False
    took: float = 0.0
    lost: list[str] = field(default_factory=list)
    hands: bool = False
    readied: list[str] = field(default_factory=list)
    fenced: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)


def table(tallies: dict[str, Tally], sampler: Sampler) -> str:
    head = (f"{'fault':16}{'injected':>9}{'failed':>7}{'recovered':>10}{'median s':>9}{'max s':>7}"
            f"{'VMs lost':>9}{'double':>7}{'hands':>6}{'ready':>6}{'fenced':>7}")
    lines = [head, "-" * len(head)]
    total = Tally()
    for kind in KINDS:
        t = tallies[kind]
        med = f"{statistics.median(t.times):.1f}" if t.times else "-"
        mx = f"{max(t.times):.1f}" if t.times else "-"
        lines.append(f"{kind:16}{t.injected:>9}{t.failed:>7}{t.recovered:>10}{med:>9}{mx:>7}{t.lost:>9}"
                     f"{t.doubles:>7}{t.hands:>6}{t.readies:>6}{t.fenced:>7}")
        total.injected += t.injected
        total.failed += t.failed
        total.recovered += t.recovered
        total.times += t.times
        total.lost += t.lost
        total.doubles += t.doubles
        total.hands += t.hands
        total.readies += t.readies
        total.fenced += t.fenced
    med = f"{statistics.median(total.times):.1f}" if total.times else "-"
    mx = f"{max(total.times):.1f}" if total.times else "-"
    lines += ["-" * len(head),
              f"{'all':16}{total.injected:>9}{total.failed:>7}{total.recovered:>10}{med:>9}{mx:>7}"
              f"{total.lost:>9}{total.doubles:>7}{total.hands:>6}{total.readies:>6}"
              f"{total.fenced:>7}",
              f"(failed: the fault could not be injected; recovered: healthy within "
              f"--settle without hands; median/max: fault to "
              f"healthy, of those; ready: `node ready` runs; fenced: nodes power-cycled by "
              f"the cluster; {sampler.samples} libvirt samples ({sampler.rate:.1f}/s), "
              f"{sampler.suspects} "
              f"two-node sightings not confirmed in both orders)"]
    return "\n".join(lines)
