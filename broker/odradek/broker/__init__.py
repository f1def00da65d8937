"""The Odradek broker: a Kafka-compatible server (see docs/broker.md)."""
