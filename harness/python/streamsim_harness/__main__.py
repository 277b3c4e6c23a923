"""Command line: `python -m streamsim_harness produce|consume|run --bootstrap HOST:PORT --topic T --library L
--output FILE [...]`, and `python -m streamsim_harness offsets --bootstrap HOST:PORT --topic T --library L
--group-id G` (a group's committed offsets and the watermarks, as JSON). Exit codes: 0 done (the history says
what happened: check it with `streamsim check`), 1 the run failed (a client could not start, the topic was not
found, ...), 2 bad arguments."""

import argparse
import json
import re
import sys
import threading

from . import driver
from .history import History

LIBRARIES = {"kafka-python": "kp", "confluent-kafka": "ck"}
# Kafka's compression.type values (the record batch's codecs).
COMPRESSIONS = ["none", "gzip", "snappy", "lz4", "zstd"]


def _bootstrap(text):
    addresses = [address.strip() for address in text.split(",")]
    for address in addresses:
        match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})", address)
        if match is None or not 0 < int(match.group(2)) < 65536:
            raise argparse.ArgumentTypeError("not HOST:PORT: %r" % address)
    return ",".join(addresses)


def _non_negative(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError("not a number: %r" % text)
        if value < 0 or value != value:
            raise argparse.ArgumentTypeError("must be >= 0, got %r" % text)
        return value
    return parse


def _positive_int(text):
    value = _non_negative(int)(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _positive_float(text):
    value = _non_negative(float)(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def parser():
    top = argparse.ArgumentParser(
        prog="python -m streamsim_harness",
        description="Drive kafka-python or confluent-kafka against a Kafka bootstrap address and record a "
                    "streamsim history (docs/history-format.md, docs/real-clients.md).")
    commands = top.add_subparsers(dest="command", required=True, metavar="produce|consume|run|offsets")

    def common(command, output=True):
        command.add_argument("--bootstrap", required=True, type=_bootstrap, metavar="HOST:PORT[,HOST:PORT]",
                             help="the bootstrap address (streamsim serve prints it)")
        command.add_argument("--topic", required=True, help="the topic (it must exist: the scenario creates it)")
        command.add_argument("--library", required=True, choices=sorted(LIBRARIES))
        if not output:
            return
        command.add_argument("--output", required=True, metavar="FILE",
                             help="the history file to write (JSON Lines; '-' for standard output)")
        command.add_argument("--index", type=_non_negative(int), default=0,
                             help="the number in the process names, e.g. kp-producer-INDEX (default 0)")

    def producing(command):
        command.add_argument("--records", type=_positive_int, default=200, help="records to send (default 200)")
        command.add_argument("--rate", type=_non_negative(float), default=50.0,
                             help="sends per second, 0 for as fast as possible (default 50)")
        command.add_argument("--duration", type=_non_negative(float), default=0.0,
                             help="stop sending after this many seconds even if records remain (default 0: no limit)")
        command.add_argument("--no-idempotence", action="store_true",
                             help="an acks=all producer without idempotence (retries may write twice)")
        command.add_argument("--compression", choices=COMPRESSIONS, default="none",
                             help="the producer's compression.type (default none; kafka-python needs the "
                                  "codec's own Python package for snappy, lz4 and zstd)")
        command.add_argument("--delivery-timeout", type=_positive_float, default=30.0,
                             help="seconds a send may take before the library gives up (default 30)")
        command.add_argument("--flush-timeout", type=_non_negative(float), default=40.0,
                             help="seconds to wait for the outcomes after the last send (default 40)")

    def consuming(command, with_duration):
        if with_duration:
            command.add_argument("--duration", dest="consume_duration", type=_positive_float, default=10.0,
                                 help="seconds to read before the final drain (default 10)")
        command.add_argument("--group-id", default=None,
                             help="commit delivered offsets under this group id (with manual assignment, no group "
                                  "membership, unless --subscribe); without it nothing is committed")
        command.add_argument("--subscribe", action="store_true",
                             help="be a member of the group --group-id: subscribe to the topic and read what the "
                                  "group assigns, commit on revoke, leave the group on close")
        command.add_argument("--leave-after-records", type=_non_negative(int), default=0, metavar="N",
                             help="with --subscribe: after delivering N records, commit, close and leave the "
                                  "group, without a drain (default 0: never)")
        command.add_argument("--commit-interval", type=_non_negative(float), default=1.0,
                             help="seconds between commits when --group-id is given (default 1)")
        command.add_argument("--heal-file", metavar="FILE", default=None,
                             help="the cluster's history (streamsim serve --history): drain only after its heal")
        command.add_argument("--drain-timeout", type=_positive_float, default=60.0,
                             help="seconds the final drain may take (default 60)")
        command.add_argument("--quiet", type=_non_negative(float), default=1.0,
                             help="the drain ends when caught up with unchanged high watermarks this long "
                                  "(default 1 s)")

    produce = commands.add_parser("produce", help="one idempotent acks=all producer")
    common(produce)
    producing(produce)
    consume = commands.add_parser("consume", help="one consumer of every partition, from the log start")
    common(consume)
    consuming(consume, True)
    both = commands.add_parser("run", help="a producer and a consumer in one process, one history; the consumer "
                                           "drains after the producer is done")
    common(both)
    producing(both)
    consuming(both, False)
    offsets = commands.add_parser("offsets", help="print a group's committed offsets and the topic's watermarks "
                                                  "as JSON (no history)")
    common(offsets, output=False)
    offsets.add_argument("--group-id", required=True, help="the group whose committed offsets to read")
    offsets.add_argument("--timeout", type=_positive_float, default=30.0,
                         help="seconds the lookups may take (default 30)")
    return top


def _adapters(library):
    if library == "kafka-python":
        from . import kp as module
    else:
        from . import ck as module
    return module


def main(argv=None):
    top = parser()
    args = top.parse_args(argv)
    if getattr(args, "subscribe", False) and not args.group_id:
        top.error("--subscribe needs --group-id")
    if getattr(args, "leave_after_records", 0) and not args.subscribe:
        top.error("--leave-after-records needs --subscribe")
    prefix = LIBRARIES[args.library]
    if args.command == "offsets":
        return _offsets(args)
    try:
        out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
    except OSError as error:
        print("streamsim-harness: cannot write %s: %s" % (args.output, error), file=sys.stderr)
        return 2
    try:
        module = _adapters(args.library)
    except ImportError as error:
        print("streamsim-harness: cannot import %s: %s (run scripts/setup-python.sh and use its venv's python)"
              % (args.library, error), file=sys.stderr)
        if out is not sys.stdout:
            out.close()
        return 1
    history = History(out)
    producer_process = "%s-producer-%d" % (prefix, args.index)
    consumer_process = "%s-consumer-%d" % (prefix, args.index)
    try:
        if args.command == "produce":
            counts = _produce(module, args, history, producer_process)
            driver.log("%s: %s" % (producer_process, dict(counts)))
            return 0
        stop = threading.Event()
        duration = args.consume_duration if args.command == "consume" else 0.0
        consumer = driver.ConsumerRun(
            module.Consumer(args.bootstrap, consumer_process, group_id=args.group_id, subscribe=args.subscribe),
            history, consumer_process, args.topic, duration_s=duration, stop=stop, heal_file=args.heal_file,
            drain_timeout_s=args.drain_timeout, quiet_s=args.quiet,
            commit_interval_s=args.commit_interval if args.group_id else 0.0,
            group=args.group_id if args.subscribe else None, leave_after_records=args.leave_after_records)
        if args.command == "consume":
            consumer.run()
            return _report_consumer(consumer)
        failure = []

        def consume():
            try:
                consumer.run()
            except BaseException as error:  # noqa: BLE001 - reported by the main thread
                failure.append(error)

        thread = threading.Thread(target=consume, name=consumer_process)
        thread.start()
        try:
            counts = _produce(module, args, history, producer_process)
            driver.log("%s: %s" % (producer_process, dict(counts)))
        finally:
            stop.set()
            thread.join()
        if failure:
            raise failure[0]
        return _report_consumer(consumer)
    except KeyboardInterrupt:
        return 1
    except Exception as error:  # noqa: BLE001 - a clear message, not a traceback
        print("streamsim-harness: %s failed: %s: %s" % (args.command, type(error).__name__, error), file=sys.stderr)
        return 1
    finally:
        if out is not sys.stdout:
            out.close()


def _produce(module, args, history, process):
    producer = driver.ProducerRun(
        module.Producer(args.bootstrap, process, delivery_timeout_s=args.delivery_timeout,
                        idempotence=not args.no_idempotence, compression=args.compression),
        history, process, args.topic, args.records, rate=args.rate, duration_s=args.duration,
        flush_timeout_s=args.flush_timeout)
    return producer.run()


def _report_consumer(consumer):
    group = ""
    if consumer.group is not None:
        group = "; group %s: %d assignments, %d revokes%s" % (
            consumer.group, consumer.assignments, consumer.revokes, ", left early" if consumer.left_early else "")
    driver.log("%s: delivered %d records; drained: %s; positions %s%s" % (
        consumer.process, consumer.delivered, consumer.drained, dict(sorted(consumer.positions.items())), group))
    return 0


def _offsets(args):
    """Prints {"topic", "group", "group_listings": N, "partitions": {"P": {"committed": C or null, "listed": C or null,
    "log_start": L, "end": E}}}: `committed` as the library's consumer reads it partition by partition, `listed` as
    its admin client lists every offset of the group; `group_listings`, how many times the admin client's group
    list names the group."""
    try:
        module = _adapters(args.library)
    except ImportError as error:
        print("streamsim-harness: cannot import %s: %s" % (args.library, error), file=sys.stderr)
        return 1
    consumer = None
    try:
        consumer = module.Consumer(args.bootstrap, "%s-offsets" % LIBRARIES[args.library], group_id=args.group_id)
        partitions = sorted(consumer.partitions(args.topic, args.timeout))
        if not partitions:
            raise RuntimeError("topic %r has no partitions (does it exist?)" % args.topic)
        marks = consumer.watermarks(args.topic, partitions, args.timeout)
        committed = consumer.committed(args.topic, partitions, args.timeout)
        listed = module.group_offsets(args.bootstrap, args.group_id, args.topic, args.timeout)
        listings = module.group_listings(args.bootstrap, args.group_id, args.timeout)
        print(json.dumps({"topic": args.topic, "group": args.group_id, "group_listings": listings, "partitions": {
            str(p): {"committed": committed.get(p), "listed": listed.get(p), "log_start": marks[p][0],
                     "end": marks[p][1]}
            for p in partitions}}, sort_keys=True))
        return 0
    except Exception as error:  # noqa: BLE001 - a clear message, not a traceback
        print("streamsim-harness: offsets failed: %s: %s" % (type(error).__name__, error), file=sys.stderr)
        return 1
    finally:
        if consumer is not None:
            try:
                consumer.close()
            except Exception:  # noqa: BLE001 - the answer is printed already
                pass


if __name__ == "__main__":
    sys.exit(main())
