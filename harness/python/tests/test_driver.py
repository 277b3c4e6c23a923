import io
import json
import os
import tempfile
import threading
import unittest

from streamsim_harness import driver
from streamsim_harness.driver import ConsumerRun, Delivered, Membership, PollError, ProducerRun, Truncated
from streamsim_harness.history import History


class Timeout(Exception):
    """Stands for a library's timeout exception (kafka-python's KafkaTimeoutError)."""


class TooLarge(Exception):
    pass


class FakeProducer:
    """Answers sends by a script: value index -> ("ok", partition, offset) | ("error", exc) | ("raise", exc)
    | ("never",). Callbacks run in flush(), as librdkafka's do."""

    def __init__(self, script, pid=None, fatal=None):
        self.script = script
        self.queued = []
        self.closed = False
        self.pid = pid
        self.fatal = fatal
        self.sent = 0

    def send(self, topic, key, value, on_ok, on_error):
        index = self.sent
        self.sent += 1
        action = self.script.get(index, ("ok", 0, index))
        if action[0] == "raise":
            raise action[1]
        self.queued.append((action, on_ok, on_error))

    def error_name(self, error, raised):
        if isinstance(error, TooLarge):
            return "message_too_large", "fail"
        return "request_timed_out", "fail" if raised else "info"

    def poll(self, timeout_s):
        pass

    def flush(self, timeout_s):
        for action, on_ok, on_error in self.queued:
            if action[0] == "ok":
                on_ok(action[1], action[2])
            elif action[0] == "error":
                on_error(action[1])
        self.queued = []

    def producer_id(self):
        return self.pid

    def fatal_error(self):
        return self.fatal

    def close(self):
        self.closed = True


def events(out):
    return [json.loads(line) for line in out.getvalue().splitlines()]


def run_producer(script, records, **options):
    out = io.StringIO()
    adapter = FakeProducer(script, **{k: options.pop(k) for k in ("pid", "fatal") if k in options})
    counts = ProducerRun(adapter, History(out), "kp-producer-0", "t", records, **options).run()
    return adapter, counts, events(out)


