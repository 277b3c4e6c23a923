import io
import json
import threading
import unittest

from streamsim_harness.history import History


class Clock:
    def __init__(self, times):
        self.times = list(times)

    def __call__(self):
        return self.times.pop(0)


def lines(out):
    return [json.loads(line) for line in out.getvalue().splitlines()]


class HistoryTest(unittest.TestCase):
    def test_events_have_the_documented_shape(self):
        out = io.StringIO()
        history = History(out, clock=Clock(range(100, 200)))
        history.start("kp-producer-0")
        history.send_invoke("kp-producer-0", "t", None, "kp-producer-0-0")
        history.send_ok("kp-producer-0", "kp-producer-0-0", "t", 2, 7)
        history.send_fail("kp-producer-0", "kp-producer-0-1", "message_too_large")
        history.send_info("kp-producer-0", "kp-producer-0-2", "request_timed_out")
        history.assign("kp-consumer-0", [("t", 0, 0), ("t", 1, 5)])
        history.poll_ok("kp-consumer-0", [("t", 2, 7, "kp-producer-0-0")])
        history.poll_fail("kp-consumer-0", "t", 1, 5, "offset_out_of_range")
        history.reset("kp-consumer-0", "t", 1, 5, 9, "out_of_range")
        history.commit("kp-consumer-0", "ok", "t", 2, 8)
        history.crash("kp-consumer-0")
        history.close("kp-producer-0")
        self.assertEqual(lines(out), [
            {"time": 100, "process": "kp-producer-0", "type": "ok", "f": "start"},
            {"time": 101, "process": "kp-producer-0", "type": "invoke", "f": "send", "topic": "t", "key": None,
             "value": "kp-producer-0-0"},
            {"time": 102, "process": "kp-producer-0", "type": "ok", "f": "send", "value": "kp-producer-0-0",
             "topic": "t", "partition": 2, "offset": 7},
            {"time": 103, "process": "kp-producer-0", "type": "fail", "f": "send", "value": "kp-producer-0-1",
             "error": "message_too_large"},
            {"time": 104, "process": "kp-producer-0", "type": "info", "f": "send", "value": "kp-producer-0-2",
             "error": "request_timed_out"},
            {"time": 105, "process": "kp-consumer-0", "type": "ok", "f": "assign",
             "partitions": [{"topic": "t", "partition": 0, "offset": 0}, {"topic": "t", "partition": 1, "offset": 5}]},
            {"time": 106, "process": "kp-consumer-0", "type": "ok", "f": "poll",
             "records": [{"topic": "t", "partition": 2, "offset": 7, "value": "kp-producer-0-0"}]},
            {"time": 107, "process": "kp-consumer-0", "type": "fail", "f": "poll", "topic": "t", "partition": 1,
             "offset": 5, "error": "offset_out_of_range"},
            {"time": 108, "process": "kp-consumer-0", "type": "ok", "f": "reset", "topic": "t", "partition": 1,
             "from": 5, "to": 9, "reason": "out_of_range"},
            {"time": 109, "process": "kp-consumer-0", "type": "ok", "f": "commit", "topic": "t", "partition": 2,
             "offset": 8},
            {"time": 110, "process": "kp-consumer-0", "type": "info", "f": "crash"},
            {"time": 111, "process": "kp-producer-0", "type": "ok", "f": "close"},
        ])
        # One compact line per event, keys in the format's order.
        first = out.getvalue().splitlines()[1]
        self.assertEqual(first, '{"time":101,"process":"kp-producer-0","type":"invoke","f":"send","topic":"t",'
                                '"key":null,"value":"kp-producer-0-0"}')

    def test_time_never_decreases(self):
        out = io.StringIO()
        history = History(out, clock=Clock([50, 40, 40, 60]))
        for _ in range(4):
            history.start("p")
        self.assertEqual([event["time"] for event in lines(out)], [50, 50, 50, 60])

    def test_the_default_clock_is_nanoseconds_since_the_epoch(self):
        out = io.StringIO()
        History(out).start("p")
        time_ns = lines(out)[0]["time"]
        self.assertIsInstance(time_ns, int)
        self.assertGreater(time_ns, 1_600_000_000 * 10**9)

    def test_bad_fields_are_refused_before_writing(self):
        out = io.StringIO()
        history = History(out, clock=Clock(range(10)))
        with self.assertRaisesRegex(ValueError, "offset must be an integer >= 0"):
            history.send_ok("p", "v", "t", 0, -1)
        with self.assertRaisesRegex(ValueError, "offset must be an integer >= 0"):
            history.send_ok("p", "v", "t", 0, True)
        with self.assertRaisesRegex(ValueError, "acks"):
            history.send_ok("p", "v", "t", 0, 1, acks="0")
        with self.assertRaisesRegex(ValueError, "reset reason"):
            history.reset("c", "t", 0, 1, 2, "because")
        with self.assertRaisesRegex(ValueError, "type must be"):
            history.record("p", "done", "send")
        with self.assertRaisesRegex(ValueError, "value must be a string"):
            history.send_invoke("p", "t", None, b"bytes")
        self.assertEqual(out.getvalue(), "")

    def test_threads_write_whole_lines(self):
        out = io.StringIO()
        history = History(out)

        def write(index):
            for n in range(200):
                history.send_info("p%d" % index, "v-%d-%d" % (index, n), "request_timed_out")

        threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        events = lines(out)
        self.assertEqual(len(events), 800)
        times = [event["time"] for event in events]
        self.assertEqual(times, sorted(times))

    def test_group_events_have_the_agreed_shape(self):
        out = io.StringIO()
        history = History(out, clock=Clock(range(1, 100)))
        history.join("c", "g", 3, "m-1", True, "range")
        history.join("c", "g", 4, "m-1", False)
        history.assignment("c", "g", 3, "m-1", [("t", 0), ("t", 2)])
        history.commit("c", "invoke", "t", 0, 7, group="g", generation=3)
        history.commit("c", "fail", "t", 0, 7, group="g", generation=3, error="illegal_generation")
        history.commit("c", "info", "t", 0, 7, error="request_timed_out")
        history.revoke("c", "g", 3, [("t", 0)])
        history.revoke("c", "g", 3, [("t", 2)], lost=True)
        history.revoke("c", "g", None, [("t", 2)])
        history.leave("c", "g", "m-1")
        self.assertEqual([{k: v for k, v in event.items() if k not in ("time", "process")} for event in lines(out)], [
            {"type": "ok", "f": "join", "group": "g", "generation": 3, "member": "m-1", "leader": True,
             "protocol": "range"},
            {"type": "ok", "f": "join", "group": "g", "generation": 4, "member": "m-1", "leader": False},
            {"type": "ok", "f": "assignment", "group": "g", "generation": 3, "member": "m-1",
             "partitions": [{"topic": "t", "partition": 0}, {"topic": "t", "partition": 2}]},
            {"type": "invoke", "f": "commit", "topic": "t", "partition": 0, "offset": 7, "group": "g",
             "generation": 3},
            {"type": "fail", "f": "commit", "topic": "t", "partition": 0, "offset": 7, "group": "g",
             "generation": 3, "error": "illegal_generation"},
            {"type": "info", "f": "commit", "topic": "t", "partition": 0, "offset": 7, "error": "request_timed_out"},
            {"type": "ok", "f": "revoke", "group": "g", "generation": 3, "partitions": [{"topic": "t", "partition": 0}],
             "lost": False},
            {"type": "ok", "f": "revoke", "group": "g", "generation": 3, "partitions": [{"topic": "t", "partition": 2}],
             "lost": True},
            # A library that does not tell the generation: left out.
            {"type": "ok", "f": "revoke", "group": "g", "partitions": [{"topic": "t", "partition": 2}], "lost": False},
            {"type": "ok", "f": "leave", "group": "g", "member": "m-1"},
        ])

    def test_bad_group_fields_are_refused_before_writing(self):
        out = io.StringIO()
        history = History(out, clock=Clock(range(10)))
        with self.assertRaisesRegex(ValueError, "generation must be"):
            history.join("c", "g", -1, "m", True)
        with self.assertRaisesRegex(ValueError, "generation must be"):
            history.commit("c", "ok", "t", 0, 1, group="g", generation=2 ** 32)
        with self.assertRaisesRegex(ValueError, "leader must be a boolean"):
            history.join("c", "g", 1, "m", 1)
        with self.assertRaisesRegex(ValueError, "only a fail or info commit has an error"):
            history.commit("c", "ok", "t", 0, 1, error="x")
        with self.assertRaisesRegex(ValueError, "lost must be a boolean"):
            history.revoke("c", "g", 1, [("t", 0)], lost=None)
        with self.assertRaisesRegex(ValueError, "partition must be an integer"):
            history.assignment("c", "g", 1, "m", [("t", -1)])
        with self.assertRaisesRegex(ValueError, "member must be a string"):
            history.leave("c", "g", None)
        self.assertEqual(out.getvalue(), "")

    def test_non_ascii_values_stay_utf8(self):
        out = io.StringIO()
        History(out, clock=Clock([1])).send_invoke("p", "tópico", None, "välue")
        self.assertIn("tópico", out.getvalue())


if __name__ == "__main__":
    unittest.main()
