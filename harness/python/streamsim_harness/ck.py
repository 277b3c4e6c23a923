"""confluent-kafka (librdkafka) adapters (driver.py's interfaces)."""

import sys

import confluent_kafka  # noqa: F401 - fails early, with a clear message, when missing

from . import errors
from .driver import Delivered, Membership, PollError, log

# As kafka-python's group member (kp.py): a short session, heartbeats every second.
GROUP_SESSION_TIMEOUT_MS = 10000
GROUP_HEARTBEAT_INTERVAL_MS = 1000

# librdkafka's serialized consumer group metadata (rd_kafka_consumer_group_metadata_write, what
# consumer_group_metadata() returns): this magic, the generation id (int32, the machine's byte order), then the
# group id, the member id and the group instance id.
_CGMD_MAGIC = b"CGMDv2:"


def cgmd_generation(data):
    """The generation in librdkafka's serialized group metadata, or None (not joined, or another format)."""
    if not isinstance(data, (bytes, bytearray)) or not data.startswith(_CGMD_MAGIC):
        return None
    field = bytes(data[len(_CGMD_MAGIC):len(_CGMD_MAGIC) + 4])
    if len(field) != 4:
        return None
    generation = int.from_bytes(field, sys.byteorder, signed=True)
    return generation if generation >= 0 else None


def _commit_outcome(error):
    kafka_error = error.args[0] if getattr(error, "args", None) and hasattr(error.args[0], "code") else None
    if kafka_error is None:
        return errors.snake_case(type(error).__name__), "info"
    name, _ = errors.confluent_error(kafka_error)
    if kafka_error.code() >= -1 and name not in ("request_timed_out", "network_error"):
        return name, "fail"
    return name, "info"


def group_offsets(bootstrap, group, topic, timeout_s):
    """Every offset `group` has on `topic`, listed by the admin client (OffsetFetch with null topics)."""
    from confluent_kafka import ConsumerGroupTopicPartitions
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                                request_timeout=timeout_s)
    listed = futures[group].result(timeout=timeout_s)
    return {tp.partition: tp.offset for tp in listed.topic_partitions if tp.topic == topic and tp.offset >= 0}


