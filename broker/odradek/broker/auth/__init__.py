"""Security: who a connection is (principals, authentication) and what it may do (the Authorizer).

- `principal`: Kafka's KafkaPrincipal and the default principal builder (`User:ANONYMOUS` on PLAINTEXT).
- `authenticator`: a connection's authentication state and the APIs served before it completes.
- `authorizer`: Kafka's Authorizer interface, its enums with Kafka's codes, and the allow-everything default.

The transport side (how a listener's connections are set up: plaintext today, TLS later) is the server's
`ChannelBuilder`; SASL and ACLs plug in here (docs/broker.md, "Where security plugs in").
"""
