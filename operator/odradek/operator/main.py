"""The kopf handlers: `kopf run -m odradek.operator.main [--namespace NS | --all-namespaces]`.

Each handler reads its resource, calls a reconcile function (topic, user, cluster) and writes the status it
returns; nothing else. Reconciles happen on create, update and resume (an operator restart), and again on a timer
(RESYNC_S, Strimzi's full reconciliation) so that changes made outside Kubernetes are reverted and a cluster's
Ready follows its pods. KafkaTopics are resynced per cluster (topics_resync: one timer per KafkaCluster, one
Describe for all its topics), in a thread pool of their own, so that creates and updates never wait behind thousands
of resyncs. Deletion of a KafkaTopic or KafkaUser waits on the
operator's finalizer `kafka.odradek.io/finalizer` until Kafka has been cleaned.

Environment: ODRADEK_BROKER_IMAGE (brokers' default image), ODRADEK_OPERATOR_BOOTSTRAP (how the operator reaches a
cluster, a format string with {cluster} and {namespace}; default the bootstrap Service's replication port, so
that running the operator outside the cluster can point it elsewhere), ODRADEK_RESYNC_SECONDS,
ODRADEK_OPERATOR_METRICS_PORT (Prometheus metrics, telemetry.py; unset: none), the OTEL_* variables (spans), and
ODRADEK_OPERATOR_CONNECT_URL (how the operator reaches a KafkaConnect's REST API: a format string with {connect} and
{namespace}; default the `<connect>-connect-api` Service).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import os
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
from odradek.operator import cluster, connect, connector, mirror, telemetry, topic, user
from odradek.operator.connect_api import ConnectApi, ConnectApiError, ConnectRestClient
from odradek.operator.kafka_admin import ClusterAdmin, KafkaAdmin, admin_config
from odradek.operator.kube import Kube
from odradek.operator.labels import cluster_of
from odradek.operator.resources import cluster as cluster_model
from odradek.operator.resources import connect as connect_model
from odradek.operator.resources import mirror as mirror_model

GROUP = "kafka.odradek.io"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
FINALIZER = f"{GROUP}/finalizer"
RESYNC_S = float(os.environ.get("ODRADEK_RESYNC_SECONDS", "120"))
CLUSTER_RESYNC_S = 10.0
REASSIGNMENT_CHECK_S = 5.0
# Threads for the periodic resyncs (topics_resync), apart from kopf's executor, which then serves creates and updates
# only. One: a resync may wait; spread over more threads they would take the GIL from the creates as well.
RESYNC_WORKERS = 1
DEFAULT_BOOTSTRAP = "{cluster}-kafka-bootstrap.{namespace}.svc:" + str(cluster_model.REPLICATION_PORT)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # the operator's clients live in kopf's memo, one set per operator run (not per process: tests run several)
    memo.kube = Kube()
    memo.admins = {}
    memo.resync_pool = ThreadPoolExecutor(RESYNC_WORKERS, thread_name_prefix="odradek-resync")
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    if not memo.get("telemetry_started"):
        telemetry.start()
        memo.telemetry_started = True


@kopf.on.cleanup()
def release_clients(memo: kopf.Memo, **_: Any) -> None:
    # AdminClients have no close(): dropping them lets librdkafka stop its threads and connections
    memo.admins.clear()
    memo.resync_pool.shutdown(wait=False, cancel_futures=True)


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    # the kubernetes client fixes its kubeconfig path at import; read KUBECONFIG now (notes/kube-testing.md)
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


def kube(memo: kopf.Memo) -> Kube:
    result: Kube = memo.kube
    return result


def admin_for(body: kopf.Body, memo: kopf.Memo) -> ClusterAdmin | None:
    """The AdminClient of the KafkaCluster the resource's label names, or None when there is no such cluster.
    One client per (bootstrap, credentials), kept in the memo."""
    namespace = str(body.metadata.namespace or "default")
    name = cluster_of(body.metadata)
    if name is None or kube(memo).get(API_VERSION, "KafkaCluster", namespace, name) is None:
        return None
    return cluster_admin(namespace, name, memo)


def cluster_admin(namespace: str, name: str, memo: kopf.Memo) -> ClusterAdmin:
    """The AdminClient of the KafkaCluster `namespace/name` (which exists)."""
    secret = kube(memo).get("v1", "Secret", namespace, cluster_model.credentials_secret_name(name))
    credentials = None
    if secret and (secret.get("data") or {}).get("password"):
        credentials = (cluster_model.OPERATOR_USER, base64.b64decode(secret["data"]["password"]).decode())
    bootstrap = os.environ.get("ODRADEK_OPERATOR_BOOTSTRAP", DEFAULT_BOOTSTRAP).format(
        cluster=name, namespace=namespace
    )
    admins: dict[tuple[str, tuple[str, str] | None], ClusterAdmin] = memo.admins
    key = (bootstrap, credentials)
    if key not in admins:
        admins[key] = KafkaAdmin(admin_config(bootstrap, credentials))
    return admins[key]


# -- KafkaTopic ------------------------------------------------------------------------------------------------

TopicClaims = Mapping[tuple[str, str], Collection[Mapping[str, Any]]]


@kopf.index(GROUP, VERSION, "kafkatopics")
def topic_claims(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """Every KafkaTopic's claim (`topic.claim`) under (namespace, Kafka topic name), kept by kopf from its watch:
    the conflict check reads the rivals from here. Listing every KafkaTopic in each reconcile made N topics cost N
    lists of N objects (bench/RESULTS.md, "Operator (issue 12)": 1,000 topics took minutes, three quarters of the
    operator's CPU in those lists)."""
    namespace = str(body.metadata.namespace or "default")
    return {(namespace, topic.topic_spec(body).name): topic.claim(body)}


@kopf.on.resume(GROUP, VERSION, "kafkatopics")
@kopf.on.create(GROUP, VERSION, "kafkatopics")
@kopf.on.update(GROUP, VERSION, "kafkatopics")
def topic_reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
    # kopf passes every index as a keyword named after its function; its handler protocols do not declare them
    claims: TopicClaims = kwargs["topic_claims"]
    namespace = str(body.metadata.namespace or "default")
    with telemetry.reconciliation("KafkaTopic", namespace, str(body.metadata.name)) as done:
        others = list(claims.get((namespace, topic.topic_spec(body).name), ()))
        done.status = topic.reconcile_topic(body, admin_for(body, memo), others)
        patch.status.update(done.status)
    if topic.in_progress(done.status):
        # a replication factor change: look again soon rather than at the next resync
        raise kopf.TemporaryError("replication factor change in progress", delay=REASSIGNMENT_CHECK_S)


@kopf.index(GROUP, VERSION, "kafkatopics")
def cluster_topics(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """Every labelled KafkaTopic, as its watch last showed it (`topic.snapshot`), under (namespace, its cluster's
    name): what a cluster's periodic resync (`topics_resync`) reconciles."""
    name = cluster_of(body.metadata)
    if name is None:
        return {}
    return {(str(body.metadata.namespace or "default"), name): topic.snapshot(body)}


@kopf.timer(GROUP, VERSION, "kafkaclusters", interval=RESYNC_S, initial_delay=RESYNC_S)
async def topics_resync(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    """The periodic reconcile of every KafkaTopic of this cluster at once (Strimzi's full reconciliation): one
    DescribeTopics and one DescribeConfigs for all of them, each answer converged and its status written only when
    it changed (topic.resync_topics). Runs in the operator's resync pool rather than kopf's executor, so that
    creates and updates never wait behind it. Replaced a kopf timer per KafkaTopic, which cost two requests and a
    status write per topic every period (bench/RESULTS.md, "Operator resync")."""
    namespace, name = str(body.metadata.namespace or "default"), str(body.metadata.name)
    index: Mapping[tuple[str, str], Collection[Mapping[str, Any]]] = kwargs["cluster_topics"]
    bodies = list(index.get((namespace, name), ()))
    if not bodies:
        return
    claims: TopicClaims = kwargs["topic_claims"]
    rivals = {key[1]: list(found) for key, found in claims.items() if key[0] == namespace}
    work = functools.partial(resync_cluster_topics, namespace, name, bodies, rivals, memo)
    await asyncio.get_running_loop().run_in_executor(memo.resync_pool, work)


def resync_cluster_topics(
    namespace: str,
    name: str,
    bodies: list[Mapping[str, Any]],
    rivals: Mapping[str, list[Mapping[str, Any]]],
    memo: kopf.Memo,
) -> int:
    """`topics_resync`'s work, in the resync pool: reconcile `bodies` together, write each changed status (a merge
    patch of its status subresource). Returns how many statuses were written."""
    admin = cluster_admin(namespace, name, memo)
    written = 0
    for body, status in topic.resync_topics(bodies, admin, rivals):
        meta = body.get("metadata") or {}
        with telemetry.reconciliation("KafkaTopic", namespace, str(meta.get("name"))) as done:
            done.status = status
        if status != (body.get("status") or {}):
            kube(memo).patch_status(API_VERSION, "KafkaTopic", namespace, str(meta.get("name")), status)
            written += 1
    return written


@kopf.on.delete(GROUP, VERSION, "kafkatopics")
def topic_delete(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    try:
        topic.delete_topic(body, admin_for(body, memo))
    except topic.DeletionRefused as exc:
        patch.status.update(exc.status)
        raise kopf.TemporaryError(str(exc), delay=60) from exc
    telemetry.forget("KafkaTopic", str(body.metadata.namespace or "default"), str(body.metadata.name))


# -- KafkaUser -------------------------------------------------------------------------------------------------


@kopf.on.resume(GROUP, VERSION, "kafkausers")
@kopf.on.create(GROUP, VERSION, "kafkausers")
@kopf.on.update(GROUP, VERSION, "kafkausers")
@kopf.timer(GROUP, VERSION, "kafkausers", interval=RESYNC_S, initial_delay=RESYNC_S, idle=RESYNC_S)
def user_reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    namespace = str(body.metadata.namespace or "default")
    with telemetry.reconciliation("KafkaUser", namespace, str(body.metadata.name)) as done:
        done.status = user.reconcile_user(body, admin_for(body, memo), kube(memo))
        patch.status.update(done.status)


@kopf.on.delete(GROUP, VERSION, "kafkausers")
def user_delete(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    user.delete_user(body, admin_for(body, memo))
    telemetry.forget("KafkaUser", str(body.metadata.namespace or "default"), str(body.metadata.name))


# -- KafkaCluster ----------------------------------------------------------------------------------------------


@kopf.on.resume(GROUP, VERSION, "kafkaclusters")
@kopf.on.create(GROUP, VERSION, "kafkaclusters")
@kopf.on.update(GROUP, VERSION, "kafkaclusters")
@kopf.timer(GROUP, VERSION, "kafkaclusters", interval=CLUSTER_RESYNC_S, initial_delay=CLUSTER_RESYNC_S)
def cluster_reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    image = os.environ.get("ODRADEK_BROKER_IMAGE", cluster_model.DEFAULT_IMAGE)
    namespace, name = str(body.metadata.namespace or "default"), str(body.metadata.name)
    with telemetry.reconciliation("KafkaCluster", namespace, name) as done:
        admin = cluster_admin(namespace, name, memo)
        done.status = cluster.reconcile_cluster(body, kube(memo), image, admin)
        patch.status.update(done.status)


@kopf.on.delete(GROUP, VERSION, "kafkaclusters", optional=True)
def cluster_deleted(body: kopf.Body, **_: Any) -> None:
    # optional: no finalizer (the children go with their owner); only the metrics forget the cluster
    telemetry.forget("KafkaCluster", str(body.metadata.namespace or "default"), str(body.metadata.name))


# -- KafkaConnect and KafkaConnector -----------------------------------------------------------------------------


def connect_api(namespace: str, name: str) -> ConnectApi:
    """The REST API of the KafkaConnect `namespace/name` (ODRADEK_OPERATOR_CONNECT_URL, a format string with
    {connect} and {namespace}, points elsewhere when the operator runs outside the cluster)."""
    url = os.environ.get("ODRADEK_OPERATOR_CONNECT_URL") or connect_model.rest_url("{connect}", "{namespace}")
    return ConnectRestClient(url.format(connect=name, namespace=namespace))


@kopf.on.resume(GROUP, VERSION, "kafkaconnects")
@kopf.on.create(GROUP, VERSION, "kafkaconnects")
@kopf.on.update(GROUP, VERSION, "kafkaconnects")
@kopf.timer(GROUP, VERSION, "kafkaconnects", interval=CLUSTER_RESYNC_S, initial_delay=CLUSTER_RESYNC_S)
def connect_reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    image = os.environ.get("ODRADEK_BROKER_IMAGE", connect_model.DEFAULT_IMAGE)
    namespace, name = str(body.metadata.namespace or "default"), str(body.metadata.name)
    with telemetry.reconciliation("KafkaConnect", namespace, name) as done:
        done.status = connect.reconcile_connect(body, kube(memo), connect_api(namespace, name), image)
        patch.status.update(done.status)


@kopf.on.delete(GROUP, VERSION, "kafkaconnects", optional=True)
def connect_deleted(body: kopf.Body, **_: Any) -> None:
    telemetry.forget("KafkaConnect", str(body.metadata.namespace or "default"), str(body.metadata.name))


def _connect_of(body: kopf.Body, memo: kopf.Memo) -> tuple[dict[str, Any] | None, ConnectApi | None]:
    namespace = str(body.metadata.namespace or "default")
    name = cluster_of(body.metadata)
    if name is None:
        return None, None
    resource = kube(memo).get(API_VERSION, "KafkaConnect", namespace, name)
    return resource, (connect_api(namespace, name) if resource is not None else None)


@kopf.on.resume(GROUP, VERSION, "kafkaconnectors")
@kopf.on.create(GROUP, VERSION, "kafkaconnectors")
@kopf.on.update(GROUP, VERSION, "kafkaconnectors")
@kopf.timer(GROUP, VERSION, "kafkaconnectors", interval=CLUSTER_RESYNC_S, initial_delay=CLUSTER_RESYNC_S)
def connector_reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    namespace = str(body.metadata.namespace or "default")
    with telemetry.reconciliation("KafkaConnector", namespace, str(body.metadata.name)) as done:
        resource, api = _connect_of(body, memo)
        done.status = connector.reconcile_connector(body, api, resource)
        patch.status.update(done.status)


@kopf.on.delete(GROUP, VERSION, "kafkaconnectors")
def connector_delete(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    api = _connect_of(body, memo)[1]
    try:
        connector.delete_connector(body, api)
    except ConnectApiError as exc:
        raise kopf.TemporaryError(f"the connector could not be deleted: {exc}", delay=30) from exc
    telemetry.forget("KafkaConnector", str(body.metadata.namespace or "default"), str(body.metadata.name))


# -- KafkaMirrorMaker2 -------------------------------------------------------------------------------------------


@kopf.on.resume(GROUP, VERSION, "kafkamirrormaker2s")
@kopf.on.create(GROUP, VERSION, "kafkamirrormaker2s")
@kopf.on.update(GROUP, VERSION, "kafkamirrormaker2s")
@kopf.timer(GROUP, VERSION, "kafkamirrormaker2s", interval=CLUSTER_RESYNC_S, initial_delay=CLUSTER_RESYNC_S)
def mirror_reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    image = os.environ.get("ODRADEK_BROKER_IMAGE", mirror_model.DEFAULT_IMAGE)
    namespace = str(body.metadata.namespace or "default")
    with telemetry.reconciliation("KafkaMirrorMaker2", namespace, str(body.metadata.name)) as done:
        done.status = mirror.reconcile_mirror(body, kube(memo), image)
        patch.status.update(done.status)


@kopf.on.delete(GROUP, VERSION, "kafkamirrormaker2s", optional=True)
def mirror_deleted(body: kopf.Body, **_: Any) -> None:
    telemetry.forget("KafkaMirrorMaker2", str(body.metadata.namespace or "default"), str(body.metadata.name))
