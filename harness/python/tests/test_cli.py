import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def harness(*args):
    return subprocess.run([sys.executable, "-m", "streamsim_harness", *args], cwd=HERE,
                          capture_output=True, text=True, timeout=60)


class CliTest(unittest.TestCase):
    def test_bad_arguments_exit_2_naming_the_problem(self):
        cases = [
            (["produce", "--topic", "t", "--library", "kafka-python", "--output", "h"], "--bootstrap"),
            (["produce", "--bootstrap", "localhost", "--topic", "t", "--library", "kafka-python", "--output", "h"],
             "not HOST:PORT: 'localhost'"),
            (["produce", "--bootstrap", "127.0.0.1:9092", "--topic", "t", "--library", "java", "--output", "h"],
             "invalid choice: 'java'"),
            (["produce", "--bootstrap", "127.0.0.1:9092", "--topic", "t", "--library", "kafka-python",
              "--output", "h", "--records", "0"], "--records: must be > 0"),
            (["consume", "--bootstrap", "127.0.0.1:9092", "--topic", "t", "--library", "kafka-python",
              "--output", "h", "--duration", "-1"], "--duration: must be >= 0"),
            (["run", "--bootstrap", "127.0.0.1:9092", "--topic", "t", "--library", "confluent-kafka",
              "--output", "h", "--rate", "fast"], "--rate: not a number: 'fast'"),
            (["frobnicate"], "invalid choice: 'frobnicate'"),
            (["consume", "--bootstrap", "127.0.0.1:9092", "--topic", "t", "--library", "kafka-python",
              "--output", "h", "--subscribe"], "--subscribe needs --group-id"),
            (["consume", "--bootstrap", "127.0.0.1:9092", "--topic", "t", "--library", "kafka-python",
              "--output", "h", "--group-id", "g", "--leave-after-records", "5"], "--leave-after-records needs --subscribe"),
            (["run", "--bootstrap", "127.0.0.1:9092", "--topic", "t", "--library", "kafka-python",
              "--output", "h", "--group-id", "g", "--subscribe", "--leave-after-records", "-1"],
             "--leave-after-records: must be >= 0"),
            (["offsets", "--bootstrap", "127.0.0.1:9092", "--topic", "t", "--library", "kafka-python"],
             "--group-id"),
            (["produce", "--bootstrap", "127.0.0.1:9092", "--topic", "t", "--library", "confluent-kafka",
              "--output", "h", "--compression", "brotli"], "invalid choice: 'brotli'"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                result = harness(*args)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(message, result.stderr)
                self.assertFalse(os.path.exists(os.path.join(HERE, "h")))

    def test_an_unwritable_output_exits_2(self):
        result = harness("produce", "--bootstrap", "127.0.0.1:9", "--topic", "t", "--library", "kafka-python",
                         "--output", "/nonexistent/dir/h.jsonl")
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("cannot write /nonexistent/dir/h.jsonl", result.stderr)


if __name__ == "__main__":
    unittest.main()
