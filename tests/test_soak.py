"""The soak's judgement of its samples (loadtest.soak): growth after the warm-up."""

from __future__ import annotations

from loadtest.soak import Samples, aged

MIB = 2**20


def samples(points: dict[str, list[tuple[float, float, float, float]]]) -> Samples:
    """name -> [(seconds, rss, uss, fds)]"""
    found = Samples()
    for name, series in points.items():
        for kind, column in (("rss_bytes", 1), ("uss_bytes", 2), ("open_fds", 3)):
            found.series[(kind, name)] = [(p[0], p[column]) for p in series]
    return found


def test_each_long_lived_process_is_judged_from_the_warm_up_to_the_end() -> None:
    # A table, a process's samples a row, each with its verdict.
    judged = aged(samples({
        "gateway:1": [(0, 50 * MIB, 40 * MIB, 20), (60, 100 * MIB, 80 * MIB, 30),
                      (120, 104 * MIB, 83 * MIB, 25)],  # grew while warming up only
        "flusher:2": [(0, 40 * MIB, 30 * MIB, 10), (60, 40 * MIB, 30 * MIB, 10),
                      (120, 44 * MIB, 34 * MIB, 10)],  # +10 %: a leak
        "sweeper:3": [(0, 40 * MIB, 30 * MIB, 10), (60, 40 * MIB, 30 * MIB, 10),
                      (120, 40 * MIB, 30 * MIB, 11)],  # one descriptor more
        "postgres:4": [(0, 10 * MIB, 4 * MIB, 6), (60, 10 * MIB, 4 * MIB, 6),
                       (120, 20 * MIB, 4 * MIB, 40)],  # shared buffers and file cache
        "postgres: checkpointer:5": [(0, 5 * MIB, MIB / 4, 6), (60, 5 * MIB, MIB / 4, 6),
                                     (120, 5 * MIB, MIB / 2, 6)],  # +100 % of little
        "postgres: autovacuum worker:6": [(0, 10 * MIB, 4 * MIB, 6), (60, 10 * MIB, 4 * MIB, 6),
                                          (120, 10 * MIB, 6 * MIB, 6)],  # +2 MiB
        "postgres:7": [(90, 10 * MIB, 4 * MIB, 6), (120, 10 * MIB, 4 * MIB, 6)],  # too young
    }), warm=60)  # fmt: skip
    verdicts = {a.name: (round(100 * a.growth, 1), a.passed) for a in judged}
    assert verdicts == {
        "gateway:1": (4.0, True),
        "flusher:2": (10.0, False),
        "sweeper:3": (0.0, False),
        "postgres:4": (0.0, True),
        "postgres: checkpointer:5": (100.0, True),
        "postgres: autovacuum worker:6": (50.0, False),
    }
