"""Broker and topic configuration: every key declared once (type, default, doc), with Kafka's names.

`definitions` holds the declarations, `broker` parses a broker's configuration (properties file, environment,
`--override`), `topic` resolves a topic's effective configuration and its synonyms for DescribeConfigs.
`docs/configuration.md` is generated from these declarations (`python -m odradek.broker.config.docs`).
"""
