"""Configuration: ConfigDef (Kafka's typed key declarations and validation), worker and connector configs, config
providers (`${file:...}`, `${env:...}`)."""
