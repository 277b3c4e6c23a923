"""kafka-python adapters (driver.py's interfaces). kafka-python >= 2.2.0 has the idempotent producer
(`enable_idempotence`, KIP-98; on by default from 3.0); the harness is tested with the version scripts/setup-python.sh pins."""

import kafka  # noqa: F401 - fails early, with a clear message, when missing

import threading

from . import errors
from .driver import Delivered, Membership, PollError, Truncated, log

# A group member's session: short enough that a member that vanished without LeaveGroup is replaced within
# seconds (the coordinator's minimum is 6 s in streamsim as in Kafka); heartbeats every second.
GROUP_SESSION_TIMEOUT_MS = 10000
GROUP_HEARTBEAT_INTERVAL_MS = 1000


def _split_bootstrap(bootstrap):
    return [address.strip() for address in bootstrap.split(",") if address.strip()]


def _commit_outcome(error):
    # A group commit the coordinator refused (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS) comes
    # as CommitFailedError(the broker's error): name it by the broker's error. CommitFailedError with a message
    # only was raised before anything was sent (the consumer is not in a stable group): not stored.
    if type(error).__name__ == "CommitFailedError":
        cause = error.args[0] if error.args else None
        if isinstance(cause, BaseException):
            error = cause
        else:
            return "commit_failed", "fail"
    name, _ = errors.kafka_python_error(error)
    # A broker's answer refusing the commit means it was not stored; no answer means unknown.
    if isinstance(getattr(type(error), "errno", None), int) and name not in ("request_timed_out", "network_error"):
        return name, "fail"
    return name, "info"


def group_offsets(bootstrap, group, topic, timeout_s):
    """Every offset `group` has on `topic`, listed by the admin client (OffsetFetch with null topics)."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=_split_bootstrap(bootstrap),
                             request_timeout_ms=int(timeout_s * 1000))
    try:
        listed = admin.list_group_offsets(group)
    finally:
        admin.close()
    offsets = listed.get(group, {})
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset >= 0}


def group_listings(bootstrap, group, timeout_s):
    """How many times the admin client's group list (ListGroups to every broker, joined) names `group`."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=_split_bootstrap(bootstrap),
                             request_timeout_ms=int(timeout_s * 1000))
    try:
        return sum(1 for listed in admin.list_groups() if listed.get("group_id") == group)
    finally:
        admin.close()


