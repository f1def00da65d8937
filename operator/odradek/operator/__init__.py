"""The Kubernetes operator: KafkaCluster, KafkaTopic and KafkaUser resources (docs/operator.md).

Run as `kopf run -m odradek.operator.main`. Layers (DESIGN.md section 4):

- `main`: the kopf handlers, thin: they read the resource, call a reconcile function, write its status.
- `topic`, `user`, `cluster`: reconcile functions, given the resource body and the clients below as protocols
  (so tests pass fakes), returning the status to write; the decisions in them are pure functions (`plan_topic`,
  `plan_acls`, ...).
- `resources`: pure functions building Kubernetes manifests from a KafkaCluster or KafkaUser.
- `kube`: the only module calling the Kubernetes API. `kafka_admin`: the only module talking to brokers, through
  confluent-kafka's AdminClient. The operator never imports broker internals (import-linter contract).
- `conditions`, `labels`: status conditions as Strimzi writes them, the labels and annotations the operator reads.
"""
