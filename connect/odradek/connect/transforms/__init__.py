"""Single Message Transforms and predicates with Kafka's names, options and semantics (docs/connect.md)."""
