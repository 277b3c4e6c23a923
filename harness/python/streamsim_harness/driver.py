"""The producer and consumer loops, against small adapter interfaces (kp.py and ck.py implement them for the two
libraries; the tests use fakes). They record every operation in a `history.History`.

Producer adapter:
    send(topic, key, value, on_ok, on_error)   queue one record (bytes); on_ok(partition, offset) or
                                               on_error(error) are called later, from any thread; may raise:
                                               the record was then not queued (a definite `fail`)
    error_name(error, raised)                  (history name, outcome) for an error: outcome `fail` or `info`;
                                               `raised` = it was raised by send() itself
    poll(timeout_s)                            serve callbacks (librdkafka runs them in poll/flush)
    flush(timeout_s)                           wait for the outcomes (up to the timeout)
    producer_id()                              (pid, epoch) once known, or None
    fatal_error()                              None, or (topic, partition, error name) of a fatal error
    close()

Consumer adapter:
    partitions(topic, timeout_s)               the topic's partition numbers
    watermarks(topic, partitions, timeout_s)   {partition: (log start offset, high watermark)}
    assign(topic, {partition: offset})         read these partitions from these offsets
    seek(topic, partition, offset)
    poll(timeout_s)                            a list of Delivered, PollError and Truncated, in delivery order
    commit(topic, {partition: offset})         store these offsets (the next ones to consume); raises on error
    commit_error_outcome(error)                (history name, `fail` or `info`) for an error commit() raised
    close()

A consumer in a group (ConsumerRun with `group`) also needs:
    subscribe(topic, listener)                 join the group (subscribe() instead of assign()); the library's
                                               rebalance callbacks call the listener (ConsumerRun):
        listener.assigned(partitions, membership)  these partitions were assigned (membership: a Membership; its
                                               unknown fields None); the adapter keeps the library from reading
                                               them until it has called
        listener.start_positions(partitions)   -> {partition: offset}: where to start them, which the adapter
                                               applies (called from poll() or the assign callback, on the thread
                                               that called poll());
        listener.revoking(partitions, lost)    -> {partition: offset} to commit before giving them up (empty
                                               when lost);
        listener.revoked(partitions, lost, offsets, error)  after that commit (error None, or what it raised)
    committed(topic, partitions, timeout_s)    {partition: the group's committed offset, or None}
    generation()                               the generation the library's next commit carries, or None when
                                               the library does not tell
    leaving_member()                           the member id that close() leaves the group as (sending
                                               LeaveGroup), or None
"""

import collections
import json
import sys
import threading
import time

Delivered = collections.namedtuple("Delivered", "topic partition offset value")
PollError = collections.namedtuple("PollError", "topic partition offset error")
# The library found (KIP-320, OffsetForLeaderEpoch) that the log was truncated below the position: it read
# records that no longer exist. `offset` is where the log now diverges, or None when the library cannot say.
Truncated = collections.namedtuple("Truncated", "topic partition offset")

# What a group member knows of its membership when it is assigned partitions: the generation and member id of
# the JoinGroup answer, whether it leads the group, the assignor chosen, and its whole assignment in that
# generation (partition numbers). Any of them None when the library does not tell.
Membership = collections.namedtuple("Membership", "generation member leader protocol assignment")

# The error a send gets when no outcome came before the producer was closed.
UNANSWERED_ERROR = "request_timed_out"


def log(message):
    print("streamsim-harness: %s" % message, file=sys.stderr, flush=True)