class ProducerRunTest(unittest.TestCase):
    def test_every_send_is_invoked_then_resolved_once(self):
        script = {1: ("error", TooLarge()), 2: ("error", Timeout()), 3: ("raise", Timeout()), 4: ("never",)}
        adapter, counts, history = run_producer(script, 6, pid=(7, 0))
        self.assertTrue(adapter.closed)
        shapes = [(e["type"], e["f"], e.get("value"), e.get("error"), e.get("offset")) for e in history]
        self.assertEqual(shapes, [
            ("ok", "start", None, None, None),
            ("invoke", "send", "kp-producer-0-0", None, None),
            ("invoke", "send", "kp-producer-0-1", None, None),
            ("invoke", "send", "kp-producer-0-2", None, None),
            ("invoke", "send", "kp-producer-0-3", None, None),
            # send() raised: never queued, a definite failure whatever the error.
            ("fail", "send", "kp-producer-0-3", "request_timed_out", None),
            ("invoke", "send", "kp-producer-0-4", None, None),
            ("invoke", "send", "kp-producer-0-5", None, None),
            ("ok", "init_pid", None, None, None),
            ("ok", "send", "kp-producer-0-0", None, 0),
            ("fail", "send", "kp-producer-0-1", "message_too_large", None),
            ("info", "send", "kp-producer-0-2", "request_timed_out", None),
            ("ok", "send", "kp-producer-0-5", None, 5),
            # No outcome by the end of the flush: unknown.
            ("info", "send", "kp-producer-0-4", "request_timed_out", None),
            ("ok", "close", None, None, None),
        ])
        self.assertEqual(history[8]["pid"], 7)
        self.assertEqual(history[1]["key"], None)
        self.assertEqual(history[1]["topic"], "t")
        self.assertEqual(counts["ok"], 2)
        self.assertEqual(counts["unanswered"], 1)
        values = [e["value"] for e in history if e["f"] == "send" and e["type"] == "invoke"]
        self.assertEqual(len(values), len(set(values)))

    def test_an_ack_without_an_offset_is_info(self):
        _, _, history = run_producer({0: ("ok", 0, -1)}, 1)
        self.assertEqual([(e["type"], e.get("error")) for e in history if e["f"] == "send"],
                         [("invoke", None), ("info", "no_offset")])

    def test_a_fatal_error_is_recorded_before_the_failures_it_causes(self):
        _, _, history = run_producer({0: ("error", Timeout())}, 1, fatal=("t", 3, "unknown_producer_id"))
        self.assertEqual([(e["type"], e["f"]) for e in history[2:4]], [("ok", "fatal"), ("info", "send")])
        self.assertEqual(history[2]["partition"], 3)
        self.assertEqual(history[2]["error"], "unknown_producer_id")

    def test_rate_paces_sends(self):
        clock = [0.0]
        sleeps = []

        def sleep(seconds):
            sleeps.append(seconds)
            clock[0] += seconds

        run_producer({}, 5, rate=10.0, sleep=sleep, monotonic=lambda: clock[0])
        self.assertAlmostEqual(clock[0], 0.4, places=6)

    def test_duration_stops_sending(self):
        clock = [0.0]

        def sleep(seconds):
            clock[0] += seconds

        _, counts, _ = run_producer({}, 1000, rate=10.0, duration_s=1.0, sleep=sleep, monotonic=lambda: clock[0])
        self.assertEqual(counts["sent"], 10)

    def test_a_crash_is_recorded(self):
        class Broken(FakeProducer):
            def poll(self, timeout_s):
                raise KeyboardInterrupt()  # the harness itself is stopped: its sends die with it

        out = io.StringIO()
        with self.assertRaises(KeyboardInterrupt):
            ProducerRun(Broken({}), History(out), "p", "t", 1).run()
        self.assertEqual([(e["type"], e["f"]) for e in events(out)][-1], ("info", "crash"))

    def test_a_library_raising_in_poll_stops_the_sends_not_the_run(self):
        class Fatal(FakeProducer):
            def poll(self, timeout_s):
                raise RuntimeError("fatal error")

        out = io.StringIO()
        counts = ProducerRun(Fatal({}), History(out), "p", "t", 5).run()
        shapes = [(e["type"], e["f"]) for e in events(out)]
        self.assertNotIn(("info", "crash"), shapes)
        self.assertEqual(shapes.count(("invoke", "send")), 1)
        self.assertEqual(counts["sent"], 1)

    def test_a_failing_flush_or_close_leaves_the_outcomes_unknown_not_a_crash(self):
        class Stuck(FakeProducer):
            def send(self, topic, key, value, on_ok, on_error):
                pass  # never answered

            def flush(self, timeout_s):
                raise RuntimeError("timed out waiting for the future")

            def close(self):
                raise RuntimeError("close timed out")

        out = io.StringIO()
        counts = ProducerRun(Stuck({}), History(out), "p", "t", 2).run()
        shapes = [(e["type"], e["f"]) for e in events(out)]
        self.assertNotIn(("info", "crash"), shapes)
        self.assertEqual(shapes.count(("info", "send")), 2)
        self.assertEqual(counts["unanswered"], 2)


class FakeConsumer:
    """A topic of `logs` (partition -> list of values, with `low` as log starts); poll serves `batch` records
    per call; `errors` injects PollErrors (by poll call number)."""

    def __init__(self, logs, low=None, batch=2, errors=None, commit_error=None):
        self.logs = logs
        self.low = low or {p: 0 for p in logs}
        self.batch = batch
        self.errors = errors or {}
        self.commit_error = commit_error
        self.position = {}
        self.commits = []
        self.polls = 0
        self.closed = False

    def partitions(self, topic, timeout_s):
        return list(self.logs)

    def watermarks(self, topic, partitions, timeout_s):
        return {p: (self.low[p], len(self.logs[p])) for p in partitions}

    def assign(self, topic, offsets):
        self.position = dict(offsets)

    def seek(self, topic, partition, offset):
        self.position[partition] = offset

    def poll(self, timeout_s):
        self.polls += 1
        if self.polls in self.errors:
            return [self.errors[self.polls]]
        items = []
        for partition in sorted(self.position):
            while len(items) < self.batch and self.position[partition] < len(self.logs[partition]):
                offset = self.position[partition]
                items.append(Delivered("t", partition, offset, self.logs[partition][offset]))
                self.position[partition] += 1
        return items

    def commit(self, topic, offsets):
        if self.commit_error:
            raise self.commit_error
        self.commits.append(dict(offsets))

    def commit_error_outcome(self, error):
        return "request_timed_out", "info"

    def close(self):
        self.closed = True


