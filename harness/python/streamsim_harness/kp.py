"""kafka-python adapters (driver.py's interfaces). kafka-python >= 2.2.0 has the idempotent producer
(`enable_idempotence`, KIP-98; on by default from 3.0); the harness is tested with the version scripts/setup-python.sh pins."""

import kafka  # noqa: F401 - fails early, with a clear message, when missing

from . import errors
from .driver import Delivered, PollError, Truncated, log


def _split_bootstrap(bootstrap):
    return [address.strip() for address in bootstrap.split(",") if address.strip()]


def _commit_outcome(error):
    name, _ = errors.kafka_python_error(error)
    # A broker's answer refusing the commit means it was not stored; no answer means unknown.
    if isinstance(getattr(type(error), "errno", None), int) and name not in ("request_timed_out", "network_error"):
        return name, "fail"
    return name, "info"


class Producer:
    def __init__(self, bootstrap, process, delivery_timeout_s=30.0, linger_ms=5, extra=None, idempotence=True):
        from kafka import KafkaProducer

        request_timeout_ms = min(int(delivery_timeout_s * 1000) // 2, 10000)
        config = dict(
            bootstrap_servers=_split_bootstrap(bootstrap),
            client_id=process,
            acks="all",
            enable_idempotence=idempotence,
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
    def __init__(self, bootstrap, process, group_id=None, extra=None):
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
        config.update(extra or {})
        self._consumer = KafkaConsumer(**config)

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
        from kafka.errors import OffsetOutOfRangeError

        try:
            batches = self._consumer.poll(timeout_ms=int(timeout_s * 1000))
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
        return items

    def commit(self, topic, offsets):
        from kafka.structs import OffsetAndMetadata

        self._consumer.commit({self._tp(topic, p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()})

    def commit_error_outcome(self, error):
        return _commit_outcome(error)

    def close(self):
        self._consumer.close(autocommit=False)
