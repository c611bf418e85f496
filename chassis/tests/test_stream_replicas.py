"""Streams are created with BARO_STREAM_REPLICAS replicas, and a service's start never
lowers them nor undoes what an operator set: on a real 3-node JetStream cluster."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import StreamConfig, StreamInfo

from baro_chassis.embedded import NatsCluster
from baro_chassis.nats import connect, ensure_stream, stream_replicas
from baro_contracts.streams import AUDIT_STREAM

pytestmark = pytest.mark.integration

SUBJECT = "audit.v1.2099.probe_recorded"


async def settled(js: JetStreamContext, followers: int) -> StreamInfo:
    """The stream's info once it has a leader and `followers` current followers (a stream
    scaled up, or whose leader was lost, elects and catches up within seconds)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            info = await js.stream_info(AUDIT_STREAM.name)
        except NatsError:  # no leader to answer yet
            info = None
        peers = info.cluster.replicas or [] if info and info.cluster else []
        current = [peer for peer in peers if peer.current]
        if info and info.cluster and info.cluster.leader and len(current) == followers:
            return info
        assert time.monotonic() < deadline, f"AUDIT not settled: {info and info.cluster}"
        await asyncio.sleep(0.2)


async def publish(js: JetStreamContext, number: int) -> None:
    """Publish until acknowledged, as the relays do (no leader: no answer, try again)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            await js.publish(SUBJECT, b"%d" % number, headers={"Nats-Msg-Id": str(number)})
            return
        except NatsError:
            assert time.monotonic() < deadline, f"message {number} never acknowledged"
            await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    nodes = NatsCluster(Path(tmp_path_factory.mktemp("cluster"))).start()
    try:
        yield nodes
    finally:
        nodes.stop()


async def test_a_start_raises_replicas_to_the_setting_and_never_lowers_them(
    cluster: NatsCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    nc = await connect(cluster.url, "test")
    js = nc.jetstream()
    try:
        monkeypatch.setenv("BARO_STREAM_REPLICAS", "1")
        await ensure_stream(js, AUDIT_STREAM)
        assert (await js.stream_info(AUDIT_STREAM.name)).config.num_replicas == 1

        monkeypatch.setenv("BARO_STREAM_REPLICAS", "3")
        await ensure_stream(js, AUDIT_STREAM)
        info = await settled(js, followers=2)
        assert info.config.num_replicas == 3

        # An operator caps the stream's size by hand; a service restarted with the local
        # default (R1) and a new description keeps both the cap and R3.
        operator: StreamConfig = dataclasses.replace(info.config, max_msgs=1_000_000)
        await js.update_stream(operator)
        monkeypatch.setenv("BARO_STREAM_REPLICAS", "1")
        await ensure_stream(js, dataclasses.replace(AUDIT_STREAM, description="v2"))
        config = (await js.stream_info(AUDIT_STREAM.name)).config
        assert (config.num_replicas, config.max_msgs, config.description) == (3, 1_000_000, "v2")
    finally:
        await js.delete_stream(AUDIT_STREAM.name)
        await nc.close()


async def test_the_stream_keeps_every_message_once_when_its_leader_is_killed(
    cluster: NatsCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BARO_STREAM_REPLICAS", "3")
    nc = await connect(cluster.url, "test")
    js = nc.jetstream(timeout=10)
    try:
        await ensure_stream(js, AUDIT_STREAM)
        for n in range(50):
            await publish(js, n)
        leader = (await settled(js, followers=2)).cluster.leader  # type: ignore[union-attr]
        cluster.kill(leader)
        for n in range(40, 60):  # 40..49 again, as a relay retries: dropped as duplicates
            await publish(js, n)
        cluster.restart(leader)
        info = await settled(js, followers=2)
        assert info.state.messages == 60
        assert info.cluster is not None
        assert info.cluster.leader != leader
    finally:
        await js.delete_stream(AUDIT_STREAM.name)
        await nc.close()


@pytest.mark.parametrize("value", ["0", "6", "three"])
def test_a_replica_count_jetstream_cannot_keep_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("BARO_STREAM_REPLICAS", value)
    with pytest.raises(RuntimeError, match=r"BARO_STREAM_REPLICAS=.*from 1 to 5"):
        stream_replicas()
