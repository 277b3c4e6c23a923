"""The history writer: one event per line in streamsim's history format (docs/history-format.md).

`time` is nanoseconds since the Unix epoch (the wall clock, so that files recorded by different processes, e.g.
the cluster's from `streamsim serve` and the clients', merge by time), made non-decreasing within a file: a clock
step backwards repeats the last time instead. Writing is thread-safe (kafka-python runs its callbacks on its
I/O thread) and each line is flushed as it is written, so a killed harness leaves every line it recorded.
"""

import json
import threading
import time

# The reasons of a `reset` event.
RESET_REASONS = ("offset_evicted", "out_of_range", "seek")


def _check_offset(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("%s must be an integer >= 0, got %r" % (name, value))


def _check_text(name, value):
    if not isinstance(value, str):
        raise ValueError("%s must be a string, got %r" % (name, value))


class History:
    """Appends events to a text stream `out`; `clock` returns nanoseconds (time.time_ns by default)."""

    def __init__(self, out, clock=time.time_ns):
        self._out = out
        self._clock = clock
        self._lock = threading.Lock()
        self._last_time_ns = 0
        self.events = 0

    def record(self, process, type_, f, **fields):
        """Writes one event; `fields` are the operation's fields (None values of optional fields are omitted by
        the helpers, not here). Returns the event as a dict."""
        _check_text("process", process)
        if type_ not in ("invoke", "ok", "fail", "info"):
            raise ValueError("type must be invoke, ok, fail or info, got %r" % (type_,))
        with self._lock:
            now = self._clock()
            if isinstance(now, bool) or not isinstance(now, int) or now < 0:
                raise ValueError("the clock must give integer nanoseconds >= 0, got %r" % (now,))
            time_ns = max(now, self._last_time_ns)
            self._last_time_ns = time_ns
            event = {"time": time_ns, "process": process, "type": type_, "f": f}
            event.update(fields)
            self._out.write(json.dumps(event, separators=(",", ":"), ensure_ascii=False) + "\n")
            self._out.flush()
            self.events += 1
            return event

    # Lifecycle.
    def start(self, process):
        return self.record(process, "ok", "start")

    def close(self, process):
        return self.record(process, "ok", "close")

    def crash(self, process):
        return self.record(process, "info", "crash")

    # Producer.
    def send_invoke(self, process, topic, key, value):
        _check_text("topic", topic)
        if key is not None:
            _check_text("key", key)
        _check_text("value", value)
        return self.record(process, "invoke", "send", topic=topic, key=key, value=value)

    def send_ok(self, process, value, topic, partition, offset, acks=None, leader_epoch=None):
        _check_text("value", value)
        _check_text("topic", topic)
        _check_offset("partition", partition)
        _check_offset("offset", offset)
        fields = {"value": value, "topic": topic, "partition": partition, "offset": offset}
        if acks is not None:
            if acks not in ("all", "1"):
                raise ValueError('acks of a send ok must be "all" or "1", got %r' % (acks,))
            fields["acks"] = acks
        if leader_epoch is not None:
            _check_offset("leader_epoch", leader_epoch)
            fields["leader_epoch"] = leader_epoch
        return self.record(process, "ok", "send", **fields)

    def send_fail(self, process, value, error):
        _check_text("value", value)
        _check_text("error", error)
        return self.record(process, "fail", "send", value=value, error=error)

    def send_info(self, process, value, error):
        _check_text("value", value)
        _check_text("error", error)
        return self.record(process, "info", "send", value=value, error=error)

    def init_pid(self, process, pid, epoch):
        if isinstance(pid, bool) or not isinstance(pid, int):
            raise ValueError("pid must be an integer, got %r" % (pid,))
        if isinstance(epoch, bool) or not isinstance(epoch, int):
            raise ValueError("epoch must be an integer, got %r" % (epoch,))
        return self.record(process, "ok", "init_pid", pid=pid, epoch=epoch)

    # Consumer.
    def poll_ok(self, process, records):
        """`records`: (topic, partition, offset, value) tuples, in delivery order."""
        listed = []
        for topic, partition, offset, value in records:
            _check_text("topic", topic)
            _check_offset("partition", partition)
            _check_offset("offset", offset)
            _check_text("value", value)
            listed.append({"topic": topic, "partition": partition, "offset": offset, "value": value})
        return self.record(process, "ok", "poll", records=listed)

    def poll_fail(self, process, topic, partition, offset, error, next_available=None):
        _check_text("topic", topic)
        _check_offset("partition", partition)
        _check_offset("offset", offset)
        _check_text("error", error)
        fields = {"topic": topic, "partition": partition, "offset": offset, "error": error}
        if next_available is not None:
            _check_offset("next_available", next_available)
            fields["next_available"] = next_available
        return self.record(process, "fail", "poll", **fields)

    def assign(self, process, partitions):
        """`partitions`: (topic, partition, offset) tuples: where reading starts."""
        listed = []
        for topic, partition, offset in partitions:
            _check_text("topic", topic)
            _check_offset("partition", partition)
            _check_offset("offset", offset)
            listed.append({"topic": topic, "partition": partition, "offset": offset})
        return self.record(process, "ok", "assign", partitions=listed)

    def reset(self, process, topic, partition, from_offset, to_offset, reason):
        _check_text("topic", topic)
        _check_offset("partition", partition)
        _check_offset("from", from_offset)
        _check_offset("to", to_offset)
        if reason not in RESET_REASONS:
            raise ValueError("reset reason must be one of %s, got %r" % (", ".join(RESET_REASONS), reason))
        return self.record(process, "ok", "reset", topic=topic, partition=partition,
                           **{"from": from_offset, "to": to_offset, "reason": reason})

    def commit(self, process, type_, topic, partition, offset, group=None, generation=None, error=None):
        """`type_`: invoke before the call, ok when stored, fail on a definite error, info when unknown.
        `group` and `generation`: a group member's commit (the generation the library sends, when it tells it);
        `error`: why a `fail` or `info` commit failed."""
        _check_text("topic", topic)
        _check_offset("partition", partition)
        _check_offset("offset", offset)
        fields = {"topic": topic, "partition": partition, "offset": offset}
        if group is not None:
            _check_text("group", group)
            fields["group"] = group
        if generation is not None:
            _check_generation(generation)
            fields["generation"] = generation
        if error is not None:
            _check_text("error", error)
            if type_ not in ("fail", "info"):
                raise ValueError("only a fail or info commit has an error, not %r" % (type_,))
            fields["error"] = error
        return self.record(process, type_, "commit", **fields)

    # Group membership (docs/history-format.md; the names agreed in group-spec: join, assignment, revoke,
    # leave). `partitions` are (topic, partition) pairs.
    def join(self, process, group, generation, member, leader, protocol=None):
        """The member's JoinGroup was answered: it is `member` in generation `generation`."""
        _check_text("group", group)
        _check_generation(generation)
        _check_text("member", member)
        if not isinstance(leader, bool):
            raise ValueError("leader must be a boolean, got %r" % (leader,))
        fields = {"group": group, "generation": generation, "member": member, "leader": leader}
        if protocol is not None:
            _check_text("protocol", protocol)
            fields["protocol"] = protocol
        return self.record(process, "ok", "join", **fields)

    def assignment(self, process, group, generation, member, partitions):
        """The member's whole assignment in that generation (the SyncGroup answer)."""
        _check_text("group", group)
        _check_generation(generation)
        _check_text("member", member)
        return self.record(process, "ok", "assignment", group=group, generation=generation, member=member,
                           partitions=_partitions(partitions))

    def revoke(self, process, group, generation, partitions, lost=False):
        """The member stopped reading these partitions (after committing them, unless `lost`)."""
        _check_text("group", group)
        if not isinstance(lost, bool):
            raise ValueError("lost must be a boolean, got %r" % (lost,))
        fields = {"group": group}
        if generation is not None:
            _check_generation(generation)
            fields["generation"] = generation
        fields["partitions"] = _partitions(partitions)
        fields["lost"] = lost
        return self.record(process, "ok", "revoke", **fields)

    def leave(self, process, group, member):
        """The member sent LeaveGroup: it left the group."""
        _check_text("group", group)
        _check_text("member", member)
        return self.record(process, "ok", "leave", group=group, member=member)


def _check_generation(value):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2 ** 32:
        raise ValueError("generation must be an integer in 0..2^32, got %r" % (value,))


def _partitions(partitions):
    listed = []
    for topic, partition in partitions:
        _check_text("topic", topic)
        _check_offset("partition", partition)
        listed.append({"topic": topic, "partition": partition})
    return listed
