"""The dedup horizon both stream state machines share: ``stream_state.forget_expired``."""

import heapq

from transforms.stream_state import forget_expired


def test_fingerprints_leave_when_their_horizon_ends_and_a_renewed_one_stays():
    seen = {"a": 10, "b": 30, "c": 20}
    # "b" was first seen with expiry 15, then renewed to 30: its old heap entry is stale.
    expiries = [(10, "a"), (15, "b"), (20, "c"), (30, "b")]
    heapq.heapify(expiries)
    forget_expired(expiries, seen, 20)
    assert seen == {"b": 30}
    assert expiries == [(30, "b")]
    forget_expired(expiries, seen, 29)
    assert seen == {"b": 30}
    forget_expired(expiries, seen, 30)
    assert seen == {} and expiries == []
