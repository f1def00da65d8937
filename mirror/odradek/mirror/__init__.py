"""MirrorMaker 2 for Odradek: cluster-to-cluster replication on the Connect runtime (docs/mirror.md).

Modules: `policy` (DefaultReplicationPolicy, IdentityReplicationPolicy, cycle detection), `formats` (Kafka's binary
OffsetSync, Checkpoint and Heartbeat records), `offsets` (when a source task emits an offset sync, and the
OffsetSyncStore that translates group offsets conservatively), `filters` (topics, groups and topic configs),
`config` (the connectors' keys), `source`, `checkpoint`, `heartbeat` (the three connectors and their tasks),
`client` (MirrorClient: translating a group's offsets from checkpoints), `maker` (dedicated mode, the
`odradek mirror-maker mm2.properties` command). Like Connect, Mirror reaches clusters only through confluent-kafka.
"""

VERSION = "0.1.0"
