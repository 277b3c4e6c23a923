"""Library errors -> the history's error names (snake_case Kafka names, docs/history-format.md) and outcomes.

A send's outcome is `fail` only when the error guarantees the record was not written, else `info` (unknown):
`fail` claims a fact the oracle relies on (a failed send that a consumer reads is a G1a anomaly), so when in
doubt the harness says `info`, which the oracle never holds against the system.

- Broker errors are named from their Kafka error code (both libraries expose it: kafka-python's
  `BrokerResponseError.errno`, librdkafka's `KafkaError.code()` >= -1) by `KAFKA_ERROR_NAMES`, which spells
  them as the history does (`not_leader_or_follower`, not NOT_LEADER_FOR_PARTITION; `out_of_order_sequence`,
  `network_error`, `message_too_large`, `unknown_server_error`).
- librdkafka's local errors (negative codes below -1, names with a leading underscore) and kafka-python's
  client-side exceptions are mapped by name: timeouts -> `request_timed_out`, lost connections ->
  `network_error`, the few that mean "never sent" keep a name of their own and are `fail`.
- Anything else is named by the library's own name in snake_case (`_PURGE_INFLIGHT` -> `purge_inflight`,
  `KafkaProtocolError` -> `kafka_protocol`), and its outcome is `info`.
"""

import re

FAIL = "fail"
INFO = "info"

# Kafka protocol error codes (org.apache.kafka.common.protocol.Errors), in the history's spelling.
KAFKA_ERROR_NAMES = {
    -1: "unknown_server_error",
    1: "offset_out_of_range",
    2: "corrupt_message",
    3: "unknown_topic_or_partition",
    4: "invalid_fetch_size",
    5: "leader_not_available",
    6: "not_leader_or_follower",
    7: "request_timed_out",
    8: "broker_not_available",
    9: "replica_not_available",
    10: "message_too_large",
    11: "stale_controller_epoch",
    12: "offset_metadata_too_large",
    13: "network_error",
    14: "coordinator_load_in_progress",
    15: "coordinator_not_available",
    16: "not_coordinator",
    17: "invalid_topic_exception",
    18: "record_list_too_large",
    19: "not_enough_replicas",
    20: "not_enough_replicas_after_append",
    21: "invalid_required_acks",
    22: "illegal_generation",
    23: "inconsistent_group_protocol",
    24: "invalid_group_id",
    25: "unknown_member_id",
    26: "invalid_session_timeout",
    27: "rebalance_in_progress",
    28: "invalid_commit_offset_size",
    29: "topic_authorization_failed",
    30: "group_authorization_failed",
    31: "cluster_authorization_failed",
    32: "invalid_timestamp",
    33: "unsupported_sasl_mechanism",
    34: "illegal_sasl_state",
    35: "unsupported_version",
    36: "topic_already_exists",
    37: "invalid_partitions",
    38: "invalid_replication_factor",
    39: "invalid_replica_assignment",
    40: "invalid_config",
    41: "not_controller",
    42: "invalid_request",
    43: "unsupported_for_message_format",
    44: "policy_violation",
    45: "out_of_order_sequence",
    46: "duplicate_sequence_number",
    47: "invalid_producer_epoch",
    48: "invalid_txn_state",
    49: "invalid_producer_id_mapping",
    50: "invalid_transaction_timeout",
    51: "concurrent_transactions",
    52: "transaction_coordinator_fenced",
    53: "transactional_id_authorization_failed",
    54: "security_disabled",
    55: "operation_not_attempted",
    56: "kafka_storage_error",
    57: "log_dir_not_found",
    58: "sasl_authentication_failed",
    59: "unknown_producer_id",
    60: "reassignment_in_progress",
    69: "group_id_not_found",
    72: "listener_not_found",
    74: "fenced_leader_epoch",
    75: "unknown_leader_epoch",
    76: "unsupported_compression_type",
    77: "stale_broker_epoch",
    78: "offset_not_available",
    79: "member_id_required",
    80: "preferred_leader_not_available",
    81: "group_max_size_reached",
    82: "fenced_instance_id",
    87: "invalid_record",
    89: "throttling_quota_exceeded",
    90: "producer_fenced",
    107: "ineligible_replica",
}

# Errors that guarantee the record was not written: the broker refused the batch itself (its size, format,
# authorization, or the producer's epoch), so no earlier attempt of it can have been appended either.
DEFINITE_SEND_ERRORS = frozenset({
    "message_too_large",
    "record_list_too_large",
    "invalid_record",
    "invalid_required_acks",
    "invalid_topic_exception",
    "invalid_timestamp",
    "unsupported_for_message_format",
    "unsupported_version",
    "invalid_producer_epoch",
    "producer_fenced",
    "topic_authorization_failed",
    "cluster_authorization_failed",
    "transactional_id_authorization_failed",
})

