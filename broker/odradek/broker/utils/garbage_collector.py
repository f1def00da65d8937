"""The garbage collector after start-up (`gc.freeze.on.start`, issue 15 item 8).

A full (generation 2) collection scans every tracked container the interpreter holds. Most of a broker's are made
at start-up and live until it stops: imported modules and their functions (the generated protocol codecs alone
are thousands), config tables, the handler registry, metrics families. Scanning them found nothing to free, and
took 25 to 55 ms of the event loop each time (bench/latency_tail.py, `probe` rounds, after a 1,000,000-record
produce and consume): every request waiting meanwhile. `freeze_start_up_heap` collects once and then moves every
object still alive into the permanent generation (`gc.freeze()`), which later collections skip; objects made
afterwards (partitions, connections, groups, requests) are collected as before. The price: a start-up object that
later becomes part of an unreachable cycle is never freed (start-up objects are not discarded in practice).
"""

from __future__ import annotations

import gc


def freeze_start_up_heap() -> int:
    """Collect every generation, then freeze what survives; returns how many objects are frozen now."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
