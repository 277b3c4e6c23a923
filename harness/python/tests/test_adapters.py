"""The group parts of the library adapters (kp.py, ck.py) against fakes of the libraries' consumers: no network.
Skipped where the library is not installed (the venv of scripts/setup-python.sh has both)."""

import asyncio
import unittest

from streamsim_harness.driver import Delivered

try:
    import kafka
    from streamsim_harness import kp
except ImportError:  # pragma: no cover - without kafka-python
    kafka = None

try:
    import confluent_kafka
    from streamsim_harness import ck
except ImportError:  # pragma: no cover - without confluent-kafka
    confluent_kafka = None


class Listener:
    """Records what an adapter tells the driver; starts every partition at 10 + its number."""

    def __init__(self, commit=True):
        self.calls = []
        self.commit = commit

    def assigned(self, partitions, membership):
        self.calls.append(("assigned", partitions, membership))

    def start_positions(self, partitions):
        self.calls.append(("start_positions", partitions))
        return {p: 10 + p for p in partitions}

    def revoking(self, partitions, lost):
        self.calls.append(("revoking", partitions, lost))
        return {} if lost or not self.commit else {p: 20 + p for p in partitions}

    def revoked(self, partitions, lost, offsets, error):
        self.calls.append(("revoked", partitions, lost, offsets, error))


