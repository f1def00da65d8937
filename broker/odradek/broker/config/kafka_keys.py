"""Apache Kafka 3.9's broker keys that Odradek has no use for: accepted, kept and described, with no effect here.

A Kafka user's server.properties (and tools that alter broker configs) must work unmodified, so every broker key
Kafka 3.9 declares (KafkaConfig and the *Configs classes it is built from: ServerConfigs, ServerLogConfigs,
SocketServerConfigs, ReplicationConfigs, QuotaConfigs, KRaftConfigs, GroupCoordinatorConfig, TransactionLogConfigs,
TransactionStateManagerConfigs, CleanerConfig, RemoteLogManagerConfig, ZkConfigs, plus the dynamic-only broker
keys of DynamicConfig.Broker) is a known key. The keys Odradek implements are declared in `definitions.py`; this
table holds the rest, once: `definitions.py` turns each row into a `ConfigKey` (`NO_EFFECT_KEYS`) whose
documentation says it has no effect, the broker logs once at start-up which of them are set, and
docs/configuration.md lists them in their own table. Only keys Kafka does not know are refused.

Row format: `(name, type, Kafka's default, update mode)`. The type is a DescribeConfigs `ConfigType` name in lower
case; the default is written as Kafka prints it in DescribeConfigs (`None`: no default); the update mode is Kafka's
("read-only", or "cluster-wide" for a key Kafka can alter at run time on the cluster-wide default and on a broker).

Not here: the security keys (ssl.*, sasl.* but the groups below, security.*, authorizer.*, super.users,
principal.builder.class, listener.name.*, connections.max.reauth.ms, connection.failed.authentication.delay.ms,
delegation.token.*, password.encoder.*, zookeeper.ssl.*), which are implemented, not ignored.
"""

from __future__ import annotations

Row = tuple[str, str, str | None, str]

LONG_MAX = str(2**63 - 1)
INT_MAX = str(2**31 - 1)
DOUBLE_MAX = "1.7976931348623157E308"

