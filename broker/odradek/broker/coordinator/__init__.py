"""The coordinator runtime shared by the group coordinator and the transaction coordinator (Kafka's
`coordinator-common`): partition ownership, loading, appends, timers and background writes."""