class StepClock:
    """Advances by `step` each call: the loop's time passes without sleeping."""

    def __init__(self, step=0.1):
        self.now = 0.0
        self.step = step

    def __call__(self):
        self.now += self.step
        return self.now


def run_consumer(adapter, **options):
    out = io.StringIO()
    stop = threading.Event()
    stop.set()
    options.setdefault("monotonic", StepClock())
    options.setdefault("quiet_s", 0.3)
    options.setdefault("check_interval_s", 0.0)
    run = ConsumerRun(adapter, History(out), "kp-consumer-0", "t", stop=stop, **options)
    run.run()
    return run, events(out)


class ConsumerRunTest(unittest.TestCase):
    def test_a_truncation_found_by_the_library_is_a_reset_down_and_reading_goes_on(self):
        adapter = FakeConsumer({0: ["a", "b", "c", "d"]}, batch=3, errors={2: Truncated("t", 0, 1)})
        _, history = run_consumer(adapter)
        shapes = [(e["type"], e["f"]) for e in history]
        self.assertEqual(shapes[:5], [("ok", "start"), ("ok", "assign"), ("ok", "poll"), ("ok", "reset"),
                                      ("ok", "poll")])
        self.assertEqual((history[3]["from"], history[3]["to"], history[3]["reason"]), (3, 1, "seek"))
        self.assertEqual([r["offset"] for r in history[4]["records"]], [1, 2, 3])

    def test_reads_everything_from_the_log_start_then_stops_caught_up(self):
        adapter = FakeConsumer({0: ["a", "b", "c"], 1: ["d"]}, low={0: 1, 1: 0})
        run, history = run_consumer(adapter)
        self.assertTrue(run.drained)
        self.assertTrue(adapter.closed)
        self.assertEqual(history[0]["f"], "start")
        self.assertEqual(history[1]["partitions"], [{"topic": "t", "partition": 0, "offset": 1},
                                                    {"topic": "t", "partition": 1, "offset": 0}])
        read = [(r["partition"], r["offset"], r["value"]) for e in history if e["f"] == "poll" for r in e["records"]]
        self.assertEqual(read, [(0, 1, "b"), (0, 2, "c"), (1, 0, "d")])
        self.assertEqual(history[-1]["f"], "close")
        self.assertEqual(run.positions, {0: 3, 1: 1})

    def test_out_of_range_is_recorded_with_the_reset(self):
        adapter = FakeConsumer({0: ["a", "b", "c", "d"]}, low={0: 0},
                               errors={1: PollError("t", 0, None, "offset_out_of_range")})
        # The log start moved to 2 before the first fetch.
        original = adapter.watermarks
        calls = []

        def watermarks(topic, partitions, timeout_s):
            calls.append(1)
            marks = original(topic, partitions, timeout_s)
            return marks if len(calls) == 1 else {p: (2, high) for p, (_, high) in marks.items()}

        adapter.watermarks = watermarks
        _, history = run_consumer(adapter)
        shapes = [(e["type"], e["f"]) for e in history]
        self.assertEqual(shapes[:5], [("ok", "start"), ("ok", "assign"), ("fail", "poll"), ("ok", "reset"),
                                      ("ok", "poll")])
        self.assertEqual(history[2]["error"], "offset_out_of_range")
        self.assertEqual((history[3]["from"], history[3]["to"], history[3]["reason"]), (0, 2, "out_of_range"))
        self.assertEqual(history[4]["records"][0]["offset"], 2)

    def test_a_log_that_lost_records_answers_out_of_range_and_the_reset_is_recorded(self):
        # The consumer read to offset 3; then the broker lost its log (an in-memory broker restarted): the high
        # watermark is 0, below the position, and the next fetch is out of range: recorded, with the reset to
        # the new end.
        adapter = FakeConsumer({0: ["a", "b", "c"]}, batch=3)
        original_poll = adapter.poll

        def poll(timeout_s):
            if adapter.polls == 1:
                adapter.logs[0] = []
                adapter.polls += 1
                return [PollError("t", 0, 3, "offset_out_of_range")]
            return original_poll(timeout_s)

        adapter.poll = poll
        run, history = run_consumer(adapter)
        self.assertTrue(run.drained)
        resets = [(e["from"], e["to"], e["reason"]) for e in history if e["f"] == "reset"]
        self.assertEqual(resets, [(3, 0, "out_of_range")])
        self.assertEqual(run.positions, {0: 0})

    def test_a_high_watermark_below_the_position_still_ends_the_drain(self):
        # A broker that reports a high watermark one below what it delivered (seen with tansu 0.6.0): waiting
        # tells nothing more, so the drain ends after its quiet period.
        adapter = FakeConsumer({0: ["a", "b", "c"]})
        original = adapter.watermarks
        adapter.watermarks = lambda topic, partitions, timeout_s: {
            p: (low, high - 1) for p, (low, high) in original(topic, partitions, timeout_s).items()}
        run, _ = run_consumer(adapter)
        self.assertTrue(run.drained)
        self.assertEqual(run.positions, {0: 3})

    def test_library_errors_while_reading_are_retried(self):
        adapter = FakeConsumer({0: ["a", "b"]}, batch=1)
        original_poll, original_watermarks = adapter.poll, adapter.watermarks
        failures = {"poll": 2, "watermarks": 3}

        def poll(timeout_s):
            if adapter.polls == 1 and failures["poll"]:
                failures["poll"] -= 1
                raise RuntimeError("connection lost")
            return original_poll(timeout_s)

        def watermarks(topic, partitions, timeout_s):
            if failures["watermarks"]:
                failures["watermarks"] -= 1
                raise RuntimeError("no leader")
            return original_watermarks(topic, partitions, timeout_s)

        adapter.poll, adapter.watermarks = poll, watermarks
        run, history = run_consumer(adapter, sleep=lambda seconds: None)
        self.assertTrue(run.drained)
        self.assertEqual([r["value"] for e in history if e["f"] == "poll" for r in e["records"]], ["a", "b"])
        self.assertEqual(history[-1]["f"], "close")

    def test_commits_record_invoke_and_outcome(self):
        adapter = FakeConsumer({0: ["a", "b", "c"]})
        _, history = run_consumer(adapter, commit_interval_s=0.05)
        commits = [(e["type"], e["offset"]) for e in history if e["f"] == "commit"]
        self.assertIn(("ok", 3), commits)
        self.assertLess(commits.index(("invoke", 3)), commits.index(("ok", 3)))
        self.assertEqual(adapter.commits[-1], {0: 3})
        self.assertEqual(history[-1]["f"], "close")

    def test_a_failed_commit_is_recorded_with_its_outcome(self):
        adapter = FakeConsumer({0: ["a"]}, commit_error=RuntimeError("no coordinator"))
        _, history = run_consumer(adapter, commit_interval_s=0.05)
        self.assertIn(("info", "commit"), [(e["type"], e["f"]) for e in history])
        self.assertNotIn(("ok", "commit"), [(e["type"], e["f"]) for e in history])

    def test_the_drain_waits_for_the_heal(self):
        with tempfile.TemporaryDirectory() as directory:
            cluster = os.path.join(directory, "cluster.jsonl")
            with open(cluster, "w") as file:
                file.write('{"time":1,"process":"nemesis","type":"info","f":"fault","fault":"crash","target":"1"}\n')
            adapter = FakeConsumer({0: ["a"]})
            original_poll = adapter.poll

            def poll(timeout_s):
                if adapter.polls == 20:
                    with open(cluster, "a") as file:
                        file.write('{"time":2,"process":"nemesis","type":"info","f":"fault","fault":"heal"}\n')
                return original_poll(timeout_s)

            adapter.poll = poll
            run, _ = run_consumer(adapter, heal_file=cluster)
            self.assertTrue(run.drained)
            self.assertGreater(adapter.polls, 20)

    def test_the_drain_gives_up_after_its_timeout(self):
        adapter = FakeConsumer({0: ["a"]})
        run, history = run_consumer(adapter, heal_file="/nonexistent/cluster.jsonl", drain_timeout_s=2.0)
        self.assertFalse(run.drained)
        self.assertEqual(history[-1]["f"], "close")

    def test_heal_seen_reads_whole_lines_only(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "h.jsonl")
            with open(path, "w") as file:
                file.write('{"f":"fault","fault":"crash"}\n{"f":"fault","fau')
            seen, offset = driver.heal_seen(path)
            self.assertFalse(seen)
            with open(path, "a") as file:
                file.write('lt":"heal"}\n')
            self.assertEqual(driver.heal_seen(path, offset)[0], True)


