"""User command line: `odradek <command>`; tools that talk to brokers use confluent-kafka."""
