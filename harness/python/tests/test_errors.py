import unittest

from streamsim_harness import errors


# Fake kafka-python exceptions: kafka-python's broker errors carry `errno` and `message` on the class.
class NotLeaderForPartitionError(Exception):
    errno = 6
    message = "NOT_LEADER_FOR_PARTITION"


class OutOfOrderSequenceNumberError(Exception):
    errno = 45
    message = "OUT_OF_ORDER_SEQUENCE_NUMBER"


class InvalidProducerEpochError(Exception):
    errno = 47
    message = "INVALID_PRODUCER_EPOCH"


class MessageSizeTooLargeError(Exception):
    errno = 10
    message = "MESSAGE_SIZE_TOO_LARGE"


class SomeFutureBrokerError(Exception):
    errno = 999
    message = "SOME_FUTURE_ERROR"


class KafkaTimeoutError(Exception):
    pass


class KafkaConnectionError(Exception):
    pass


class KafkaProtocolError(Exception):
    pass


class FakeKafkaError:
    """confluent_kafka.KafkaError's interface."""

    def __init__(self, code, name, message="", fatal=False):
        self._code, self._name, self._message, self._fatal = code, name, message, fatal

    def code(self):
        return self._code

    def name(self):
        return self._name

    def str(self):
        return self._message

    def fatal(self):
        return self._fatal


class KafkaPythonTest(unittest.TestCase):
    def test_broker_errors_are_named_by_code_in_the_history_spelling(self):
        self.assertEqual(errors.kafka_python_error(NotLeaderForPartitionError()), ("not_leader_or_follower", "info"))
        self.assertEqual(errors.kafka_python_error(OutOfOrderSequenceNumberError()), ("out_of_order_sequence", "info"))

    def test_errors_that_guarantee_nothing_was_written_fail(self):
        self.assertEqual(errors.kafka_python_error(InvalidProducerEpochError()), ("invalid_producer_epoch", "fail"))
        self.assertEqual(errors.kafka_python_error(MessageSizeTooLargeError()), ("message_too_large", "fail"))

    def test_client_side_errors(self):
        self.assertEqual(errors.kafka_python_error(KafkaTimeoutError()), ("request_timed_out", "info"))
        self.assertEqual(errors.kafka_python_error(KafkaConnectionError()), ("network_error", "info"))

    def test_unknown_errors_keep_the_library_name_and_are_info(self):
        self.assertEqual(errors.kafka_python_error(SomeFutureBrokerError()), ("some_future_error", "info"))
        self.assertEqual(errors.kafka_python_error(KafkaProtocolError()), ("kafka_protocol", "info"))
        self.assertEqual(errors.kafka_python_error(ValueError("x")), ("value", "info"))


class ConfluentTest(unittest.TestCase):
    def test_broker_codes(self):
        self.assertEqual(errors.confluent_error(FakeKafkaError(6, "NOT_LEADER_FOR_PARTITION")),
                         ("not_leader_or_follower", "info"))
        self.assertEqual(errors.confluent_error(FakeKafkaError(13, "NETWORK_EXCEPTION")), ("network_error", "info"))
        self.assertEqual(errors.confluent_error(FakeKafkaError(-1, "UNKNOWN")), ("unknown_server_error", "info"))
        self.assertEqual(errors.confluent_error(FakeKafkaError(47, "INVALID_PRODUCER_EPOCH")),
                         ("invalid_producer_epoch", "fail"))
        self.assertEqual(errors.confluent_error(FakeKafkaError(56, "KAFKA_STORAGE_ERROR")),
                         ("kafka_storage_error", "info"))

    def test_local_errors(self):
        self.assertEqual(errors.confluent_error(FakeKafkaError(-192, "_MSG_TIMED_OUT")), ("request_timed_out", "info"))
        self.assertEqual(errors.confluent_error(FakeKafkaError(-195, "_TRANSPORT")), ("network_error", "info"))
        self.assertEqual(errors.confluent_error(FakeKafkaError(-152, "_PURGE_QUEUE")), ("purge_queue", "fail"))
        self.assertEqual(errors.confluent_error(FakeKafkaError(-188, "_UNKNOWN_TOPIC")),
                         ("unknown_topic_or_partition", "fail"))
        self.assertEqual(errors.confluent_error(FakeKafkaError(-151, "_PURGE_INFLIGHT")), ("purge_inflight", "info"))
        self.assertEqual(errors.confluent_error(FakeKafkaError(-170, "_SOMETHING_NEW")), ("something_new", "info"))

    def test_a_code_without_a_table_entry_uses_the_library_name(self):
        self.assertEqual(errors.confluent_error(FakeKafkaError(500, "BRAND_NEW_ERROR")), ("brand_new_error", "info"))
        self.assertEqual(errors.from_code(500), "kafka_error_500")

    def test_partition_in_a_fatal_message(self):
        self.assertEqual(errors.partition_in_message(
            "ProduceRequest for orders [2] with 3 message(s) failed due to sequence desynchronization"),
            ("orders", 2))
        self.assertIsNone(errors.partition_in_message("Fatal error"))


class SnakeCaseTest(unittest.TestCase):
    def test_names(self):
        self.assertEqual(errors.snake_case("OffsetOutOfRangeError"), "offset_out_of_range")
        self.assertEqual(errors.snake_case("IOError"), "io")
        self.assertEqual(errors.snake_case("__ODD__NAME"), "odd_name")
        self.assertEqual(errors.snake_case("KafkaError"), "kafka_error")
        self.assertEqual(errors.snake_case("Exception"), "exception")
        self.assertEqual(errors.snake_case(""), "unknown_error")


if __name__ == "__main__":
    unittest.main()
