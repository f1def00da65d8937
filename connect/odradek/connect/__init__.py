"""Kafka Connect for Odradek: Apache Kafka's Connect runtime, REST API and plugin API, in Python (docs/connect.md).

Subpackages: `api` (what plugins implement: connectors, tasks, records, schemas), `config` (ConfigDef, worker and
connector configs, config providers), `converters`, `transforms` (SMTs and predicates), `connectors` (built-in
plugins), `runtime` (worker, task threads, offsets, errors, the standalone herder), `rest` (the aiohttp server).
Connect talks to brokers only through confluent-kafka, so it runs against any Kafka-compatible cluster.
"""

VERSION = "0.1.0"