class FakeGroup:
    """What a group coordinator keeps: the committed offsets and the generation."""

    def __init__(self, committed=None):
        self.committed = dict(committed or {})
        self.generation = 0


class RefusedCommit(Exception):
    pass


class FakeGroupConsumer(FakeConsumer):
    """A member of `group`, the eager protocol: `rebalances` maps a poll call number to (the partitions it is
    assigned from then on, whether its membership was lost first). Each rebalance revokes what it had (the
    listener commits, unless lost) and assigns the new partitions at the offsets the listener starts them at,
    as kp.py and ck.py do. close() revokes, then leaves."""

    def __init__(self, logs, group, rebalances, member="m-1", leader=True, know_generation=True, **options):
        super().__init__(logs, **options)
        self.group = group
        self.rebalances = rebalances
        self.member = member
        self.leader = leader
        self.know_generation = know_generation
        self.listener = None
        self.subscribed = None

    def subscribe(self, topic, listener):
        self.subscribed = topic
        self.listener = listener

    def _revoke(self, lost):
        partitions = sorted(self.position)
        offsets = self.listener.revoking(partitions, lost)
        error = None
        if offsets:
            try:
                self.commit("t", offsets)
            except Exception as failure:  # noqa: BLE001
                error = failure
        self.listener.revoked(partitions, lost, offsets, error)
        self.position = {}

    def poll(self, timeout_s):
        if self.polls + 1 in self.rebalances:
            self.polls += 1
            partitions, lost = self.rebalances[self.polls]
            self._revoke(lost)
            self.group.generation += 1
            generation = self.group.generation if self.know_generation else None
            self.listener.assigned(partitions, Membership(generation, self.member, self.leader, "range", partitions))
            self.position = dict(self.listener.start_positions(partitions))
            return []
        return super().poll(timeout_s)

    def commit(self, topic, offsets):
        super().commit(topic, offsets)
        self.group.committed.update(offsets)

    def commit_error_outcome(self, error):
        if isinstance(error, RefusedCommit):
            return "illegal_generation", "fail"
        return super().commit_error_outcome(error)

    def committed(self, topic, partitions, timeout_s):
        return {p: self.group.committed.get(p) for p in partitions}

    def generation(self):
        return self.group.generation if self.know_generation and self.group.generation else None

    def leaving_member(self):
        return self.member

    def close(self):
        self._revoke(False)
        super().close()