class Producer:
    def __init__(self, bootstrap, process, delivery_timeout_s=30.0, linger_ms=5, extra=None, idempotence=True,
                 compression="none"):
        from kafka import KafkaProducer

        request_timeout_ms = min(int(delivery_timeout_s * 1000) // 2, 10000)
        config = dict(
            bootstrap_servers=_split_bootstrap(bootstrap),
            client_id=process,
            acks="all",
            enable_idempotence=idempotence,
            compression_type=None if compression == "none" else compression,
            linger_ms=linger_ms,
            request_timeout_ms=request_timeout_ms,
            delivery_timeout_ms=int(delivery_timeout_s * 1000),
            metadata_max_age_ms=5000,
            max_block_ms=10000,
        )
        config.update(extra or {})
        self._producer = KafkaProducer(**config)

    def send(self, topic, key, value, on_ok, on_error):
        future = self._producer.send(topic, key=key, value=value)
        future.add_callback(lambda metadata: on_ok(metadata.partition, metadata.offset))
        future.add_errback(on_error)

    def error_name(self, error, raised):
        name, outcome = errors.kafka_python_error(error)
        return name, "fail" if raised else outcome

    def poll(self, timeout_s):
        pass  # kafka-python calls back from its own I/O thread

    def flush(self, timeout_s):
        try:
            self._producer.flush(timeout=timeout_s)
        except Exception as error:  # noqa: BLE001 - KafkaTimeoutError: the rest is recorded as unanswered
            log("flush: %r" % (error,))

    def producer_id(self):
        manager = getattr(self._producer, "_transaction_manager", None)
        pid_epoch = getattr(manager, "producer_id_and_epoch", None)
        pid = getattr(pid_epoch, "producer_id", -1)
        epoch = getattr(pid_epoch, "epoch", -1)
        if isinstance(pid, int) and pid >= 0 and isinstance(epoch, int) and epoch >= 0:
            return pid, epoch
        return None

    def fatal_error(self):
        return None  # kafka-python has no fatal-error state

    def close(self):
        self._producer.close(timeout=5)


class Consumer:
    """Manual assignment (assign + seek), or with `subscribe()` a member of the group `group_id`: its rebalance
    listener is an AsyncConsumerRebalanceListener, because kafka-python 3 runs the listener on its I/O thread,
    where a blocking call (commit(), committed(), position()) raises. So:
    - on_partitions_assigned pauses the new partitions and tells the driver; poll() then asks the driver where
      they start (it reads the committed offsets and watermarks with the blocking calls, on the caller's thread),
      seeks there and resumes them. The generation and member id come from the public group_metadata(); whether
      this member leads the group from the coordinator's `_is_leader` attribute (private: without it no `join`
      is recorded, the `assignment` still is).
    - on_partitions_revoked commits what the driver says (what was delivered) by awaiting the coroutine that
      backs the blocking commit() (`_coordinator._commit_offsets_sync_async`, private: the one kafka-python itself
      awaits for its auto-commit before a rebalance; without it the public commit_async() future is awaited).
      on_partitions_lost commits nothing.
    kafka-python calls on_partitions_revoked before every rebalance (eager protocol: the default range and
    round-robin assignors) and from close(), which then sends LeaveGroup."""

    def __init__(self, bootstrap, process, group_id=None, extra=None, subscribe=False):
        from kafka import KafkaConsumer

        config = dict(
            bootstrap_servers=_split_bootstrap(bootstrap),
            client_id=process,
            group_id=group_id,
            enable_auto_commit=False,
            # No silent reset: an out-of-range answer raises, and the driver records it and the reset.
            auto_offset_reset="none",
            metadata_max_age_ms=5000,
            request_timeout_ms=10000,
        )
        if subscribe:
            config.update(session_timeout_ms=GROUP_SESSION_TIMEOUT_MS,
                          heartbeat_interval_ms=GROUP_HEARTBEAT_INTERVAL_MS)
        config.update(extra or {})
        self._consumer = KafkaConsumer(**config)
        self._topic = None
        self._listener = None
        self._lock = threading.Lock()
        # Assigned partitions paused until the driver says where they start.
        self._pending = set()

    def subscribe(self, topic, listener):
        self._topic = topic
        self._listener = listener
        self._consumer.subscribe([topic], listener=_rebalance_listener(self))

    def _membership(self, partitions):
        metadata = self._consumer.group_metadata()
        generation = metadata.generation_id if isinstance(metadata.generation_id, int) and metadata.generation_id >= 0 else None
        coordinator = getattr(self._consumer, "_coordinator", None)
        leader = getattr(coordinator, "_is_leader", None)
        whole = sorted(tp.partition for tp in self._consumer.assignment() if tp.topic == self._topic)
        return Membership(generation, metadata.member_id or None, leader if isinstance(leader, bool) else None,
                          None, whole)

    def _on_assigned(self, assigned):
        """The listener's on_partitions_assigned (I/O thread): pause them until poll() starts them."""
        tps = [tp for tp in assigned if tp.topic == self._topic]
        if tps:
            self._consumer.pause(*tps)
        with self._lock:
            self._pending.update(tp.partition for tp in tps)
        self._listener.assigned(sorted(tp.partition for tp in tps), self._membership(tps))

    async def _on_revoked(self, revoked, lost):
        """The listener's on_partitions_revoked / on_partitions_lost (I/O thread): commit, then give them up."""
        from kafka.structs import OffsetAndMetadata

        partitions = sorted(tp.partition for tp in revoked if tp.topic == self._topic)
        with self._lock:
            self._pending.difference_update(partitions)
        offsets = self._listener.revoking(partitions, lost)
        error = None
        if offsets:
            commit = {self._tp(self._topic, p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()}
            coordinator = getattr(self._consumer, "_coordinator", None)
            commit_sync = getattr(coordinator, "_commit_offsets_sync_async", None)
            try:
                if commit_sync is not None:
                    await commit_sync(commit, timeout_ms=10000)
                else:
                    await self._consumer.commit_async(commit)
            except Exception as failure:  # noqa: BLE001 - recorded by the driver
                error = failure
        self._listener.revoked(partitions, lost, offsets, error)

    def _start_pending(self):
        with self._lock:
            pending = sorted(self._pending)
        if not pending:
            return
        starts = self._listener.start_positions(pending)
        for partition, offset in starts.items():
            self._consumer.seek(self._tp(self._topic, partition), offset)
        with self._lock:
            self._pending.difference_update(pending)
        self._consumer.resume(*[self._tp(self._topic, p) for p in pending])

    def committed(self, topic, partitions, timeout_s):
        found = {}
        for partition in partitions:
            offset = self._consumer.committed(self._tp(topic, partition), timeout_ms=int(timeout_s * 1000))
            found[partition] = offset if isinstance(offset, int) and offset >= 0 else None
        return found

    def generation(self):
        generation = self._consumer.group_metadata().generation_id
        return generation if isinstance(generation, int) and generation >= 0 else None

    def leaving_member(self):
        """kafka-python's close() sends LeaveGroup when the consumer is a dynamic member that joined (and knows
        its coordinator at that moment, which the harness cannot see)."""
        metadata = self._consumer.group_metadata()
        state = getattr(metadata.state, "name", str(metadata.state))
        if metadata.member_id and metadata.group_instance_id is None and state != "UNJOINED":
            return metadata.member_id
        return None

    def _tp(self, topic, partition):
        from kafka import TopicPartition

        return TopicPartition(topic, partition)

    def partitions(self, topic, timeout_s):
        import time

        deadline = time.monotonic() + timeout_s
        while True:
            found = self._consumer.partitions_for_topic(topic)
            if found:
                return sorted(found)
            if time.monotonic() >= deadline:
                return []
            time.sleep(0.2)

    def watermarks(self, topic, partitions, timeout_s):
        tps = [self._tp(topic, p) for p in partitions]
        low = self._consumer.beginning_offsets(tps, timeout_ms=int(timeout_s * 1000))
        high = self._consumer.end_offsets(tps, timeout_ms=int(timeout_s * 1000))
        return {tp.partition: (low[tp], high[tp]) for tp in tps}

    def assign(self, topic, offsets):
        self._consumer.assign([self._tp(topic, p) for p in sorted(offsets)])
        for partition, offset in offsets.items():
            self._consumer.seek(self._tp(topic, partition), offset)

    def seek(self, topic, partition, offset):
        self._consumer.seek(self._tp(topic, partition), offset)

    def poll(self, timeout_s):
        from kafka.errors import NoOffsetForPartitionError, OffsetOutOfRangeError

        if self._listener is not None:
            self._start_pending()
        try:
            batches = self._consumer.poll(timeout_ms=int(timeout_s * 1000))
        except NoOffsetForPartitionError as error:
            # Assigned partitions without a committed offset, paused until they are started: started below.
            missing = error.args[0] if error.args and isinstance(error.args[0], (set, list, tuple)) else ()
            with self._lock:
                pending = set(self._pending)
            if self._listener is None or not all(tp.partition in pending for tp in missing):
                raise
            batches = {}
        except OffsetOutOfRangeError as error:
            out_of_range = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
            return [PollError(tp.topic, tp.partition, offset, "offset_out_of_range")
                    for tp, offset in out_of_range.items()]
        except Exception as error:  # noqa: BLE001 - LogTruncationError exists from kafka-python 2.1 on
            divergent = getattr(error, "divergent_offsets", None)
            if type(error).__name__ != "LogTruncationError" or not isinstance(divergent, dict):
                raise
            return [Truncated(tp.topic, tp.partition, getattr(at, "offset", None))
                    for tp, at in sorted(divergent.items(), key=lambda item: item[0].partition)]
        items = []
        for tp, messages in batches.items():
            for message in messages:
                if message.value is None:
                    log("skipping a record without a value at %s/%d offset %d" % (tp.topic, tp.partition, message.offset))
                    continue
                items.append(Delivered(tp.topic, tp.partition, message.offset,
                                       message.value.decode("utf-8", errors="replace")))
        if self._listener is not None:
            # Partitions assigned during this poll are paused: no record of theirs is in `items`.
            self._start_pending()
        return items

    def commit(self, topic, offsets):
        from kafka.structs import OffsetAndMetadata

        self._consumer.commit({self._tp(topic, p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()})

    def commit_error_outcome(self, error):
        return _commit_outcome(error)

    def close(self):
        self._consumer.close(autocommit=False)


def _rebalance_listener(adapter):
    try:
        from kafka import AsyncConsumerRebalanceListener
    except ImportError:
        raise RuntimeError("this kafka-python has no AsyncConsumerRebalanceListener: the harness's group consumer "
                           "needs kafka-python 3 (run scripts/setup-python.sh)")

    class Listener(AsyncConsumerRebalanceListener):
        async def on_partitions_revoked(self, revoked):
            await adapter._on_revoked(revoked, False)

        async def on_partitions_assigned(self, assigned):
            adapter._on_assigned(assigned)

        async def on_partitions_lost(self, lost):
            await adapter._on_revoked(lost, True)

    return Listener()
