"""`TransactionIndex` (`<base offset>.txnindex`): left for the transactions issue.

Kafka's format, for when it is written: 34-byte entries, big-endian::

    2 bytes  version (0)
    8 bytes  producerId
    8 bytes  firstOffset
    8 bytes  lastOffset
    8 bytes  lastStableOffset

one per aborted transaction whose data lies in the segment. Segments do not create this file yet; recovery and
truncation will rebuild it once aborted transactions are tracked.
"""

from __future__ import annotations

TXN_INDEX_ENTRY_SIZE = 34
