"""Client quotas (KIP-13, KIP-55, KIP-124, KIP-219, KIP-257): Kafka's windowed rates, the eight quota entity levels
and the ClientQuotaManager that turns a recorded value into a throttle time. Independent of the other services:
handlers feed it the quotas from the metadata image and record what each request costs; the server mutes a
throttled connection."""