class ProducerRun:
    """Sends `records` values `PROCESS-N` (keyless) to `topic` at `rate` per second (0: as fast as the library
    takes them) until all are sent or `duration_s` has passed (0: no limit), then waits up to `flush_timeout_s`
    for their outcomes. Every send is recorded: invoke, then ok (partition, offset) / fail / info."""

    def __init__(self, adapter, history, process, topic, records, rate=0.0, duration_s=0.0,
                 flush_timeout_s=30.0, sleep=time.sleep, monotonic=time.monotonic):
        self.adapter = adapter
        self.history = history
        self.process = process
        self.topic = topic
        self.records = records
        self.rate = rate
        self.duration_s = duration_s
        self.flush_timeout_s = flush_timeout_s
        self._sleep = sleep
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._pending = {}
        self._stopped = False
        self._fatal_recorded = False
        self._pid_recorded = False
        self._errors_seen = set()
        self.counts = collections.Counter()

    def _resolve(self, value):
        """True for the first outcome of `value` (later ones, after the run gave up on it, are dropped)."""
        with self._lock:
            return self._pending.pop(value, None) is not None

    def _on_ok(self, value, partition, offset):
        if not self._resolve(value):
            return
        if offset is None or offset < 0:
            # An acknowledgement without an offset promises nothing about where the record is.
            self.history.send_info(self.process, value, "no_offset")
            self.counts["info"] += 1
            return
        self._record_pid()
        self.history.send_ok(self.process, value, self.topic, partition, offset)
        self.counts["ok"] += 1

    def _on_error(self, value, error):
        if not self._resolve(value):
            return
        self._record_fatal()
        name, outcome = self.adapter.error_name(error, False)
        self._log_first(name, error)
        if outcome == "fail":
            self.history.send_fail(self.process, value, name)
        else:
            self.history.send_info(self.process, value, name)
        self.counts[outcome] += 1

    def _log_first(self, name, error):
        """Says on stderr what the library said the first time an error name comes up."""
        with self._lock:
            first = name not in self._errors_seen
            self._errors_seen.add(name)
        if first:
            log("%s: first %s: %r" % (self.process, name, error))

    def _record_pid(self):
        if self._pid_recorded:
            return
        known = self.adapter.producer_id()
        if known is not None:
            self._pid_recorded = True
            self.history.init_pid(self.process, known[0], known[1])

    def _record_fatal(self):
        if self._fatal_recorded:
            return
        fatal = self.adapter.fatal_error()
        if fatal is not None:
            self._fatal_recorded = True
            topic, partition, error = fatal
            self.history.record(self.process, "ok", "fatal", topic=topic, partition=partition, error=error)

    def _serve_callbacks(self):
        """poll(0); a library that raises there (librdkafka after a fatal error) stops the sends, as it
        stops an application: the producer cannot send again. What was sent keeps its outcome."""
        try:
            self.adapter.poll(0)
        except Exception as error:  # noqa: BLE001 - logged; the run goes on to flush and close
            self._record_fatal()
            log("%s: poll raised, sending stops: %r" % (self.process, error))
            self._stopped = True

    def run(self):
        self.history.start(self.process)
        started = self._monotonic()
        sent = 0
        try:
            while sent < self.records and not self._stopped:
                now = self._monotonic()
                if self.duration_s > 0 and now - started >= self.duration_s:
                    break
                if self.rate > 0:
                    due = started + sent / self.rate
                    if due > now:
                        self._serve_callbacks()
                        self._sleep(min(due - now, 0.05))
                        continue
                value = "%s-%d" % (self.process, sent)
                sent += 1
                with self._lock:
                    self._pending[value] = True
                self.history.send_invoke(self.process, self.topic, None, value)
                try:
                    self.adapter.send(self.topic, None, value.encode("utf-8"),
                                      lambda p, o, v=value: self._on_ok(v, p, o),
                                      lambda e, v=value: self._on_error(v, e))
                except Exception as error:  # noqa: BLE001 - any error of send() itself: not queued
                    if self._resolve(value):
                        name, _ = self.adapter.error_name(error, True)
                        self._log_first(name, error)
                        self.history.send_fail(self.process, value, name)
                        self.counts["fail"] += 1
                self._serve_callbacks()
            try:
                self.adapter.flush(self.flush_timeout_s)
            except Exception as error:  # noqa: BLE001 - the sends without an outcome are recorded below
                log("%s: flush: %r" % (self.process, error))
        except BaseException:
            # The producer dies with its sends in flight: their outcome is unknown (the crash says so).
            with self._lock:
                self._pending.clear()
            self.history.crash(self.process)
            raise
        with self._lock:
            unanswered = list(self._pending)
            self._pending.clear()
        for value in unanswered:
            self.history.send_info(self.process, value, UNANSWERED_ERROR)
            self.counts["unanswered"] += 1
        try:
            self.adapter.close()
        except Exception as error:  # noqa: BLE001 - every outcome is recorded: a failing close loses nothing
            log("%s: close: %r" % (self.process, error))
        finally:
            self.history.close(self.process)
        self.counts["sent"] = sent
        return self.counts