def shape(event):
    return {k: v for k, v in event.items() if k not in ("time", "process", "records")}


class GroupConsumerRunTest(unittest.TestCase):
    def test_a_member_records_its_membership_starts_at_the_commits_and_leaves_on_close(self):
        group = FakeGroup({0: 1})
        adapter = FakeGroupConsumer({0: ["a", "b", "c"], 1: ["d"]}, group, {1: ([0, 1], False)})
        run, history = run_consumer(adapter, group="g", commit_interval_s=0.05)
        self.assertEqual(adapter.subscribed, "t")
        self.assertTrue(run.drained)
        self.assertEqual([shape(e) for e in history[:4]], [
            {"type": "ok", "f": "start"},
            {"type": "ok", "f": "join", "group": "g", "generation": 1, "member": "m-1", "leader": True,
             "protocol": "range"},
            {"type": "ok", "f": "assignment", "group": "g", "generation": 1, "member": "m-1",
             "partitions": [{"topic": "t", "partition": 0}, {"topic": "t", "partition": 1}]},
            # Partition 0 from the group's commit, partition 1 (no commit) from its log start.
            {"type": "ok", "f": "assign", "partitions": [{"topic": "t", "partition": 0, "offset": 1},
                                                         {"topic": "t", "partition": 1, "offset": 0}]},
        ])
        read = [(r["partition"], r["offset"]) for e in history if e["f"] == "poll" for r in e["records"]]
        self.assertEqual(read, [(0, 1), (0, 2), (1, 0)])
        commits = [e for e in history if e["f"] == "commit"]
        self.assertTrue(commits)
        self.assertTrue(all(e["group"] == "g" and e["generation"] == 1 for e in commits))
        self.assertEqual(group.committed, {0: 3, 1: 1})
        self.assertEqual([shape(e) for e in history[-3:]], [
            {"type": "ok", "f": "revoke", "group": "g", "generation": 1,
             "partitions": [{"topic": "t", "partition": 0}, {"topic": "t", "partition": 1}], "lost": False},
            {"type": "ok", "f": "leave", "group": "g", "member": "m-1"},
            {"type": "ok", "f": "close"},
        ])

    def test_a_revoke_commits_what_was_delivered_before_it_is_recorded(self):
        group = FakeGroup()
        # Assigned both, then only partition 1 (another member takes partition 0, reads it and commits).
        adapter = FakeGroupConsumer({0: ["a", "b", "c"], 1: ["d", "e"]}, group,
                                    {1: ([0, 1], False), 3: ([1], False)}, batch=2)
        original_poll = adapter.poll

        def poll(timeout_s):
            if adapter.polls == 8:
                group.committed[0] = 3  # the other member caught up
            return original_poll(timeout_s)

        adapter.poll = poll
        run, history = run_consumer(adapter, group="g", commit_interval_s=0.5)
        self.assertTrue(run.drained)
        shapes = [(e["type"], e["f"]) for e in history]
        revoke = shapes.index(("ok", "revoke"))
        # Poll 2 delivered a, b of partition 0: committed (2) and partition 1 at its start (0), then the revoke.
        self.assertEqual(shapes[revoke - 4:revoke + 1], [("invoke", "commit"), ("invoke", "commit"), ("ok", "commit"),
                                                         ("ok", "commit"), ("ok", "revoke")])
        self.assertEqual([(e["partition"], e["offset"]) for e in history[revoke - 4:revoke - 2]], [(0, 2), (1, 0)])
        self.assertEqual(history[revoke]["generation"], 1)
        self.assertEqual(shape(history[revoke + 2]), {
            "type": "ok", "f": "assignment", "group": "g", "generation": 2, "member": "m-1",
            "partitions": [{"topic": "t", "partition": 1}]})
        self.assertEqual(history[revoke + 3]["partitions"], [{"topic": "t", "partition": 1, "offset": 0}])
        read = [(r["partition"], r["offset"]) for e in history if e["f"] == "poll" for r in e["records"]]
        self.assertEqual(read, [(0, 0), (0, 1), (1, 0), (1, 1)])

    def test_the_drain_waits_for_the_groups_commits_of_partitions_others_own(self):
        group = FakeGroup()
        adapter = FakeGroupConsumer({0: ["a"], 1: ["b"]}, group, {1: ([1], False)})
        run, history = run_consumer(adapter, group="g", commit_interval_s=0.05, drain_timeout_s=3.0)
        # Partition 0 is nobody's here and never committed: the group is not caught up.
        self.assertFalse(run.drained)
        self.assertEqual(group.committed, {1: 1})
        self.assertEqual(history[-1]["f"], "close")

    def test_a_lost_membership_commits_nothing_and_reads_again_from_the_groups_commit(self):
        group = FakeGroup()
        adapter = FakeGroupConsumer({0: ["a", "b", "c"]}, group, {1: ([0], False), 3: ([0], True)},
                                    batch=2)
        run, history = run_consumer(adapter, group="g", commit_interval_s=0)
        self.assertTrue(run.drained)
        shapes = [(e["type"], e["f"]) for e in history]
        revoke = shapes.index(("ok", "revoke"))
        self.assertEqual(shapes[revoke - 1], ("ok", "poll"))
        self.assertEqual(history[revoke]["lost"], True)
        self.assertEqual(history[revoke]["generation"], 1)
        # Nothing was committed: generation 2 starts partition 0 at its log start again.
        self.assertEqual(history[revoke + 3]["partitions"], [{"topic": "t", "partition": 0, "offset": 0}])
        read = [(r["partition"], r["offset"]) for e in history if e["f"] == "poll" for r in e["records"]]
        self.assertEqual(read, [(0, 0), (0, 1), (0, 0), (0, 1), (0, 2)])

    def test_leave_after_records_commits_closes_and_leaves_without_a_drain(self):
        group = FakeGroup()
        adapter = FakeGroupConsumer({0: ["a", "b", "c", "d"]}, group, {1: ([0], False)}, batch=2)
        run, history = run_consumer(adapter, group="g", commit_interval_s=100.0, leave_after_records=2,
                                    heal_file="/nonexistent/cluster.jsonl")
        self.assertTrue(run.left_early)
        self.assertFalse(run.drained)
        self.assertEqual(run.delivered, 2)
        self.assertEqual(group.committed, {0: 2})
        self.assertEqual([(e["type"], e["f"]) for e in history[-6:]], [
            ("ok", "poll"), ("invoke", "commit"), ("ok", "commit"), ("ok", "revoke"), ("ok", "leave"), ("ok", "close")])

    def test_a_refused_commit_on_revoke_is_recorded_with_its_error_and_the_revoke_still_is(self):
        adapter = FakeGroupConsumer({0: ["a"]}, FakeGroup(), {1: ([0], False), 3: ([0], False)}, batch=1,
                                    commit_error=RefusedCommit())
        _, history = run_consumer(adapter, group="g", commit_interval_s=0, drain_timeout_s=1.0)
        failed = [e for e in history if e["f"] == "commit" and e["type"] != "invoke"]
        self.assertTrue(failed)
        self.assertTrue(all(e["type"] == "fail" and e["error"] == "illegal_generation" for e in failed))
        shapes = [(e["type"], e["f"]) for e in history]
        self.assertEqual(shapes[shapes.index(("fail", "commit")) + 1], ("ok", "revoke"))

    def test_a_library_that_does_not_tell_the_generation_records_no_join_nor_assignment(self):
        adapter = FakeGroupConsumer({0: ["a"]}, FakeGroup(), {1: ([0], False)}, know_generation=False)
        run, history = run_consumer(adapter, group="g", commit_interval_s=0.05)
        self.assertTrue(run.drained)
        fs = [e["f"] for e in history]
        self.assertNotIn("join", fs)
        self.assertNotIn("assignment", fs)
        self.assertIn("assign", fs)
        self.assertTrue(all("generation" not in e for e in history if e["f"] in ("commit", "revoke")))
        self.assertTrue(all(e["group"] == "g" for e in history if e["f"] == "commit"))

    def test_manual_assignment_commits_carry_no_group(self):
        adapter = FakeConsumer({0: ["a"]})
        _, history = run_consumer(adapter, commit_interval_s=0.05)
        commits = [e for e in history if e["f"] == "commit"]
        self.assertTrue(commits)
        self.assertTrue(all("group" not in e and "generation" not in e for e in commits))


if __name__ == "__main__":
    unittest.main()
