import math
import random

from tidings_load.stats import FanoutLedger, Histogram, RangeSet, Telemetry


def test_histogram_percentiles_within_one_percent():
    h = Histogram()
    for v in range(1, 10001):
        h.record(v / 10)  # 0.1 … 1000 ms
    for q, exact in [(0.5, 500.0), (0.99, 990.0), (0.999, 999.0)]:
        assert abs(h.percentile(q) - exact) / exact <= 0.011
    assert h.percentile(1.0) == 1000.0
    assert h.count == 10000 and math.isclose(h.mean_ms, 500.05)


def test_histogram_sub_millisecond_and_negative():
    h = Histogram()
    h.record(0.25)
    h.record(-3)  # clock skew
    assert h.negative == 1
    assert 0 <= h.percentile(0.5) <= 0.26


def test_histogram_merge_equals_single():
    a, b, both = Histogram(), Histogram(), Histogram()
    for i in range(1000):
        v = random.expovariate(1 / 5)
        (a if i % 2 else b).record(v)
        both.record(v)
    a.merge_wire(b.to_wire())
    assert a.count == both.count and a.percentile(0.99) == both.percentile(0.99) and a.max_ms == both.max_ms


def test_rangeset_detects_duplicates_and_counts():
    rs = RangeSet()
    for v in [0, 1, 2, 5, 4, 3, 9]:
        assert rs.add(v)
    assert not rs.add(3)
    assert rs.ranges == [[0, 5], [9, 9]]
    assert len(rs) == 7 and 7 not in rs and 9 in rs
    assert rs.count_in(4, 9) == 3
    assert rs.missing_in(0, 10) == [(6, 8), (10, 10)]
    rs.add_range(6, 20)
    assert rs.ranges == [[0, 20]]


def test_rangeset_random_matches_a_set():
    rs, ref = RangeSet(), set()
    for _ in range(2000):
        v = random.randrange(300)
        assert rs.add(v) == (v not in ref)
        ref.add(v)
    assert len(rs) == len(ref)
    assert rs.count_in(50, 149) == len([v for v in ref if 50 <= v <= 149])


def _ledger_with(received):
    """One publisher, 10 notifications to `global` sent at t=1000+100·i and acked 5 ms later."""
    ledger = FanoutLedger()
    for i in range(10):
        ledger.record_publish("p", "global", i, 1000 + 100 * i, 1005 + 100 * i)
    ledger.joined("r1", "global", 950)
    for i in received:
        ledger.received("r1", "p", "global", i)
    ledger.closed("r1", 5000)
    return ledger


def test_ledger_no_loss():
    result = _ledger_with(range(10)).evaluate(now_ms=6000, grace_ms=1000)
    assert (result["expected"], result["received"], result["lost"], result["duplicates"]) == (10, 10, 0, 0)


def test_ledger_counts_gaps_duplicates_and_misrouting():
    ledger = _ledger_with([0, 1, 2, 4, 4, 5, 6, 7, 8, 9])
    ledger.received("r1", "p", "group:never-joined", 0)
    result = ledger.evaluate(now_ms=6000, grace_ms=1000)
    assert result["lost"] == 1 and result["duplicates"] == 1 and result["misrouted"] == 1
    assert "aseq [(3, 3)]" in result["samples"][0]


def test_ledger_window_excludes_before_join_and_after_close():
    ledger = FanoutLedger()
    for i in range(10):
        ledger.record_publish("p", "global", i, 1000 + 100 * i, 1005 + 100 * i)
    ledger.joined("late", "global", 1250)  # joined after #2 was sent: expects 3…
    ledger.closed("late", 1605 + 1000)  # …and stopped listening: 202 of #6 at 1605 ≤ 2605 − 1000, #7 not
    for i in (3, 4, 5, 6):
        ledger.received("late", "p", "global", i)
    result = ledger.evaluate(now_ms=9000, grace_ms=1000)
    assert (result["expected"], result["lost"]) == (4, 0)


def test_ledger_failed_publish_is_not_expected():
    ledger = FanoutLedger()
    ledger.record_publish("p", "global", 0, 1000, 1001)
    ledger.record_publish("p", "global", 1, 1100, None)  # POST failed
    ledger.record_publish("p", "global", 2, 1200, 1201)
    ledger.joined("r", "global", 900)
    ledger.received("r", "p", "global", 0)
    ledger.received("r", "p", "global", 2)
    result = ledger.evaluate(now_ms=9000)
    assert (result["expected"], result["lost"], result["publish_failed"]) == (2, 0, 1)


def test_worker_deltas_merge_to_the_same_verdict():
    worker_a, worker_b, master = Telemetry(), Telemetry(), Telemetry()
    for i in range(5):
        worker_a.ledger.record_publish("pa", "global", i, 1000 + i, 1002 + i)
        worker_a.observe("fanout", 1.5)
    master.merge_delta(worker_a.take_delta())  # publisher shipped before receivers close
    worker_b.ledger.joined("rb", "global", 900)
    for i in range(5):
        worker_b.ledger.received("rb", "pa", "global", i)
    worker_b.incr("x", 2)
    master.merge_delta(worker_b.take_delta())  # still open: not shipped yet
    assert master.ledger.receivers == {}
    worker_b.ledger.closed("rb", 9000)
    master.merge_delta(worker_b.take_delta())
    result = master.ledger.evaluate(now_ms=10000)
    assert (result["expected"], result["received"], result["lost"]) == (5, 5, 0)
    assert master.counters["x"] == 2 and master.histograms["fanout"].count == 5
    assert worker_a.take_delta()["l"]["pubs"] == []  # nothing shipped twice


def test_receipt_during_subscribe_is_not_misrouted():
    ledger = FanoutLedger()
    ledger.joining("r", "group:g")  # Subscribe sent; the server delivers before its completion
    assert ledger.received("r", "p", "group:g", 0)
    ledger.joined("r", "group:g", 1000)
    ledger.received("r", "p", "group:other", 0)
    assert ledger.receivers["r"].misrouted == 1