def heal_seen(path, offset=0):
    """(whether the history at `path` has a `heal` fault from byte `offset` on, the offset read up to). Reads
    whole lines only, so a line being written is read next time."""
    try:
        with open(path, "rb") as file:
            file.seek(offset)
            data = file.read()
    except FileNotFoundError:
        return False, offset
    end = data.rfind(b"\n") + 1
    for line in data[:end].splitlines():
        if b"heal" not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("f") == "fault" and event.get("fault") == "heal":
            return True, offset + end
    return False, offset + end


class ConsumerRun:
    """Assigns every partition of `topic` at its log start, delivers records until it is told to stop (`stop`
    event set, or `duration_s` passed), and then drains: it waits for a `heal` in `heal_file` (if given, up to
    `drain_timeout_s`), then reads until its position in every partition has reached the high watermark and
    stayed there for `quiet_s` with no new data, or `drain_timeout_s` has passed since the drain began. Commits
    every `commit_interval_s` (0: never) what it delivered. An out-of-range error is recorded (`poll` fail) and
    the position is moved to the log start (below it) or the high watermark (above it), recorded as a `reset`.

    With `group` (a group id) it is a member of that group instead: it subscribes to `topic`, and reads what the
    group assigns it. Each assignment is recorded (`join` and `assignment` as far as the library tells them);
    each newly assigned partition starts at the group's committed offset, or at the log start when the group
    has none (`assign` with those positions); before a partition is revoked, what was delivered of it is
    committed (`commit` with `group` and `generation`), then the `revoke` is recorded (`lost: true`, and no
    commit, when the library says the membership was lost). Its commits carry `group` and `generation`. Its
    drain ends when the group is caught up (see `_caught_up`): no rebalance under way for it, its partitions
    read to their high watermarks, the group's commits at the high watermarks, and its assignment unchanged for
    `quiet_s`. Closing it leaves the group (`leave`). `leave_after_records` > 0 makes it stop after delivering
    that many records, without a drain: it commits, closes and leaves the group midway."""

    def __init__(self, adapter, history, process, topic, duration_s=0.0, stop=None, heal_file=None,
                 drain_timeout_s=60.0, quiet_s=1.0, commit_interval_s=0.0, poll_timeout_s=0.2,
                 check_interval_s=0.5, monotonic=time.monotonic, sleep=time.sleep, group=None,
                 leave_after_records=0):
        self.adapter = adapter
        self.history = history
        self.process = process
        self.topic = topic
        self.duration_s = duration_s
        self.stop = stop if stop is not None else threading.Event()
        self.heal_file = heal_file
        self.drain_timeout_s = drain_timeout_s
        self.quiet_s = quiet_s
        self.commit_interval_s = commit_interval_s
        self.poll_timeout_s = poll_timeout_s
        self.check_interval_s = check_interval_s
        self._monotonic = monotonic
        self._sleep = sleep
        self.positions = {}
        self._reported_above = {}
        self._reported_behind = {}
        self.committed = {}
        self.delivered = 0
        self.drained = False
        self.partitions = []
        self.group = group
        self.leave_after_records = leave_after_records
        self.left_early = False
        # Group membership, changed by the rebalance callbacks (on the library's thread while the main thread
        # waits in poll() or close()): the partitions assigned, those not started yet, the generation they were
        # assigned in, whether the member is between a revoke and its next assignment, and a count of changes.
        self._lock = threading.RLock()
        self.owned = set()
        self._unstarted = set()
        self._generation = None
        self._assigned_once = False
        self._between_assignments = False
        self._assignment_changes = 0
        self.assignments = 0
        self.revokes = 0
        self._revoke_commit_generation = None

    def _watermarks(self, partitions, timeout_s):
        """The adapter's watermarks, retried (a partition may be without a leader for a while during faults)
        until `timeout_s` has passed; then the last error is raised."""
        deadline = self._monotonic() + timeout_s
        while True:
            try:
                return self.adapter.watermarks(self.topic, partitions, max(1.0, min(10.0, timeout_s)))
            except Exception as error:  # noqa: BLE001 - retried, then raised
                if self._monotonic() >= deadline:
                    raise
                log("%s: watermarks: %r (retrying)" % (self.process, error))
                self._sleep(0.2)

    def _start_reading(self):
        partitions = sorted(self.adapter.partitions(self.topic, 30.0))
        if not partitions:
            raise RuntimeError("topic %r has no partitions (does it exist?)" % self.topic)
        self.partitions = partitions
        if self.group is not None:
            self.adapter.subscribe(self.topic, self)
            return
        marks = self._watermarks(partitions, 30.0)
        self.positions = {p: marks[p][0] for p in partitions}
        self.adapter.assign(self.topic, dict(self.positions))
        self.history.assign(self.process, [(self.topic, p, o) for p, o in sorted(self.positions.items())])

    def _deliver(self, items):
        records = []
        for item in items:
            if isinstance(item, Truncated):
                if records:
                    self.history.poll_ok(self.process, records)
                    self.delivered += len(records)
                    records = []
                self._on_truncated(item)
                continue
            if isinstance(item, PollError):
                if records:
                    self.history.poll_ok(self.process, records)
                    self.delivered += len(records)
                    records = []
                self._on_error(item)
                continue
            records.append((item.topic, item.partition, item.offset, item.value))
            with self._lock:
                self.positions[item.partition] = item.offset + 1
        if records:
            self.history.poll_ok(self.process, records)
            self.delivered += len(records)

    def _seek(self, partition, offset):
        """Moves the library's position; a library that refuses leaves the position where it was (the next
        answer tells again), recorded as it happened: the `reset` is recorded by the caller only for the jump."""
        try:
            self.adapter.seek(self.topic, partition, offset)
        except Exception as error:  # noqa: BLE001 - logged; reading goes on
            log("%s: seek of partition %d to %d failed: %r" % (self.process, partition, offset, error))

    def _on_truncated(self, truncated):
        """Reads on from where the log now diverges (the application's seek after a log truncation error,
        as Kafka's consumer leaves it to the application), or from the high watermark if the library cannot
        say where; recorded as a `reset` down (reason `seek`)."""
        partition = truncated.partition
        position = self.positions.get(partition, 0)
        target = truncated.offset
        if target is None:
            try:
                target = self._watermarks([partition], 10.0)[partition][1]
            except Exception as failure:  # noqa: BLE001 - read on from where it was
                log("%s: no watermarks after a truncation: %r" % (self.process, failure))
                target = position
        log("%s: log truncated below the position of %s/%d: %d -> %d" % (
            self.process, truncated.topic, partition, position, target))
        if target != position:
            self.history.reset(self.process, truncated.topic, partition, position, target, "seek")
        self.positions[partition] = target
        self._seek(partition, target)

    def _on_error(self, error):
        partition = error.partition
        position = error.offset if error.offset is not None else self.positions.get(partition, 0)
        self.history.poll_fail(self.process, error.topic, partition, position, error.error)
        if error.error not in ("offset_out_of_range", "offset_evicted"):
            return
        try:
            low, high = self._watermarks([partition], 10.0)[partition]
        except Exception as failure:  # noqa: BLE001 - read on from where it was; the next answer tells again
            log("%s: no watermarks after an out-of-range answer: %r" % (self.process, failure))
            self._seek(partition, position)
            return
        if position < low:
            target = low
        elif position > high:
            target = high
        else:
            target = position  # in range after all: read on from where it was
        if target != position:
            self.history.reset(self.process, error.topic, partition, position, target, "out_of_range")
        self.positions[partition] = target
        self._seek(partition, target)

    def _commit_generation(self):
        """The generation a group member's commit carries, when the library tells it."""
        if self.group is None:
            return None
        try:
            return self.adapter.generation()
        except Exception as error:  # noqa: BLE001 - the commit is recorded without it
            log("%s: no generation: %r" % (self.process, error))
            return None

    def _record_commits(self, type_, offsets, generation, error=None):
        for partition, offset in sorted(offsets.items()):
            self.history.commit(self.process, type_, self.topic, partition, offset, group=self.group,
                                generation=generation, error=error)

    def _record_commit_outcome(self, offsets, generation, error):
        """Records the outcome of a commit of `offsets` whose invoke was recorded: ok when `error` is None."""
        if error is None:
            self._record_commits("ok", offsets, generation)
            with self._lock:
                self.committed.update(offsets)
            return
        name, outcome = self.adapter.commit_error_outcome(error)
        log("%s: commit failed: %s (%s)" % (self.process, name, error))
        self._record_commits(outcome, offsets, generation, error=name)

    def _commit(self):
        with self._lock:
            offsets = {p: o for p, o in self.positions.items() if self.committed.get(p) != o}
        if not offsets:
            return
        generation = self._commit_generation()
        self._record_commits("invoke", offsets, generation)
        try:
            self.adapter.commit(self.topic, offsets)
        except Exception as error:  # noqa: BLE001 - every commit error is recorded
            self._record_commit_outcome(offsets, generation, error)
            return
        self._record_commit_outcome(offsets, generation, None)

    # The group listener: called by the adapter from the library's rebalance callbacks.
    def assigned(self, partitions, membership):
        partitions = sorted(set(partitions))
        with self._lock:
            self.owned.update(partitions)
            self._unstarted.update(partitions)
            self._generation = membership.generation
            self._assigned_once = True
            self._between_assignments = False
            self._assignment_changes += 1
            self.assignments += 1
            owned = sorted(self.owned)
        log("%s: assigned %s in generation %s" % (self.process, partitions, membership.generation))
        if membership.generation is None or not membership.member:
            return
        if membership.leader is not None:
            self.history.join(self.process, self.group, membership.generation, membership.member,
                              membership.leader, membership.protocol)
        whole = sorted(set(membership.assignment)) if membership.assignment is not None else owned
        self.history.assignment(self.process, self.group, membership.generation, membership.member,
                                [(self.topic, p) for p in whole])

    def start_positions(self, partitions):
        """Where the newly assigned `partitions` start: the group's committed offset, or the log start when the
        group has none. Recorded as an `assign`. Partitions already started or no longer assigned are left out."""
        with self._lock:
            wanted = sorted(p for p in set(partitions) if p in self._unstarted)
        if not wanted:
            return {}
        committed = self._committed(wanted, 30.0)
        missing = [p for p in wanted if committed.get(p) is None]
        marks = self._watermarks(missing, 30.0) if missing else {}
        starts = {p: committed[p] if committed.get(p) is not None else marks[p][0] for p in wanted}
        with self._lock:
            for partition, offset in starts.items():
                self.positions[partition] = offset
                if committed.get(partition) is not None:
                    self.committed[partition] = offset
                else:
                    self.committed.pop(partition, None)
            self._unstarted.difference_update(wanted)
            self._assignment_changes += 1
        self.history.assign(self.process, [(self.topic, p, o) for p, o in sorted(starts.items())])
        return starts

    def revoking(self, partitions, lost):
        """What to commit before `partitions` are given up: what was delivered of them and is not committed yet
        (nothing when the membership was `lost`). Records the commit's invoke."""
        with self._lock:
            if lost:
                offsets = {}
            else:
                offsets = {p: self.positions[p] for p in set(partitions)
                           if p in self.positions and self.committed.get(p) != self.positions[p]}
        self._revoke_commit_generation = None
        if offsets:
            self._revoke_commit_generation = self._commit_generation()
            self._record_commits("invoke", offsets, self._revoke_commit_generation)
        return offsets

    def revoked(self, partitions, lost, offsets, error):
        """The commit of `offsets` (revoking's answer) ended with `error` (None: ok); the partitions are given up."""
        if offsets:
            self._record_commit_outcome(offsets, self._revoke_commit_generation, error)
        partitions = sorted(set(partitions))
        with self._lock:
            generation = self._generation
            for partition in partitions:
                self.positions.pop(partition, None)
                self.owned.discard(partition)
                self._unstarted.discard(partition)
            if not self.owned:
                self._between_assignments = True
            self._assignment_changes += 1
            if partitions:
                self.revokes += 1
        if partitions:
            log("%s: revoked %s%s" % (self.process, partitions, " (lost)" if lost else ""))
            self.history.revoke(self.process, self.group, generation, [(self.topic, p) for p in partitions], lost)

    def _committed(self, partitions, timeout_s):
        """The adapter's committed offsets, retried (the coordinator may be unreachable for a while during
        faults) until `timeout_s` has passed; then the last error is raised."""
        deadline = self._monotonic() + timeout_s
        while True:
            try:
                return self.adapter.committed(self.topic, partitions, max(1.0, min(10.0, timeout_s)))
            except Exception as error:  # noqa: BLE001 - retried, then raised
                if self._monotonic() >= deadline:
                    raise
                log("%s: committed offsets: %r (retrying)" % (self.process, error))
                self._sleep(0.2)

    def _caught_up(self):
        """(whether every partition read is at its high watermark, what must stay put for the quiet period).

        A group member is caught up when the group is: no rebalance under way for it (revoked and not assigned
        yet, or assigned partitions not started), its own partitions read to their high watermarks, and the
        group's committed offset of every partition of the topic at its high watermark (the other members' too:
        a member that left without its partitions being reassigned yet, say its LeaveGroup was lost, holds the
        drain until its session expired and someone read them), when it commits at all. Its quiet period
        restarts when its assignment changes."""
        with self._lock:
            positions = dict(self.positions)
            changes = self._assignment_changes
            settled = self.group is None or (
                self._assigned_once and not self._between_assignments and not self._unstarted)
        if not settled:
            return False, None
        # The group's commits tell how far the group is only when its members commit (this one does).
        by_commits = self.group is not None and self.commit_interval_s > 0
        asked = sorted(set(self.partitions) | set(positions)) if by_commits else sorted(positions)
        try:
            marks = self.adapter.watermarks(self.topic, asked, 10.0) if asked else {}
            committed = self.adapter.committed(self.topic, asked, 10.0) if by_commits else {}
        except Exception as error:  # noqa: BLE001 - not known to be caught up; asked again later
            log("%s: watermarks: %r" % (self.process, error))
            return False, None
        if by_commits:
            # No commit: as good as one at the log start (an empty partition is caught up).
            behind = {p: (committed.get(p), marks[p][1]) for p in asked
                      if (marks[p][0] if committed.get(p) is None else committed[p]) < marks[p][1]}
            if behind:
                if behind != self._reported_behind:
                    log("%s: the group's commits are behind (committed, high watermark): %s" % (self.process, behind))
                self._reported_behind = behind
                return False, None
        highs = {p: marks[p][1] for p in marks if p in positions}
        # A position above the high watermark means the log lost records the consumer had (truncation; the
        # library's next fetch gets out of range, which is recorded, during the quiet period), or a broker whose
        # high watermark is wrong: either way waiting longer tells nothing more. Said on stderr.
        above = {p: (positions[p], highs[p]) for p in highs if positions[p] > highs[p]}
        if above and above != self._reported_above:
            log("%s: position above the high watermark (position, high watermark): %s" % (self.process, above))
        self._reported_above = above
        return all(positions[p] >= highs[p] for p in highs), (highs, changes)

    def run(self):
        self.history.start(self.process)
        started = self._monotonic()
        try:
            self._start_reading()
            last_commit = self._monotonic()
            drain_started = None
            heal_offset = 0
            healed = self.heal_file is None
            quiet_since = None
            quiet_highs = None
            last_check = 0.0
            while True:
                try:
                    items = self.adapter.poll(self.poll_timeout_s)
                except Exception as error:  # noqa: BLE001 - the library's own trouble: logged, polled again
                    log("%s: poll: %r" % (self.process, error))
                    self._sleep(0.2)
                    items = []
                self._deliver(items)
                if self.leave_after_records and self.delivered >= self.leave_after_records:
                    log("%s: delivered %d records: leaving without a drain" % (self.process, self.delivered))
                    self.left_early = True
                    break
                now = self._monotonic()
                if self.commit_interval_s > 0 and now - last_commit >= self.commit_interval_s:
                    self._commit()
                    last_commit = now
                if drain_started is None:
                    if self.stop.is_set() or (self.duration_s > 0 and now - started >= self.duration_s):
                        drain_started = now
                    else:
                        continue
                if now - drain_started >= self.drain_timeout_s:
                    log("%s: drain timeout after %.1f s (healed: %s); positions %s" % (
                        self.process, self.drain_timeout_s, healed, self.positions))
                    break
                if not healed:
                    healed, heal_offset = heal_seen(self.heal_file, heal_offset)
                    if not healed:
                        continue
                if now - last_check < self.check_interval_s:
                    continue
                last_check = now
                caught_up, highs = self._caught_up()
                if not caught_up:
                    quiet_since, quiet_highs = None, None
                    continue
                if quiet_since is None or highs != quiet_highs:
                    quiet_since, quiet_highs = now, highs
                    continue
                if now - quiet_since >= self.quiet_s:
                    self.drained = True
                    break
            if self.commit_interval_s > 0:
                self._commit()
            leaving = None
            if self.group is not None:
                try:
                    leaving = self.adapter.leaving_member()
                except Exception as error:  # noqa: BLE001 - the leave is then not recorded
                    log("%s: no member id: %r" % (self.process, error))
        except BaseException:
            self.history.crash(self.process)
            raise
        try:
            # A group member's close() revokes its partitions (commit, revoke) and then leaves the group.
            self.adapter.close()
            if leaving:
                self.history.leave(self.process, self.group, leaving)
        finally:
            self.history.close(self.process)
        return self.delivered