@unittest.skipIf(kafka is None, "kafka-python is not installed")
class KafkaPythonGroupTest(unittest.TestCase):
    def consumer(self, fake):
        import threading

        adapter = object.__new__(kp.Consumer)
        adapter._consumer = fake
        adapter._topic = "t"
        adapter._listener = Listener()
        adapter._lock = threading.Lock()
        adapter._pending = set()
        return adapter

    def fake(self):
        from kafka import TopicPartition
        from kafka.structs import ConsumerGroupMetadata, MemberState

        class Coordinator:
            _is_leader = True

            def __init__(self):
                self.commits = []
                self.error = None

            async def _commit_offsets_sync_async(self, offsets, timeout_ms=None):
                self.commits.append(offsets)
                if self.error:
                    raise self.error

        class Fake:
            def __init__(self):
                self.log = []
                self._coordinator = Coordinator()
                self.assigned = {TopicPartition("t", 0), TopicPartition("t", 1)}
                self.metadata = ConsumerGroupMetadata("g", 4, "member-1", None, MemberState.STABLE)
                self.poll_answer = None

            def pause(self, *tps):
                self.log.append(("pause", sorted(tp.partition for tp in tps)))

            def resume(self, *tps):
                self.log.append(("resume", sorted(tp.partition for tp in tps)))

            def seek(self, tp, offset):
                self.log.append(("seek", tp.partition, offset))

            def assignment(self):
                return set(self.assigned)

            def group_metadata(self):
                return self.metadata

            def poll(self, timeout_ms):
                self.log.append(("poll",))
                answer, self.poll_answer = self.poll_answer, None
                if isinstance(answer, Exception):
                    raise answer
                return answer or {}

        return Fake()

    def test_assigned_partitions_are_paused_until_poll_starts_them(self):
        from kafka import TopicPartition
        from kafka.errors import NoOffsetForPartitionError

        fake = self.fake()
        adapter = self.consumer(fake)
        adapter._on_assigned({TopicPartition("t", 1)})
        name, partitions, membership = adapter._listener.calls[0]
        self.assertEqual((name, partitions), ("assigned", [1]))
        self.assertEqual((membership.generation, membership.member, membership.leader, membership.assignment),
                         (4, "member-1", True, [0, 1]))
        self.assertEqual(fake.log, [("pause", [1])])
        self.assertEqual(adapter.poll(0.1), [])
        self.assertEqual(fake.log[1:], [("seek", 1, 11), ("resume", [1]), ("poll",)])
        self.assertEqual(adapter._listener.calls[1], ("start_positions", [1]))
        self.assertEqual(adapter._pending, set())
        # Assigned within a poll, the library finds no committed offset for it (auto_offset_reset none): not an
        # error while it waits to be started, which it is before poll() returns.
        fake.log = []

        def poll(timeout_ms):
            adapter._on_assigned({TopicPartition("t", 0)})
            raise NoOffsetForPartitionError({TopicPartition("t", 0)})

        fake.poll = poll
        self.assertEqual(adapter.poll(0.1), [])
        self.assertEqual(fake.log, [("pause", [0]), ("seek", 0, 10), ("resume", [0])])
        # Started: the same error now is the library's.
        with self.assertRaises(NoOffsetForPartitionError):
            fake.poll = lambda timeout_ms: (_ for _ in ()).throw(NoOffsetForPartitionError({TopicPartition("t", 0)}))
            adapter.poll(0.1)

    def test_partitions_assigned_during_a_poll_are_started_before_it_returns(self):
        from kafka import TopicPartition

        fake = self.fake()
        adapter = self.consumer(fake)
        message = type("Message", (), {"offset": 5, "value": b"v"})()

        def poll(timeout_ms):
            adapter._on_assigned({TopicPartition("t", 0)})  # the rebalance runs inside the library's poll
            return {TopicPartition("t", 1): [message]}

        fake.poll = poll
        self.assertEqual(adapter.poll(0.1), [Delivered("t", 1, 5, "v")])
        self.assertEqual(fake.log, [("pause", [0]), ("seek", 0, 10), ("resume", [0])])

    def test_a_revoke_commits_with_the_coroutine_behind_commit_then_tells_the_driver(self):
        from kafka import TopicPartition
        from kafka.errors import CommitFailedError, IllegalGenerationError
        from kafka.structs import OffsetAndMetadata

        fake = self.fake()
        adapter = self.consumer(fake)
        adapter._pending = {1}
        asyncio.run(adapter._on_revoked({TopicPartition("t", 0), TopicPartition("t", 1)}, False))
        self.assertEqual(fake._coordinator.commits, [{TopicPartition("t", 0): OffsetAndMetadata(20, "", -1),
                                                      TopicPartition("t", 1): OffsetAndMetadata(21, "", -1)}])
        self.assertEqual(adapter._listener.calls[-1], ("revoked", [0, 1], False, {0: 20, 1: 21}, None))
        self.assertEqual(adapter._pending, set())
        error = CommitFailedError(IllegalGenerationError())
        fake._coordinator.error = error
        asyncio.run(adapter._on_revoked({TopicPartition("t", 0)}, False))
        self.assertIs(adapter._listener.calls[-1][4], error)
        self.assertEqual(adapter.commit_error_outcome(error), ("illegal_generation", "fail"))
        # Lost: nothing committed.
        asyncio.run(adapter._on_revoked({TopicPartition("t", 0)}, True))
        self.assertEqual(len(fake._coordinator.commits), 2)
        self.assertEqual(adapter._listener.calls[-1], ("revoked", [0], True, {}, None))

    def test_commit_errors_are_named_by_the_brokers_error(self):
        from kafka.errors import CommitFailedError, RebalanceInProgressError, RequestTimedOutError

        self.assertEqual(kp._commit_outcome(CommitFailedError(RebalanceInProgressError())),
                         ("rebalance_in_progress", "fail"))
        # Refused before anything was sent (not in a stable group).
        self.assertEqual(kp._commit_outcome(CommitFailedError("not part of an active group")), ("commit_failed", "fail"))
        self.assertEqual(kp._commit_outcome(RebalanceInProgressError("rebalancing")), ("rebalance_in_progress", "fail"))
        self.assertEqual(kp._commit_outcome(RequestTimedOutError()), ("request_timed_out", "info"))

    def test_generation_and_the_member_that_leaves(self):
        from kafka.structs import ConsumerGroupMetadata, MemberState

        fake = self.fake()
        adapter = self.consumer(fake)
        self.assertEqual((adapter.generation(), adapter.leaving_member()), (4, "member-1"))
        fake.metadata = ConsumerGroupMetadata("g", -1, "", None, MemberState.UNJOINED)
        self.assertEqual((adapter.generation(), adapter.leaving_member()), (None, None))
        # A static member does not leave on close.
        fake.metadata = ConsumerGroupMetadata("g", 4, "member-1", "instance-1", MemberState.STABLE)
        self.assertIsNone(adapter.leaving_member())


