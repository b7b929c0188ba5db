"""Load-test bookkeeping that Locust does not do: exact latency percentiles, per-sequence loss and
duplicate accounting, counters. Everything here is pure Python and *mergeable*: a Locust worker ships
deltas to the master in its stats report and the master merges them, so a distributed run gives the
same verdict as a local one.

Loss accounting (fan-out):
- A publisher numbers its notifications per audience (``aseq`` = 0, 1, 2 … for each (publisher,
  audience)) and records when each POST was sent and when its 202 arrived.
- A receiver records when it joined each audience (the handshake or Subscribe completion, after which
  the gateway guarantees delivery — docs/contract.md §3) and when it stopped listening, and keeps
  the ``aseq`` it received per (publisher, audience) as ranges.
- A notification is *expected* at a receiver when the receiver had joined its audience before the
  POST was sent (+ ``skew_ms`` for clocks of different machines) and its 202 arrived at least
  ``grace_ms`` before the receiver stopped listening. Expected and not received = lost; received twice
  = duplicate; received for an audience the receiver never joined = misrouted.
Because the ``aseq`` of one (publisher, audience) are consecutive, the check is range arithmetic, not a
per-delivery loop, and stays cheap with 10k receivers × 100k notifications.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any, Iterable

# --------------------------------------------------------------------------- histogram

_LOG_BASE = math.log(1.01)  # 1 % relative precision


class Histogram:
    """Log-bucketed latency histogram in milliseconds (1 % precision, 1 µs floor), HDR-style.

    Unlike Locust's own stats it keeps sub-millisecond resolution, which loopback fan-out needs.
    """

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.count = 0
        self.total_ms = 0.0
        self.min_ms = math.inf
        self.max_ms = 0.0
        self.negative = 0  # samples below 0 (clock skew between machines): recorded as 0

    @staticmethod
    def bucket(value_ms: float) -> int:
        micros = value_ms * 1000.0
        if micros < 1.0:
            return -1
        return int(math.log(micros) / _LOG_BASE)

    @staticmethod
    def bucket_value(index: int) -> float:
        """Upper edge of a bucket, in ms (so a percentile never under-reports)."""
        if index < 0:
            return 0.001
        return math.exp((index + 1) * _LOG_BASE) / 1000.0

    def record(self, value_ms: float, count: int = 1) -> None:
        if value_ms < 0:
            self.negative += count
            value_ms = 0.0
        index = self.bucket(value_ms)
        self.counts[index] = self.counts.get(index, 0) + count
        self.count += count
        self.total_ms += value_ms * count
        self.min_ms = min(self.min_ms, value_ms)
        self.max_ms = max(self.max_ms, value_ms)

    def percentile(self, fraction: float) -> float:
        """Value (ms) at or below which ``fraction`` of samples lie; 0 when empty."""
        if self.count == 0:
            return 0.0
        rank = max(1, math.ceil(fraction * self.count))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return min(self.bucket_value(index), self.max_ms) if index >= 0 else min(0.001, self.max_ms)
        return self.max_ms

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.count if self.count else 0.0

    def summary(self) -> dict[str, float]:
        return {
            "count": self.count,
            "min": 0.0 if self.count == 0 else self.min_ms,
            "mean": self.mean_ms,
            "p50": self.percentile(0.50),
            "p90": self.percentile(0.90),
            "p95": self.percentile(0.95),
            "p99": self.percentile(0.99),
            "p999": self.percentile(0.999),
            "max": self.max_ms,
        }

    def to_wire(self) -> dict[str, Any]:
        return {
            "c": [[k, v] for k, v in self.counts.items()],
            "n": self.count,
            "t": self.total_ms,
            "lo": None if self.count == 0 else self.min_ms,
            "hi": self.max_ms,
            "neg": self.negative,
        }

    def merge_wire(self, data: dict[str, Any]) -> None:
        for k, v in data["c"]:
            self.counts[int(k)] = self.counts.get(int(k), 0) + int(v)
        self.count += data["n"]
        self.total_ms += data["t"]
        if data["lo"] is not None:
            self.min_ms = min(self.min_ms, data["lo"])
        self.max_ms = max(self.max_ms, data["hi"])
        self.negative += data.get("neg", 0)


def format_summary(name: str, summary: dict[str, float]) -> str:
    return (
        f"{name}: n={int(summary['count'])} p50={summary['p50']:.2f}ms p90={summary['p90']:.2f}ms p95={summary['p95']:.2f}ms "
        f"p99={summary['p99']:.2f}ms p99.9={summary['p999']:.2f}ms max={summary['max']:.2f}ms"
    )


# --------------------------------------------------------------------------- range set

class RangeSet:
    """A set of non-negative integers stored as sorted, disjoint, inclusive ranges.

    ``add`` is O(1) for in-order input (the common case: one audience from one producer is ordered).
    """

    def __init__(self, ranges: Iterable[Iterable[int]] = ()) -> None:
        self.ranges: list[list[int]] = []
        for lo, hi in ranges:
            self.add_range(lo, hi)

    def add_range(self, lo: int, hi: int) -> None:
        """Adds every value of [lo, hi], merging with neighbouring ranges."""
        ranges = self.ranges
        i = bisect.bisect_left(ranges, [lo, -math.inf])  # first range starting at or after lo
        if i > 0 and ranges[i - 1][1] >= lo - 1:
            i -= 1
        j = i
        new_lo, new_hi = lo, hi
        while j < len(ranges) and ranges[j][0] <= hi + 1:
            new_lo = min(new_lo, ranges[j][0])
            new_hi = max(new_hi, ranges[j][1])
            j += 1
        ranges[i:j] = [[new_lo, new_hi]]

    def add(self, value: int) -> bool:
        """Adds ``value``; False when it was already present (a duplicate)."""
        ranges = self.ranges
        if not ranges or value > ranges[-1][1] + 1:
            ranges.append([value, value])
            return True
        if value == ranges[-1][1] + 1:
            ranges[-1][1] = value
            return True
        i = bisect.bisect_right(ranges, [value, math.inf]) - 1  # last range starting at or before value
        if i >= 0 and ranges[i][0] <= value <= ranges[i][1]:
            return False
        left = i >= 0 and ranges[i][1] == value - 1
        right = i + 1 < len(ranges) and ranges[i + 1][0] == value + 1
        if left and right:
            ranges[i][1] = ranges[i + 1][1]
            del ranges[i + 1]
        elif left:
            ranges[i][1] = value
        elif right:
            ranges[i + 1][0] = value
        else:
            ranges.insert(i + 1, [value, value])
        return True

    def __contains__(self, value: int) -> bool:
        i = bisect.bisect_right(self.ranges, [value, math.inf]) - 1
        return i >= 0 and self.ranges[i][0] <= value <= self.ranges[i][1]

    def __len__(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.ranges)

    def count_in(self, lo: int, hi: int) -> int:
        """How many members lie in [lo, hi]."""
        if hi < lo:
            return 0
        total = 0
        for a, b in self.ranges:
            if b < lo:
                continue
            if a > hi:
                break
            total += min(b, hi) - max(a, lo) + 1
        return total

    def missing_in(self, lo: int, hi: int, limit: int = 5) -> list[tuple[int, int]]:
        """Up to ``limit`` gaps (inclusive ranges) within [lo, hi]."""
        gaps: list[tuple[int, int]] = []
        cursor = lo
        for a, b in self.ranges:
            if b < cursor:
                continue
            if a > hi:
                break
            if a > cursor:
                gaps.append((cursor, min(a - 1, hi)))
                if len(gaps) >= limit:
                    return gaps
            cursor = max(cursor, b + 1)
        if cursor <= hi and len(gaps) < limit:
            gaps.append((cursor, hi))
        return gaps


# --------------------------------------------------------------------------- fan-out ledger

@dataclass
class PublishSeries:
    """Notifications of one publisher to one audience, indexed by ``aseq``."""

    send_ms: list[float] = field(default_factory=list)
    ack_ms: list[float | None] = field(default_factory=list)  # None: the POST failed (not expected anywhere)
    shipped: int = 0  # how many entries were already sent to the master (workers only)

    def set(self, aseq: int, send_ms: float, ack_ms: float | None) -> None:
        while len(self.send_ms) <= aseq:
            self.send_ms.append(math.inf)
            self.ack_ms.append(None)
        self.send_ms[aseq] = send_ms
        self.ack_ms[aseq] = ack_ms

    def failed_in(self, lo: int, hi: int) -> list[int]:
        return [i for i in range(lo, hi + 1) if self.ack_ms[i] is None]


@dataclass
class ReceiverRecord:
    rid: str
    joined: dict[str, float] = field(default_factory=dict)  # audience key → joined at (epoch ms)
    joining: set[str] = field(default_factory=set)  # Subscribe sent, completion not yet received
    closed_ms: float | None = None
    got: dict[tuple[str, str], RangeSet] = field(default_factory=dict)  # (publisher, audience) → aseq received
    duplicates: int = 0
    misrouted: int = 0

    def to_wire(self) -> dict[str, Any]:
        return {
            "rid": self.rid,
            "joined": self.joined,
            "closed": self.closed_ms,
            "got": [[pub, aud, rs.ranges] for (pub, aud), rs in self.got.items()],
            "dup": self.duplicates,
            "mis": self.misrouted,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> "ReceiverRecord":
        record = cls(data["rid"], dict(data["joined"]), data["closed"], duplicates=data["dup"], misrouted=data["mis"])
        for pub, aud, ranges in data["got"]:
            rs = RangeSet()
            rs.ranges = [list(r) for r in ranges]
            record.got[(pub, aud)] = rs
        return record


class FanoutLedger:
    """Publish log + receiver records → expected / received / lost / duplicate / misrouted counts."""

    def __init__(self) -> None:
        self.series: dict[tuple[str, str], PublishSeries] = {}
        self.receivers: dict[str, ReceiverRecord] = {}
        self.finished: list[ReceiverRecord] = []  # closed receivers not yet shipped (workers)

    # publisher side
    def record_publish(self, pub: str, aud: str, aseq: int, send_ms: float, ack_ms: float | None) -> None:
        self.series.setdefault((pub, aud), PublishSeries()).set(aseq, send_ms, ack_ms)

    # receiver side
    def receiver(self, rid: str) -> ReceiverRecord:
        record = self.receivers.get(rid)
        if record is None:
            record = self.receivers[rid] = ReceiverRecord(rid)
        return record

    def joining(self, rid: str, aud: str) -> None:
        """Subscribe was sent: the server may deliver the audience before its completion arrives
        (it joins, replays, then completes), so receipts for it are not misrouted from now on."""
        self.receiver(rid).joining.add(aud)

    def join_failed(self, rid: str, aud: str) -> None:
        self.receiver(rid).joining.discard(aud)

    def joined(self, rid: str, aud: str, at_ms: float) -> None:
        record = self.receiver(rid)
        record.joining.discard(aud)
        record.joined.setdefault(aud, at_ms)

    def received(self, rid: str, pub: str, aud: str, aseq: int) -> bool:
        """Records a receipt; False when it is a duplicate or for an audience the receiver never joined."""
        record = self.receiver(rid)
        if aud not in record.joined and aud not in record.joining:
            record.misrouted += 1
            return False
        rs = record.got.get((pub, aud))
        if rs is None:
            rs = record.got[(pub, aud)] = RangeSet()
        if not rs.add(aseq):
            record.duplicates += 1
            return False
        return True

    def closed(self, rid: str, at_ms: float) -> None:
        record = self.receivers.get(rid)
        if record is not None and record.closed_ms is None:
            record.closed_ms = at_ms

    # distribution
    def take_delta(self) -> dict[str, Any]:
        """Worker → master: new publish entries and receivers that closed since the last call."""
        pubs = []
        for (pub, aud), series in self.series.items():
            # only complete entries (a missing aseq is still in flight) are shipped
            end = series.shipped
            while end < len(series.send_ms) and series.send_ms[end] != math.inf:
                end += 1
            if end > series.shipped:
                pubs.append([pub, aud, series.shipped, series.send_ms[series.shipped:end], series.ack_ms[series.shipped:end]])
                series.shipped = end
        done = [rid for rid, r in self.receivers.items() if r.closed_ms is not None]
        receivers = [self.receivers.pop(rid).to_wire() for rid in done]
        return {"pubs": pubs, "recv": receivers}

    def merge_delta(self, delta: dict[str, Any]) -> None:
        for pub, aud, start, sends, acks in delta.get("pubs", []):
            series = self.series.setdefault((pub, aud), PublishSeries())
            for i, (s, a) in enumerate(zip(sends, acks)):
                series.set(start + i, s, a)
        for data in delta.get("recv", []):
            record = ReceiverRecord.from_wire(data)
            self.receivers[record.rid] = record

    # verdict
    def evaluate(self, now_ms: float, grace_ms: float = 1000.0, skew_ms: float = 0.0, sample_limit: int = 5) -> dict[str, Any]:
        expected = received = lost = 0
        samples: list[str] = []
        by_audience: dict[str, set[tuple[str, str]]] = {}
        for pub, aud in self.series:
            by_audience.setdefault(aud, set()).add((pub, aud))
        duplicates = sum(r.duplicates for r in self.receivers.values())
        misrouted = sum(r.misrouted for r in self.receivers.values())
        for record in self.receivers.values():
            end = (record.closed_ms if record.closed_ms is not None else now_ms) - grace_ms
            for aud, joined in record.joined.items():
                for key in by_audience.get(aud, ()):
                    series = self.series[key]
                    lo = bisect.bisect_left(series.send_ms, joined + skew_ms)
                    hi = bisect.bisect_right(series.send_ms, end) - 1
                    # the tail: 202 too close to the receiver's end (failed POSTs there are dropped too)
                    while hi >= lo and (series.ack_ms[hi] is None or series.ack_ms[hi] > end):
                        hi -= 1
                    if hi < lo:
                        continue
                    failed = series.failed_in(lo, hi) if None in series.ack_ms[lo : hi + 1] else []
                    n_expected = (hi - lo + 1) - len(failed)
                    got = record.got.get(key)
                    n_got = 0
                    if got is not None:
                        n_got = got.count_in(lo, hi) - sum(1 for i in failed if i in got)
                    expected += n_expected
                    received += n_got
                    if n_got < n_expected:
                        lost += n_expected - n_got
                        if len(samples) < sample_limit:
                            gaps = (got or RangeSet()).missing_in(lo, hi)
                            samples.append(f"receiver {record.rid} missed {key[1]} from {key[0]}: aseq {gaps}")
        return {
            "expected": expected,
            "received": received,
            "lost": lost,
            "duplicates": duplicates,
            "misrouted": misrouted,
            "receivers": len(self.receivers),
            "published": sum(sum(1 for a in s.ack_ms if a is not None) for s in self.series.values()),
            "publish_failed": sum(sum(1 for a in s.ack_ms if a is None) for s in self.series.values()),
            "samples": samples,
        }


# --------------------------------------------------------------------------- telemetry bundle

class Telemetry:
    """Histograms, counters, skip notes and a fan-out ledger, with worker→master delta shipping."""

    def __init__(self) -> None:
        self.histograms: dict[str, Histogram] = {}
        self.counters: dict[str, int] = {}
        self.notes: dict[str, str] = {}  # e.g. capability → reason it was skipped
        self.ledger = FanoutLedger()
        self._hist_delta: dict[str, Histogram] = {}
        self._counter_delta: dict[str, int] = {}
        self._notes_shipped: set[tuple[str, str]] = set()

    def histogram(self, name: str) -> Histogram:
        h = self.histograms.get(name)
        if h is None:
            h = self.histograms[name] = Histogram()
        return h

    def observe(self, name: str, value_ms: float) -> None:
        self.histogram(name).record(value_ms)
        d = self._hist_delta.get(name)
        if d is None:
            d = self._hist_delta[name] = Histogram()
        d.record(value_ms)

    def incr(self, name: str, by: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + by
        self._counter_delta[name] = self._counter_delta.get(name, 0) + by

    def count(self, name: str) -> int:
        return self.counters.get(name, 0)

    def note(self, key: str, text: str) -> None:
        self.notes[key] = text

    def take_delta(self) -> dict[str, Any]:
        delta = {
            "h": {name: h.to_wire() for name, h in self._hist_delta.items()},
            "c": dict(self._counter_delta),
            "n": [[k, v] for k, v in self.notes.items() if (k, v) not in self._notes_shipped],
            "l": self.ledger.take_delta(),
        }
        self._notes_shipped.update((k, v) for k, v in delta["n"])
        self._hist_delta.clear()
        self._counter_delta.clear()
        return delta

    def merge_delta(self, delta: dict[str, Any]) -> None:
        for name, wire in delta.get("h", {}).items():
            self.histogram(name).merge_wire(wire)
        for name, value in delta.get("c", {}).items():
            self.counters[name] = self.counters.get(name, 0) + value
        for key, text in delta.get("n", []):
            self.notes[key] = text
        self.ledger.merge_delta(delta.get("l", {}))

    def reset(self) -> None:
        self.__init__()