KAFKA_KEY_GROUPS: tuple[tuple[str, tuple[Row, ...]], ...] = (
    (
        "threads and request handling (ServerConfigs, SocketServerConfigs)",
        (
            ("num.network.threads", "int", "3", "cluster-wide"),
            ("num.io.threads", "int", "8", "cluster-wide"),
            ("background.threads", "int", "10", "cluster-wide"),
            ("num.recovery.threads.per.data.dir", "int", "1", "cluster-wide"),
            ("num.replica.alter.log.dirs.threads", "int", None, "read-only"),
            ("queued.max.request.bytes", "long", "-1", "read-only"),
            ("socket.send.buffer.bytes", "int", "102400", "read-only"),
            ("socket.receive.buffer.bytes", "int", "102400", "read-only"),
            ("socket.listen.backlog.size", "int", "50", "read-only"),
            ("socket.connection.setup.timeout.ms", "long", "10000", "read-only"),
            ("socket.connection.setup.timeout.max.ms", "long", "30000", "read-only"),
            ("early.start.listeners", "string", None, "read-only"),
            ("fetch.purgatory.purge.interval.requests", "int", "1000", "read-only"),
            ("producer.purgatory.purge.interval.requests", "int", "1000", "read-only"),
            ("delete.records.purgatory.purge.interval.requests", "int", "1", "read-only"),
            ("client.telemetry.max.bytes", "int", "1048576", "read-only"),
            ("config.providers", "list", "", "read-only"),
            ("create.topic.policy.class.name", "class", None, "read-only"),
            ("alter.config.policy.class.name", "class", None, "read-only"),
            ("broker.id.generation.enable", "boolean", "true", "read-only"),
            ("reserved.broker.max.id", "int", "1000", "read-only"),
            ("server.max.startup.time.ms", "long", LONG_MAX, "read-only"),
        ),
    ),
    (
        "metrics reporters (ServerConfigs, MetricConfigs)",
        (
            ("metric.reporters", "list", "", "cluster-wide"),
            ("metrics.num.samples", "int", "2", "read-only"),
            ("metrics.sample.window.ms", "long", "30000", "read-only"),
            ("metrics.recording.level", "string", "INFO", "read-only"),
            ("auto.include.jmx.reporter", "boolean", "true", "read-only"),
            ("kafka.metrics.reporters", "list", "", "read-only"),
            ("kafka.metrics.polling.interval.secs", "int", "10", "read-only"),
        ),
    ),
    (
        "log and log cleaner (ServerLogConfigs, CleanerConfig)",
        (
            ("log.cleaner.threads", "int", "1", "cluster-wide"),
            ("log.cleaner.dedupe.buffer.size", "long", "134217728", "cluster-wide"),
            ("log.cleaner.io.buffer.load.factor", "double", "0.9", "cluster-wide"),
            ("log.cleaner.io.buffer.size", "int", "524288", "cluster-wide"),
            ("log.cleaner.io.max.bytes.per.second", "double", DOUBLE_MAX, "cluster-wide"),
            ("log.message.format.version", "string", "3.0-IV1", "cluster-wide"),
            ("log.message.timestamp.difference.max.ms", "long", LONG_MAX, "cluster-wide"),
            ("log.message.downconversion.enable", "boolean", "true", "cluster-wide"),
            ("log.local.retention.bytes", "long", "-2", "cluster-wide"),
            ("log.local.retention.ms", "long", "-2", "cluster-wide"),
            ("compression.gzip.level", "int", "-1", "cluster-wide"),
            ("compression.lz4.level", "int", "9", "cluster-wide"),
            ("compression.zstd.level", "int", "3", "cluster-wide"),
            ("log.initial.task.delay.ms", "long", "30000", "read-only"),
            ("log.dir.failure.timeout.ms", "long", "30000", "read-only"),
        ),
    ),
    (
        "replication and its throttles (ReplicationConfigs, DynamicConfig.Broker)",
        (
            ("replica.socket.receive.buffer.bytes", "int", "65536", "read-only"),
            ("replica.selector.class", "string", None, "read-only"),
            ("inter.broker.protocol.version", "string", "3.9-IV0", "read-only"),
            ("controller.socket.timeout.ms", "int", "30000", "read-only"),
            ("replica.alter.log.dirs.io.max.bytes.per.second", "long", LONG_MAX, "cluster-wide"),
        ),
    ),
    (
        "quotas (QuotaConfigs)",
        (
            ("alter.log.dirs.replication.quota.window.num", "int", "11", "read-only"),
            ("alter.log.dirs.replication.quota.window.size.seconds", "int", "1", "read-only"),
            ("controller.quota.window.num", "int", "11", "read-only"),
            ("controller.quota.window.size.seconds", "int", "1", "read-only"),
            ("client.quota.callback.class", "class", None, "read-only"),
        ),
    ),
    (
        "group coordinator (GroupCoordinatorConfig)",
        (
            ("offsets.load.buffer.size", "int", "5242880", "read-only"),
            ("offsets.topic.compression.codec", "int", "0", "read-only"),
            ("group.coordinator.threads", "int", "1", "read-only"),
            ("group.coordinator.append.linger.ms", "int", "5", "read-only"),  # Kafka 4.0
        ),
    ),
    (
        # The group.consumer.* keys Odradek implements are declared in definitions.py (issue 15 item 3).
        "KIP-848 consumer groups (GroupCoordinatorConfig)",
        (("group.coordinator.rebalance.protocols", "list", "classic,consumer", "read-only"),),
    ),
    (
        "transactions (TransactionLogConfigs, TransactionStateManagerConfigs)",
        (
            ("transaction.state.log.load.buffer.size", "int", "5242880", "read-only"),
            ("transaction.abort.timed.out.transaction.cleanup.interval.ms", "int", "10000", "read-only"),
            ("transaction.partition.verification.enable", "boolean", "true", "cluster-wide"),
        ),
    ),
    (
        "KRaft and the metadata log (KRaftConfigs, QuorumConfig)",
        (
            ("process.roles", "list", "", "read-only"),
            ("controller.listener.names", "string", None, "read-only"),
            ("controller.quorum.voters", "list", "", "read-only"),
            ("controller.quorum.bootstrap.servers", "list", "", "read-only"),
            ("controller.quorum.election.backoff.max.ms", "int", "1000", "read-only"),
            ("controller.quorum.election.timeout.ms", "int", "1000", "read-only"),
            ("controller.quorum.fetch.timeout.ms", "int", "2000", "read-only"),
            ("controller.quorum.request.timeout.ms", "int", "2000", "read-only"),
            ("controller.quorum.retry.backoff.ms", "int", "20", "read-only"),
            ("controller.quorum.append.linger.ms", "int", "25", "read-only"),
            ("controller.performance.sample.period.ms", "long", "60000", "read-only"),
            ("controller.performance.always.log.threshold.ms", "long", "2000", "read-only"),
            ("metadata.log.dir", "string", None, "read-only"),
            ("metadata.log.segment.bytes", "int", "1073741824", "read-only"),
            ("metadata.log.segment.ms", "long", "604800000", "read-only"),
            ("metadata.log.max.record.bytes.between.snapshots", "long", "20971520", "read-only"),
            ("metadata.log.max.snapshot.interval.ms", "long", "3600000", "read-only"),
            ("metadata.max.retention.bytes", "long", "104857600", "read-only"),
            ("metadata.max.retention.ms", "long", "604800000", "read-only"),
            ("metadata.max.idle.interval.ms", "int", "500", "read-only"),
            ("initial.broker.registration.timeout.ms", "int", "60000", "read-only"),
            ("eligible.leader.replicas.enable", "boolean", "false", "read-only"),
        ),
    ),
    (
        "ZooKeeper and its migration (ZkConfigs, KRaftConfigs)",
        (
            ("zookeeper.connect", "string", None, "read-only"),
            ("zookeeper.session.timeout.ms", "int", "18000", "read-only"),
            ("zookeeper.connection.timeout.ms", "int", None, "read-only"),
            ("zookeeper.max.in.flight.requests", "int", "10", "read-only"),
            ("zookeeper.set.acl", "boolean", "false", "read-only"),
            ("zookeeper.clientCnxnSocket", "string", None, "read-only"),
            ("zookeeper.metadata.migration.enable", "boolean", "false", "read-only"),
            ("zookeeper.metadata.migration.min.batch.size", "int", "200", "read-only"),
        ),
    ),
    (
        "tiered storage (RemoteLogManagerConfig)",
        (
            ("remote.log.storage.system.enable", "boolean", "false", "read-only"),
            ("remote.log.storage.manager.class.name", "string", None, "read-only"),
            ("remote.log.storage.manager.class.path", "string", None, "read-only"),
            ("remote.log.storage.manager.impl.prefix", "string", "rsm.config.", "read-only"),
            (
                "remote.log.metadata.manager.class.name",
                "string",
                "org.apache.kafka.server.log.remote.metadata.storage.TopicBasedRemoteLogMetadataManager",
                "read-only",
            ),
            ("remote.log.metadata.manager.class.path", "string", None, "read-only"),
            ("remote.log.metadata.manager.impl.prefix", "string", "rlmm.config.", "read-only"),
            ("remote.log.metadata.manager.listener.name", "string", None, "read-only"),
            ("remote.log.metadata.custom.metadata.max.bytes", "int", "128", "read-only"),
            ("remote.log.index.file.cache.total.size.bytes", "long", "1073741824", "cluster-wide"),
            ("remote.log.manager.thread.pool.size", "int", "10", "read-only"),
            ("remote.log.manager.copier.thread.pool.size", "int", "10", "read-only"),
            ("remote.log.manager.expiration.thread.pool.size", "int", "10", "read-only"),
            ("remote.log.manager.task.interval.ms", "long", "30000", "read-only"),
            ("remote.log.manager.task.retry.backoff.ms", "long", "500", "read-only"),
            ("remote.log.manager.task.retry.backoff.max.ms", "long", "30000", "read-only"),
            ("remote.log.manager.task.retry.jitter", "double", "0.2", "read-only"),
            ("remote.log.manager.copy.max.bytes.per.second", "long", LONG_MAX, "cluster-wide"),
            ("remote.log.manager.copy.quota.window.num", "int", "11", "read-only"),
            ("remote.log.manager.copy.quota.window.size.seconds", "int", "1", "read-only"),
            ("remote.log.manager.fetch.max.bytes.per.second", "long", LONG_MAX, "cluster-wide"),
            ("remote.log.manager.fetch.quota.window.num", "int", "11", "read-only"),
            ("remote.log.manager.fetch.quota.window.size.seconds", "int", "1", "read-only"),
            ("remote.log.reader.threads", "int", "10", "read-only"),
            ("remote.log.reader.max.pending.tasks", "int", "100", "read-only"),
            ("remote.fetch.max.wait.ms", "int", "500", "cluster-wide"),
        ),
    ),
    (
        # Kerberos (GSSAPI), OAUTHBEARER's client-side token retrieval and custom SASL login classes are out of scope
        # (the broker serves PLAIN, SCRAM and OAUTHBEARER): their keys are accepted with no effect, kept apart from the
        # security keys so that a merge with that work stays easy.
        "SASL features Odradek does not serve: Kerberos, OAUTHBEARER token retrieval, custom login classes",
        (
            ("sasl.kerberos.kinit.cmd", "string", "/usr/bin/kinit", "read-only"),
            ("sasl.kerberos.min.time.before.relogin", "long", "60000", "read-only"),
            ("sasl.kerberos.principal.to.local.rules", "list", "DEFAULT", "read-only"),
            ("sasl.kerberos.service.name", "string", None, "read-only"),
            ("sasl.kerberos.ticket.renew.jitter", "double", "0.05", "read-only"),
            ("sasl.kerberos.ticket.renew.window.factor", "double", "0.8", "read-only"),
            ("sasl.login.class", "class", None, "read-only"),
            ("sasl.login.callback.handler.class", "class", None, "read-only"),
            ("sasl.login.connect.timeout.ms", "int", None, "read-only"),
            ("sasl.login.read.timeout.ms", "int", None, "read-only"),
            ("sasl.login.refresh.buffer.seconds", "short", "300", "read-only"),
            ("sasl.login.refresh.min.period.seconds", "short", "60", "read-only"),
            ("sasl.login.refresh.window.factor", "double", "0.8", "read-only"),
            ("sasl.login.refresh.window.jitter", "double", "0.05", "read-only"),
            ("sasl.login.retry.backoff.max.ms", "long", "10000", "read-only"),
            ("sasl.login.retry.backoff.ms", "long", "100", "read-only"),
            ("sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms", "long", "10000", "read-only"),
            ("sasl.oauthbearer.token.endpoint.url", "string", None, "read-only"),
            ("sasl.client.callback.handler.class", "class", None, "read-only"),
        ),
    ),
)
