"""The plugin API: what connectors, tasks, converters and transformations implement (Kafka's connect-api)."""