# librdkafka's local errors, by name: (history name, whether they guarantee the record was never sent).
LIBRDKAFKA_LOCAL = {
    "_MSG_TIMED_OUT": ("request_timed_out", False),
    "_TIMED_OUT": ("request_timed_out", False),
    "_TIMED_OUT_QUEUE": ("request_timed_out", False),
    "_TRANSPORT": ("network_error", False),
    "_ALL_BROKERS_DOWN": ("network_error", False),
    "_DESTROY": ("network_error", False),
    "_PURGE_INFLIGHT": ("purge_inflight", False),
    # Never left the client:
    "_PURGE_QUEUE": ("purge_queue", True),
    "_QUEUE_FULL": ("queue_full", True),
    "_UNKNOWN_TOPIC": ("unknown_topic_or_partition", True),
    "_UNKNOWN_PARTITION": ("unknown_topic_or_partition", True),
    "_INVALID_ARG": ("invalid_arg", True),
    "_MSG_SIZE_TOO_LARGE": ("message_too_large", True),
    "MSG_SIZE_TOO_LARGE": ("message_too_large", True),
}

# kafka-python's client-side exceptions, by class name.
KAFKA_PYTHON_CLIENT = {
    "KafkaTimeoutError": "request_timed_out",
    "RequestTimedOutError": "request_timed_out",
    "KafkaConnectionError": "network_error",
    "NodeNotReadyError": "network_error",
    "NoBrokersAvailable": "network_error",
    "TooManyInFlightRequests": "network_error",
    "MessageSizeTooLargeError": "message_too_large",
}


def snake_case(name):
    """`_PURGE_INFLIGHT` -> `purge_inflight`, `KafkaProtocolError` -> `kafka_protocol` (an `Error` or
    `Exception` suffix dropped, except from a bare base class: `KafkaError` -> `kafka_error`), anything else
    lower-cased with non-alphanumerics as `_`."""
    name = name.strip()
    if re.fullmatch(r"_*[A-Z0-9_]+", name):
        text = name.lower()
    else:
        words = lambda text: re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", text).lower()
        stripped = re.sub(r"(Error|Exception)$", "", name)
        # A bare library base class (kafka-python's `KafkaError`) keeps its suffix: `kafka_error`, not `kafka`.
        text = words(stripped) if stripped and stripped not in ("Kafka", "Base") else words(name)
    text = re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    return text or "unknown_error"


def from_code(code, library_name=None):
    """The history name of a Kafka error code, else of the library's name for it."""
    if code in KAFKA_ERROR_NAMES:
        return KAFKA_ERROR_NAMES[code]
    if library_name:
        return snake_case(library_name)
    return "kafka_error_%d" % code if code >= 0 else "kafka_error_minus_%d" % -code


def send_outcome(name):
    """`fail` when a callback's error `name` guarantees the record was not written, else `info`."""
    return FAIL if name in DEFINITE_SEND_ERRORS else INFO


def kafka_python_error(error):
    """(history name, send outcome of a callback error) for a kafka-python exception (or any exception)."""
    errno = getattr(type(error), "errno", None)
    class_name = type(error).__name__
    if class_name in KAFKA_PYTHON_CLIENT:
        name = KAFKA_PYTHON_CLIENT[class_name]
    elif isinstance(errno, int) and not isinstance(errno, bool):
        name = from_code(errno, getattr(type(error), "message", None) or class_name)
    else:
        name = snake_case(class_name)
    return name, send_outcome(name)


def confluent_error(error):
    """(history name, send outcome of a delivery report error) for a librdkafka `KafkaError` (anything with
    `code()` and `name()`)."""
    code = error.code()
    library_name = error.name()
    if library_name in LIBRDKAFKA_LOCAL:
        name, never_sent = LIBRDKAFKA_LOCAL[library_name]
        return name, FAIL if never_sent else INFO
    if code >= -1:
        name = from_code(code, library_name)
    else:
        name = snake_case(library_name)
    return name, send_outcome(name)


# "topic [3]" or "topic [3]:" in librdkafka's messages (a fatal error's message names the partition so).
_PARTITION_IN_MESSAGE = re.compile(r"([A-Za-z0-9._-]+) ?\[(\d+)\]")


def partition_in_message(message):
    """(topic, partition) named in a librdkafka error message, or None."""
    match = _PARTITION_IN_MESSAGE.search(message or "")
    if match is None:
        return None
    return match.group(1), int(match.group(2))
