"""Drive real Kafka clients (kafka-python, confluent-kafka) against a bootstrap address and record what they
did as a streamsim history (docs/history-format.md), to be checked with `streamsim check`.

See docs/real-clients.md. The modules:

- `history`: the history writer (one JSON object per line, `time` in nanoseconds since the Unix epoch, never
  decreasing within a file);
- `errors`: library errors -> the history's snake_case error names, and whether an error means the send
  definitely failed (`fail`) or its outcome is unknown (`info`);
- `driver`: the producer and consumer loops, written against small adapter interfaces;
- `kp`, `ck`: the adapters for kafka-python and confluent-kafka (imported only when used);
- `__main__`: the command line (`python -m streamsim_harness produce|consume|run ...`).
"""

__version__ = "0.1.0"
