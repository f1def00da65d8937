"""The Connect REST API (Apache Kafka's paths, JSON shapes and status codes), served by aiohttp."""