@unittest.skipIf(confluent_kafka is None, "confluent-kafka is not installed")
class ConfluentKafkaGroupTest(unittest.TestCase):
    def fake(self, commit_error=None):
        class Fake:
            def __init__(self):
                self.assigned = None
                self.commits = []
                self.cgmd = b"CGMDv2:" + (7).to_bytes(4, __import__("sys").byteorder, signed=True) + b"g\0m-7\0\x01"

            def memberid(self):
                return "m-7"

            def consumer_group_metadata(self):
                return self.cgmd

            def assign(self, tps):
                self.assigned = [(tp.topic, tp.partition, tp.offset) for tp in tps]

            def commit(self, offsets, asynchronous):
                from confluent_kafka import KafkaError

                self.commits.append(([(tp.partition, tp.offset) for tp in offsets], asynchronous))
                error = KafkaError(commit_error) if commit_error is not None else None
                return [type("Answered", (), {"topic": tp.topic, "partition": tp.partition, "offset": tp.offset,
                                              "error": error})() for tp in offsets]

        return Fake()

    def consumer(self, fake):
        adapter = object.__new__(ck.Consumer)
        adapter._consumer = fake
        adapter._topic = "t"
        adapter._listener = Listener()
        return adapter

    def test_the_generation_is_read_from_librdkafkas_group_metadata(self):
        import sys

        def cgmd(generation):
            return b"CGMDv2:" + generation.to_bytes(4, sys.byteorder, signed=True) + b"g\0m\0\x01"

        self.assertEqual(ck.cgmd_generation(cgmd(1)), 1)
        self.assertEqual(ck.cgmd_generation(cgmd(70000)), 70000)
        self.assertIsNone(ck.cgmd_generation(cgmd(-1)))  # not joined
        self.assertIsNone(ck.cgmd_generation(b"CGMDv3:\x01\x00\x00\x00g\0"))  # another format: not guessed
        self.assertIsNone(ck.cgmd_generation(b"CGMDv2:\x01"))
        self.assertIsNone(ck.cgmd_generation(None))

    def test_on_assign_starts_the_partitions_where_the_driver_says(self):
        from confluent_kafka import TopicPartition

        fake = self.fake()
        adapter = self.consumer(fake)
        adapter._on_assign(fake, [TopicPartition("t", 1), TopicPartition("t", 0)])
        name, partitions, membership = adapter._listener.calls[0]
        self.assertEqual((name, partitions), ("assigned", [0, 1]))
        self.assertEqual((membership.generation, membership.member, membership.leader, membership.assignment),
                         (7, "m-7", None, [0, 1]))
        self.assertEqual(adapter._listener.calls[1], ("start_positions", [0, 1]))
        self.assertEqual(fake.assigned, [("t", 0, 10), ("t", 1, 11)])

    def test_on_revoke_commits_synchronously_and_on_lost_does_not(self):
        from confluent_kafka import TopicPartition

        fake = self.fake()
        adapter = self.consumer(fake)
        adapter._on_revoke(fake, [TopicPartition("t", 0)])
        self.assertEqual(fake.commits, [([(0, 20)], False)])
        self.assertEqual(adapter._listener.calls[-1], ("revoked", [0], False, {0: 20}, None))
        adapter._on_lost(fake, [TopicPartition("t", 1)])
        self.assertEqual(len(fake.commits), 1)
        self.assertEqual(adapter._listener.calls[-1], ("revoked", [1], True, {}, None))

    def test_a_refused_commit_on_revoke_reaches_the_driver_with_its_error(self):
        from confluent_kafka import KafkaError, TopicPartition

        fake = self.fake(commit_error=KafkaError.ILLEGAL_GENERATION)
        adapter = self.consumer(fake)
        adapter._on_revoke(fake, [TopicPartition("t", 0)])
        error = adapter._listener.calls[-1][4]
        self.assertIsNotNone(error)
        self.assertEqual(adapter.commit_error_outcome(error), ("illegal_generation", "fail"))


if __name__ == "__main__":
    unittest.main()