def group_listings(bootstrap, group, timeout_s):
    """How many times the admin client's group list (ListGroups to every broker, joined) names `group`."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    listed = admin.list_consumer_groups(request_timeout=timeout_s).result(timeout=timeout_s)
    return sum(1 for found in listed.valid if found.group_id == group)


class Producer:
    def __init__(self, bootstrap, process, delivery_timeout_s=30.0, linger_ms=5, extra=None, idempotence=True,
                 compression="none"):
        from confluent_kafka import Producer as RdProducer

        self._fatal = None
        self._topic = None
        config = {
            "bootstrap.servers": bootstrap,
            "client.id": process,
            "enable.idempotence": idempotence,
            "acks": "all",
            "compression.type": compression,
            "linger.ms": linger_ms,
            "message.timeout.ms": int(delivery_timeout_s * 1000),
            "topic.metadata.refresh.interval.ms": 5000,
            "error_cb": self._on_client_error,
        }
        config.update(extra or {})
        self._producer = RdProducer(config)

    def _on_client_error(self, error):
        if error.fatal() and self._fatal is None:
            name, _ = errors.confluent_error(error)
            where = errors.partition_in_message(error.str())
            log("fatal error: %s (%s)" % (name, error.str()))
            if where is not None:
                self._fatal = (where[0], where[1], name)
        else:
            log("client error: %s" % (error.str(),))

    def send(self, topic, key, value, on_ok, on_error):
        def delivered(error, message):
            if error is not None:
                on_error(error)
            else:
                on_ok(message.partition(), message.offset())

        self._producer.produce(topic, value=value, key=key, on_delivery=delivered)

    def error_name(self, error, raised):
        if isinstance(error, BufferError):
            return "queue_full", "fail"
        kafka_error = error.args[0] if getattr(error, "args", None) and hasattr(error.args[0], "code") else error
        if hasattr(kafka_error, "code") and hasattr(kafka_error, "name"):
            name, outcome = errors.confluent_error(kafka_error)
        else:
            name, outcome = errors.snake_case(type(error).__name__), "info"
        return name, "fail" if raised else outcome

    def poll(self, timeout_s):
        self._producer.poll(timeout_s)

    def flush(self, timeout_s):
        remaining = self._producer.flush(timeout_s)
        if remaining:
            log("flush: %d message(s) still without an outcome" % remaining)

    def producer_id(self):
        return None  # librdkafka does not expose it

    def fatal_error(self):
        return self._fatal

    def close(self):
        self._producer.poll(0)
        close = getattr(self._producer, "close", None)
        if close is not None:
            close()


class Consumer:
    """Manual assignment (assign with offsets), or with `subscribe()` a member of the group `group_id`, with
    librdkafka's eager assignors (range, round-robin: its default). Its rebalance callbacks run inside consume():
    on_assign asks the driver where the partitions start (committed offsets and watermarks, blocking calls, allowed
    there) and assigns them at those offsets; on_revoke commits what the driver says (what was delivered) with a
    synchronous commit, then librdkafka unassigns; on_lost commits nothing. The generation comes from
    consumer_group_metadata(), librdkafka's serialized group metadata (`cgmd_generation`); the member id from
    memberid(). librdkafka does not tell whether this member leads the group: no `join` is recorded."""

    def __init__(self, bootstrap, process, group_id=None, extra=None, subscribe=False):
        from confluent_kafka import Consumer as RdConsumer

        config = {
            "bootstrap.servers": bootstrap,
            "client.id": process,
            # librdkafka's consumer needs a group id even with assign(); without --group-id nothing is committed.
            "group.id": group_id or "streamsim-harness-%s" % process,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            # No silent reset: an out-of-range answer is an error event, and the driver records it and the reset.
            "auto.offset.reset": "error",
            "enable.partition.eof": False,
            "topic.metadata.refresh.interval.ms": 5000,
            "error_cb": lambda error: log("client error: %s" % (error.str(),)),
        }
        if subscribe:
            config.update({"session.timeout.ms": GROUP_SESSION_TIMEOUT_MS,
                           "heartbeat.interval.ms": GROUP_HEARTBEAT_INTERVAL_MS})
        config.update(extra or {})
        self._consumer = RdConsumer(config)
        self._topic = None
        self._listener = None

    def subscribe(self, topic, listener):
        self._topic = topic
        self._listener = listener
        self._consumer.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                                 on_lost=self._on_lost)

    # The rebalance callbacks: an exception raised here would surface from consume() after librdkafka went on
    # with a default assignment, so they log instead.
    def _on_assign(self, consumer, assigned):
        from confluent_kafka import TopicPartition

        partitions = sorted(tp.partition for tp in assigned if tp.topic == self._topic)
        try:
            self._listener.assigned(partitions, Membership(self.generation(), consumer.memberid() or None, None,
                                                           None, partitions))
            starts = self._listener.start_positions(partitions)
        except Exception as error:  # noqa: BLE001 - librdkafka then starts them from the committed offsets
            log("assign callback failed: %r" % (error,))
            starts = {}
        consumer.assign([TopicPartition(self._topic, p, starts[p]) if p in starts else TopicPartition(self._topic, p)
                         for p in partitions])

    def _on_revoke(self, consumer, revoked):
        self._revoked(revoked, False)

    def _on_lost(self, consumer, lost):
        self._revoked(lost, True)

    def _revoked(self, revoked, lost):
        partitions = sorted(tp.partition for tp in revoked if tp.topic == self._topic)
        try:
            offsets = self._listener.revoking(partitions, lost)
            error = None
            if offsets:
                try:
                    self.commit(self._topic, offsets)
                except Exception as failure:  # noqa: BLE001 - recorded by the driver
                    error = failure
            self._listener.revoked(partitions, lost, offsets, error)
        except Exception as error:  # noqa: BLE001 - see above
            log("revoke callback failed: %r" % (error,))

    def committed(self, topic, partitions, timeout_s):
        from confluent_kafka import KafkaException, TopicPartition

        found = {}
        for tp in self._consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=timeout_s):
            if tp.error is not None:
                raise KafkaException(tp.error)
            found[tp.partition] = tp.offset if tp.offset >= 0 else None
        return found

    def generation(self):
        return cgmd_generation(self._consumer.consumer_group_metadata())

    def leaving_member(self):
        """librdkafka's close() sends LeaveGroup for a dynamic member that joined."""
        return self._consumer.memberid() or None

    def partitions(self, topic, timeout_s):
        import time

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                metadata = self._consumer.list_topics(topic, timeout=max(1.0, deadline - time.monotonic()))
                described = metadata.topics.get(topic)
                if described is not None and described.error is None and described.partitions:
                    return sorted(described.partitions)
            except Exception as error:  # noqa: BLE001 - retried until the deadline
                log("metadata: %r" % (error,))
            if time.monotonic() >= deadline:
                return []
            time.sleep(0.2)

    def watermarks(self, topic, partitions, timeout_s):
        from confluent_kafka import TopicPartition

        return {p: self._consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s, cached=False)
                for p in partitions}

    def assign(self, topic, offsets):
        from confluent_kafka import TopicPartition

        self._consumer.assign([TopicPartition(topic, p, o) for p, o in sorted(offsets.items())])

    def seek(self, topic, partition, offset):
        from confluent_kafka import KafkaException, TopicPartition

        target = TopicPartition(topic, partition, offset)
        try:
            self._consumer.seek(target)
        except KafkaException as error:
            # librdkafka refuses a seek while the partition's fetcher is in an error state
            # (_STATE, "Erroneous state" after an out-of-range answer): take the partition out of the
            # assignment and put it back at the offset, which a seek is.
            log("seek to %s/%d at %d refused (%s): assigning it again there" % (topic, partition, offset, error))
            self._consumer.incremental_unassign([TopicPartition(topic, partition)])
            self._consumer.incremental_assign([target])

    def poll(self, timeout_s):
        from confluent_kafka import KafkaError

        items = []
        for message in self._consumer.consume(num_messages=500, timeout=timeout_s):
            error = message.error()
            if error is None:
                value = message.value()
                if value is None:
                    log("skipping a record without a value at %s/%d offset %d"
                        % (message.topic(), message.partition(), message.offset()))
                    continue
                items.append(Delivered(message.topic(), message.partition(), message.offset(),
                                       value.decode("utf-8", errors="replace")))
                continue
            if error.code() == KafkaError._PARTITION_EOF:
                continue
            partition = message.partition()
            if message.topic() and partition is not None and partition >= 0:
                if error.code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE):
                    name = "offset_out_of_range"
                else:
                    name, _ = errors.confluent_error(error)
                offset = message.offset()
                items.append(PollError(message.topic(), partition, offset if offset is not None and offset >= 0 else None, name))
            else:
                log("consumer error: %s" % (error.str(),))
        return items

    def commit(self, topic, offsets):
        from confluent_kafka import KafkaException, TopicPartition

        answered = self._consumer.commit(
            offsets=[TopicPartition(topic, p, o) for p, o in sorted(offsets.items())], asynchronous=False)
        for tp in answered or []:
            if tp.error is not None:
                raise KafkaException(tp.error)

    def commit_error_outcome(self, error):
        return _commit_outcome(error)

    def close(self):
        self._consumer.close()
