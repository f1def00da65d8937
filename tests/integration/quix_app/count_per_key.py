"""A plain quixstreams program in its exactly-once mode (run by test_quixstreams_eos.py with quixstreams' own venv).

Reads JSON values `{"key": k, "seq": n}` keyed by `k` from INPUT_TOPIC, counts the records per key in its RocksDB
state store (backed by a changelog topic), and writes `{"key": k, "seq": n, "count": c, "tag": "seen"}` to
OUTPUT_TOPIC. Nothing in it knows about Odradek: the broker address, topics, group and state folder come from the
environment, and so do two timeouts the test shortens (librdkafka's defaults would make it wait that long after the
SIGKILL): the consumer's `session.timeout.ms` (the killed process's partitions move to its successor only when its
session times out; default 45 s) and the producer's `transaction.timeout.ms` (quixstreams gives every process a
random transactional.id, so the open transaction of a killed process is aborted only when it times out, and until
then it holds back the last stable offset of the partitions it wrote; default 60 s).
It runs until SIGTERM (a clean stop) or SIGKILL (a crash).
"""

import os

from quixstreams import Application


def count(value, state):
    total = state.get("count", 0) + 1
    state.set("count", total)
    return {**value, "count": total}


def main():
    app = Application(
        broker_address=os.environ["BROKER"],
        consumer_group=os.environ["GROUP"],
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once",
        commit_interval=float(os.environ.get("COMMIT_INTERVAL_S", "0.5")),
        state_dir=os.environ["STATE_DIR"],
        consumer_extra_config={"session.timeout.ms": int(os.environ.get("SESSION_TIMEOUT_MS", "45000"))},
        producer_extra_config={"transaction.timeout.ms": int(os.environ.get("TRANSACTION_TIMEOUT_MS", "60000"))},
    )
    source = app.topic(os.environ["INPUT_TOPIC"], key_deserializer="str", value_deserializer="json")
    sink = app.topic(os.environ["OUTPUT_TOPIC"], key_serializer="str", value_serializer="json")
    sdf = app.dataframe(source)
    sdf = sdf.apply(count, stateful=True)
    sdf = sdf.apply(lambda value: {**value, "tag": "seen"})
    sdf.to_topic(sink)
    print("quix app starting", flush=True)
    app.run()


if __name__ == "__main__":
    main()
