//! Consumer groups (docs/history-format.md, "Consumer groups"): `double-assignment`, `unowned-commit`,
//! `fenced-commit-accepted`, `offsets-expired-early`, and the group readings of `commit-regressed` and
//! `duplicate-delivery`, judged as the events stream past.
//!
//! State, all compact and ordered (nothing is iterated out of a hash map):
//! - per group: its name, the newest generation a `join` ok announced, and the processes that took part
//!   in it (joined, were assigned, or committed with it);
//! - per (group, partition): the highest commit ok since the last excuse (a `reset` of a process of the
//!   group to below it, or an `offsets_expired`), and the lowest offset the coordinator may hold instead
//!   (a commit of unknown outcome, or a lower commit ok that came after it);
//! - per (group, generation, partition): the first process whose `assignment` named it;
//! - per process: its memberships (from a `join` ok to its `leave` or a `join` as another member), what it
//!   owns (from an `assignment` to a `revoke`, `leave` or the end of its incarnation), its last assignment
//!   per group;
//! - the commit invokes with a group that are still waiting for their outcome, with what was true when they
//!   were invoked (owned? fenced? the group's highest commit? a membership proving an expiry early?);
//! - per (process, partition) after a member's `assign`: the group's commit it must not deliver below.
//!
//! Line order is taken as causal order: a line before another happened before it.

use std::collections::BTreeSet;

use super::*;

pub(super) type GroupId = u32;

/// The consumer-group part of the checker's state.
#[derive(Default)]
pub(super) struct Groups {
    ids: LookupMap<String, GroupId>,
    groups: Vec<GroupState>,
    /// Per process, indexed by its id (grown on demand).
    members: Vec<MemberState>,
    /// Each group's commits of each partition.
    committed: BTreeMap<(GroupId, PartitionId), GroupCommits>,
    /// (group, start of the group, generation, partition): the first process whose `assignment` named it,
    /// and that line.
    assigned: BTreeMap<(GroupId, u32, u32, PartitionId), (ProcessId, u64)>,
    /// Commit invokes with a group waiting for their outcome, per (process, partition), in invoke order.
    pending: BTreeMap<(ProcessId, PartitionId), Vec<PendingCommit>>,
    /// What a member's `assign` of a partition it owns must not deliver below.
    baselines: BTreeMap<(ProcessId, PartitionId), GroupBaseline>,
    /// `offsets_expired` lines already reported as `offsets-expired-early` (one anomaly per line).
    early_expiries: BTreeSet<u64>,
}

struct GroupState {
    name: String,
    /// Counts the times the group started over (see [`Checker::on_join`]); generations are compared within
    /// one start only.
    era: u32,
    /// In this start of the group: the highest generation a `join` ok announced, and the first line that did.
    newest_join: Option<(u32, u64)>,
    /// In this start of the group: the member each generation's `join` ok named leader.
    leaders: BTreeMap<u32, String>,
    /// Every member id a `join` ok of the group named.
    members_seen: BTreeSet<String>,
    /// The processes that joined it, got an assignment of it or committed with it: ascending.
    processes: Vec<ProcessId>,
    /// The member commit (with a generation) accepted so far that was invoked last: (invoke time,
    /// invoke line, ok line). The group had a member when the coordinator applied it, after the invoke.
    last_member_commit: Option<(u64, u64, u64)>,
}

#[derive(Default)]
struct GroupCommits {
    /// The highest commit ok since the last excuse: (offset, line, process).
    highest: Option<(u64, u64, ProcessId)>,
    /// The lowest offset the coordinator may hold below `highest`: of a commit of unknown outcome (it may
    /// have been applied after every later one), or of a commit ok lower than the highest before it
    /// (applied after it). Never cleared: a delivery at or above it is excused.
    uncertain: Option<u64>,
}

#[derive(Default)]
struct MemberState {
    /// Counts the process's incarnation boundaries (`start`, `crash`, `close`).
    incarnation: u32,
    /// The groups it took part in: ascending.
    groups: Vec<GroupId>,
    memberships: BTreeMap<GroupId, Membership>,
    owned: BTreeMap<(GroupId, PartitionId), Ownership>,
    last_assignment: BTreeMap<GroupId, LastAssignment>,
}

/// A process's membership of a group: from its `join` ok until its `leave` or a `join` as another member.
/// It outlives the incarnation (a crashed member stays in the group until its session times out).
struct Membership {
    member: String,
    generation: u32,
    join_line: u64,
    incarnation: u32,
    /// `offsets_expired` lines of the group since the join that took a topic of its last assignment.
    expiries: Vec<u64>,
}

struct LastAssignment {
    line: u64,
    generation: u32,
    /// The topics it named, ascending.
    topics: Vec<TopicId>,
}

#[derive(Clone, Copy)]
enum Ownership {
    /// Given by the `assignment` on this line.
    Owned,
    /// Ended on this line.
    Ended { line: u64, by: OwnershipEnd },
}

#[derive(Clone, Copy)]
pub(super) enum OwnershipEnd {
    Revoke,
    Leave,
    Crash,
    Close,
    Restart,
}

/// A commit invoke with a group, and what held when it was invoked.
struct PendingCommit {
    group: GroupId,
    generation: Option<u32>,
    offset: u64,
    invoke_line: u64,
    invoke_time_ns: u64,
    /// A member's commit (with a generation) of a partition it did not own: why not.
    unowned: Option<NotOwned>,
    /// A member's commit of generation N invoked after a `join` ok of a newer generation: (its generation,
    /// its line).
    fenced_by: Option<(u32, u64)>,
    /// The group's highest commit ok of the partition when it was invoked.
    highest_before: Option<(u64, u64, ProcessId)>,
    /// Invoked by a member in the incarnation of its `join`, with a generation at least the join's, after
    /// an `offsets_expired` of the group: (join line, member, generation, the expiry lines).
    proves_membership: Option<(u64, String, u32, Vec<u64>)>,
}

/// Why a process did not own a partition.
#[derive(Clone, Copy)]
enum NotOwned {
    Ended {
        line: u64,
        by: OwnershipEnd,
    },
    /// Never given by an assignment of the group; the process's last assignment of it: (line, generation).
    NeverAssigned(Option<(u64, u32)>),
}

struct GroupBaseline {
    group: GroupId,
    /// The group's highest commit ok before the assign: (offset, line, process).
    committed: (u64, u64, ProcessId),
    uncertain: Option<u64>,
    assign_line: u64,
}

impl Groups {
    /// Whether any member's `assign` set a baseline: deliveries need a look only then.
    pub(super) fn has_baselines(&self) -> bool {
        !self.baselines.is_empty()
    }

    fn group_id(&mut self, name: &str) -> GroupId {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = u32::try_from(self.groups.len()).expect("fewer than 2^32 groups");
        self.ids.insert(name.to_string(), id);
        self.groups.push(GroupState {
            name: name.to_string(),
            era: 0,
            newest_join: None,
            leaders: BTreeMap::new(),
            members_seen: BTreeSet::new(),
            processes: Vec::new(),
            last_member_commit: None,
        });
        id
    }

    fn member(&mut self, process: ProcessId) -> &mut MemberState {
        let index = process as usize;
        if self.members.len() <= index {
            self.members.resize_with(index + 1, MemberState::default);
        }
        &mut self.members[index]
    }

    /// Notes that `process` takes part in `group`.
    fn take_part(&mut self, process: ProcessId, group: GroupId) {
        let processes = &mut self.groups[group as usize].processes;
        if let Err(index) = processes.binary_search(&process) {
            processes.insert(index, process);
        }
        let groups = &mut self.member(process).groups;
        if let Err(index) = groups.binary_search(&group) {
            groups.insert(index, group);
        }
    }

    /// Whether `process` owns `partition` in `group` now; if not, why.
    fn ownership(
        &self,
        process: ProcessId,
        group: GroupId,
        partition: PartitionId,
    ) -> Result<(), NotOwned> {
        let Some(member) = self.members.get(process as usize) else {
            return Err(NotOwned::NeverAssigned(None));
        };
        match member.owned.get(&(group, partition)) {
            Some(Ownership::Owned) => Ok(()),
            Some(&Ownership::Ended { line, by }) => Err(NotOwned::Ended { line, by }),
            None => Err(NotOwned::NeverAssigned(
                member
                    .last_assignment
                    .get(&group)
                    .map(|last| (last.line, last.generation)),
            )),
        }
    }
}

impl OwnershipEnd {
    fn describe(self, line: u64) -> String {
        match self {
            OwnershipEnd::Revoke => format!("it had revoked it (line {line})"),
            OwnershipEnd::Leave => format!("it had left the group (line {line})"),
            OwnershipEnd::Crash => {
                format!("the incarnation it was assigned in crashed (line {line})")
            }
            OwnershipEnd::Close => {
                format!("the incarnation it was assigned in closed (line {line})")
            }
            OwnershipEnd::Restart => {
                format!("it restarted (line {line}) after the assignment that gave it")
            }
        }
    }
}

impl Checker {
    /// `join` ok of `process`: member `member` of `group` in `generation`, its leader or not.
    ///
    /// A group *starts over* when its coordinator forgets it (Kafka deletes an empty group whose offsets all
    /// expired; a coordinator that fails over loses what it had not stored): the new group counts
    /// generations from the start again, with members of new ids. Seen as a `join` ok of a member id new to
    /// the group with a generation below the highest one seen, or of a second leader of one generation.
    /// Either may also be a late answer or a static leader replaced (KIP-345): then the checker only
    /// compares less.
    pub(super) fn on_join(
        &mut self,
        process: ProcessId,
        line: u64,
        group: &str,
        generation: u32,
        member: &str,
        leader: bool,
    ) {
        let group = self.groups.group_id(group);
        self.groups.take_part(process, group);
        let state = &mut self.groups.groups[group as usize];
        let unseen = !state.members_seen.contains(member);
        let started_over = (unseen
            && state
                .newest_join
                .is_some_and(|(newest, _)| generation < newest))
            || (leader
                && state
                    .leaders
                    .get(&generation)
                    .is_some_and(|known| known != member));
        if started_over {
            state.era += 1;
            state.newest_join = None;
            state.leaders.clear();
        }
        if unseen {
            state.members_seen.insert(member.to_string());
        }
        if leader {
            state.leaders.insert(generation, member.to_string());
        }
        if state
            .newest_join
            .is_none_or(|(newest, _)| generation > newest)
        {
            state.newest_join = Some((generation, line));
        }
        let members = self.groups.member(process);
        let incarnation = members.incarnation;
        let previous = members.memberships.insert(
            group,
            Membership {
                member: member.to_string(),
                generation,
                join_line: line,
                incarnation,
                expiries: Vec::new(),
            },
        );
        // A join as the same member proves it never left: the coordinator gives a member that was removed
        // (session timeout, LeaveGroup) a new id when it joins again.
        if let Some(previous) = previous.filter(|previous| previous.member == member) {
            for expiry in previous.expiries {
                if !self.groups.early_expiries.insert(expiry) {
                    continue;
                }
                let process_name = &self.processes[process as usize].name;
                let group_name = &self.groups.groups[group as usize].name;
                let (join_line, old_generation) = (previous.join_line, previous.generation);
                self.reports.add(AnomalyKind::OffsetsExpiredEarly, [join_line, expiry, line], || {
                    format!(
                        "the coordinator expired offsets of group {group_name} (line {expiry}) while \
                         {process_name} was a member: it had joined {group_name} as {member} in generation \
                         {old_generation} (line {join_line}) and joined again as the same member in generation \
                         {generation} (line {line}), so it never left; a group's offsets expire only once it \
                         is empty (KIP-211)"
                    )
                });
            }
        }
    }

    /// `assignment` ok of `process`: what it may read in `generation` of `group`.
    pub(super) fn on_assignment(
        &mut self,
        process: ProcessId,
        line: u64,
        group: &str,
        generation: u32,
        partitions: &[TopicPartition<'_>],
    ) {
        let group = self.groups.group_id(group);
        self.groups.take_part(process, group);
        // An assignment belongs to the current start of the group: it answers a SyncGroup, which follows
        // the leader's join of that start (the members' joins may be recorded before or after the leader's).
        let era = self.groups.groups[group as usize].era;
        let mut topics = Vec::new();
        for assigned in partitions {
            let partition = self.partition_id(&assigned.topic, assigned.partition);
            let topic = self.partitions[partition as usize].topic;
            if let Err(index) = topics.binary_search(&topic) {
                topics.insert(index, topic);
            }
            self.groups
                .member(process)
                .owned
                .insert((group, partition), Ownership::Owned);
            let first = *self
                .groups
                .assigned
                .entry((group, era, generation, partition))
                .or_insert((process, line));
            let (first_process, first_line) = first;
            if first_process != process {
                let first_name = &self.processes[first_process as usize].name;
                let process_name = &self.processes[process as usize].name;
                let label = self.partition_label(partition);
                let group_name = &self.groups.groups[group as usize].name;
                self.reports.add(AnomalyKind::DoubleAssignment, [first_line, line], || {
                    format!(
                        "{label} is in the assignment of generation {generation} of group {group_name} of both \
                         {first_name} (line {first_line}) and {process_name} (line {line}): two members of one \
                         generation own it"
                    )
                });
            }
        }
        self.groups.member(process).last_assignment.insert(
            group,
            LastAssignment {
                line,
                generation,
                topics,
            },
        );
    }

    /// `revoke` ok of `process`: it stopped reading these partitions.
    pub(super) fn on_revoke(
        &mut self,
        process: ProcessId,
        line: u64,
        group: &str,
        partitions: &[TopicPartition<'_>],
    ) {
        let group = self.groups.group_id(group);
        for revoked in partitions {
            let partition = self.partition_id(&revoked.topic, revoked.partition);
            let owned = &mut self.groups.member(process).owned;
            if let Some(ownership @ Ownership::Owned) = owned.get_mut(&(group, partition)) {
                *ownership = Ownership::Ended {
                    line,
                    by: OwnershipEnd::Revoke,
                };
            }
        }
    }

    /// `leave` ok of `process`: it left `group` (membership and everything it owned there).
    pub(super) fn on_leave(&mut self, process: ProcessId, line: u64, group: &str) {
        let group = self.groups.group_id(group);
        let member = self.groups.member(process);
        member.memberships.remove(&group);
        for (_, ownership) in member
            .owned
            .range_mut((group, PartitionId::MIN)..=(group, PartitionId::MAX))
        {
            if let Ownership::Owned = ownership {
                *ownership = Ownership::Ended {
                    line,
                    by: OwnershipEnd::Leave,
                };
            }
        }
    }

    /// The end of an incarnation of `process` (`crash`, `close`, or a `start` after earlier events): it owns
    /// nothing any more; its commits in flight will not be answered.
    pub(super) fn end_group_incarnation(
        &mut self,
        process: ProcessId,
        line: u64,
        by: OwnershipEnd,
    ) {
        if self.groups.members.len() <= process as usize {
            return;
        }
        let member = self.groups.member(process);
        member.incarnation += 1;
        for ownership in member.owned.values_mut() {
            if let Ownership::Owned = ownership {
                *ownership = Ownership::Ended { line, by };
            }
        }
        let range = (process, PartitionId::MIN)..=(process, PartitionId::MAX);
        let pending: Vec<_> = self
            .groups
            .pending
            .range(range.clone())
            .map(|(key, _)| *key)
            .collect();
        for key in pending {
            self.groups.pending.remove(&key);
        }
        let baselines: Vec<_> = self
            .groups
            .baselines
            .range(range)
            .map(|(key, _)| *key)
            .collect();
        for key in baselines {
            self.groups.baselines.remove(&key);
        }
    }

    /// `offsets_expired` (process `cluster`): the coordinator deleted `group`'s committed offsets of these
    /// partitions. It excuses what came before (the group's commits of them no longer bind anyone), and it
    /// is early when a member was in the group across it (`offsets-expired-early`, judged when a later
    /// line proves the member was still there).
    pub(super) fn on_offsets_expired(
        &mut self,
        line: u64,
        time_ns: u64,
        group_name: &str,
        partitions: &[TopicPartition<'_>],
        retention_ms: Option<u64>,
    ) {
        let group = self.groups.group_id(group_name);
        // Kafka expires an empty group's offsets a retention after it became empty (KIP-211), and a
        // group that accepted a member's commit was not empty when it applied it, after its invoke.
        if let (Some(retention_ms), Some((invoke_ns, invoke_line, ok_line))) = (
            retention_ms,
            self.groups.groups[group as usize].last_member_commit,
        ) {
            let retention_ns = retention_ms.saturating_mul(1_000_000);
            if time_ns <= invoke_ns.saturating_add(retention_ns)
                && self.groups.early_expiries.insert(line)
            {
                let since_ms = (time_ns.saturating_sub(invoke_ns)) / 1_000_000;
                self.reports.add(
                    AnomalyKind::OffsetsExpiredEarly,
                    [invoke_line, ok_line, line],
                    || {
                        format!(
                            "the coordinator expired offsets of group {group_name} (line {line}) {since_ms} ms \
                             after a member's commit was invoked (line {invoke_line}) and accepted (line \
                             {ok_line}): the group was not empty then, and its offsets may expire only \
                             {retention_ms} ms (its offset retention) after it became empty (KIP-211)"
                        )
                    },
                );
            }
        }
        let mut topics = Vec::new();
        for expired in partitions {
            let partition = self.partition_id(&expired.topic, expired.partition);
            topics.push(self.partitions[partition as usize].topic);
            self.withdraw_group_commits(group, partition);
        }
        // A member is in the group across the expiry when it joined before it; only topics it was reading
        // count (a group may expire the offsets of topics it no longer subscribes to, KIP-496).
        let processes = self.groups.groups[group as usize].processes.clone();
        for process in processes {
            let member = self.groups.member(process);
            let reads_expired_topic = member.last_assignment.get(&group).is_some_and(|last| {
                topics
                    .iter()
                    .any(|topic| last.topics.binary_search(topic).is_ok())
            });
            if let Some(membership) = member.memberships.get_mut(&group) {
                if reads_expired_topic {
                    membership.expiries.push(line);
                }
            }
        }
    }

    /// The group's commits of `partition` stop binding anyone: an `offsets_expired` of it, or a `reset` of
    /// it by a process of the group to below the highest. Also for the process rules of its processes
    /// (`duplicate-delivery` after a restart, `commit-regressed`, what a later `assign` skips).
    fn withdraw_group_commits(&mut self, group: GroupId, partition: PartitionId) {
        if let Some(commits) = self.groups.committed.get_mut(&(group, partition)) {
            commits.highest = None;
        }
        for index in 0..self.groups.groups[group as usize].processes.len() {
            let process = self.groups.groups[group as usize].processes[index];
            if let Some(cursor) = self.processes[process as usize].cursors.get_mut(&partition) {
                cursor.last_commit = None;
                cursor.highest_commit = None;
                cursor.closed_delivered = None;
                if let Some(baseline) = cursor.baseline.as_mut() {
                    baseline.committed = None;
                    baseline.closed_incarnation = None;
                }
            }
        }
    }

    /// A `reset` of `partition` by `process` to `to`: it ends the process's group baseline of it, and
    /// withdraws the commits of each of its groups above `to`.
    pub(super) fn on_group_reset(&mut self, process: ProcessId, partition: PartitionId, to: u64) {
        self.groups.baselines.remove(&(process, partition));
        let Some(member) = self.groups.members.get(process as usize) else {
            return;
        };
        let groups = member.groups.clone();
        for group in groups {
            let above = self
                .groups
                .committed
                .get(&(group, partition))
                .and_then(|commits| commits.highest)
                .is_some_and(|(highest, _, _)| to < highest);
            if above {
                self.withdraw_group_commits(group, partition);
            }
        }
    }

    /// An `assign` of `partition` at `position` by `process`: when it owns the partition in a group, its
    /// position comes from the group's commits, so its deliveries are judged against them from here on
    /// (instead of against the process's own commits before a restart).
    pub(super) fn on_group_assign(
        &mut self,
        process: ProcessId,
        line: u64,
        partition: PartitionId,
    ) {
        self.groups.baselines.remove(&(process, partition));
        let Some(member) = self.groups.members.get(process as usize) else {
            return;
        };
        let owning = member
            .owned
            .iter()
            .find_map(|(&(group, owned_partition), ownership)| {
                (owned_partition == partition && matches!(ownership, Ownership::Owned))
                    .then_some(group)
            });
        let Some(group) = owning else {
            return;
        };
        if let Some(cursor) = self.processes[process as usize].cursors.get_mut(&partition) {
            cursor.baseline = None;
        }
        let commits = self.groups.committed.get(&(group, partition));
        if let Some((committed, uncertain)) =
            commits.and_then(|commits| commits.highest.map(|highest| (highest, commits.uncertain)))
        {
            self.groups.baselines.insert(
                (process, partition),
                GroupBaseline {
                    group,
                    committed,
                    uncertain,
                    assign_line: line,
                },
            );
        }
    }

    /// A delivery of `offset` by `process` (group redelivery, a `duplicate-delivery`).
    pub(super) fn on_group_delivery(
        &mut self,
        process: ProcessId,
        line: u64,
        partition: PartitionId,
        offset: u64,
    ) {
        let Some(baseline) = self.groups.baselines.get(&(process, partition)) else {
            return;
        };
        let (committed, commit_line, committer) = baseline.committed;
        if offset >= committed
            || baseline
                .uncertain
                .is_some_and(|uncertain| offset >= uncertain)
        {
            return;
        }
        let assign_line = baseline.assign_line;
        let group_name = &self.groups.groups[baseline.group as usize].name;
        let process_name = &self.processes[process as usize].name;
        let committer_name = &self.processes[committer as usize].name;
        let label = self.partition_label(partition);
        self.reports.add(AnomalyKind::DuplicateDelivery, [commit_line, assign_line, line], || {
            format!(
                "{process_name} delivered {label} offset {offset} (line {line}) after its assign of {label} as a \
                 member of group {group_name} (line {assign_line}), below offset {committed} that {committer_name} \
                 had committed for {group_name} before the assign (line {commit_line}), with no offsets_expired \
                 of {label} and no reset of it by a process of {group_name} to below {committed} in between"
            )
        });
    }

    /// A `commit` with a `group`, of any type.
    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_group_commit(
        &mut self,
        process: ProcessId,
        line: u64,
        time_ns: u64,
        partition: PartitionId,
        phase: CommitPhase,
        offset: u64,
        group: &str,
        generation: Option<u32>,
    ) {
        let group = self.groups.group_id(group);
        self.groups.take_part(process, group);
        if phase == CommitPhase::Invoke {
            let mut pending =
                self.commit_invoked(process, line, partition, group, generation, offset);
            pending.invoke_time_ns = time_ns;
            self.groups
                .pending
                .entry((process, partition))
                .or_default()
                .push(pending);
            return;
        }
        // The outcome answers the earliest invoke of the same commit still waiting.
        let key = (process, partition);
        let invoked = self.groups.pending.get_mut(&key).and_then(|pending| {
            let index = pending.iter().position(|invoked| {
                (invoked.group, invoked.generation, invoked.offset) == (group, generation, offset)
            })?;
            let invoked = pending.remove(index);
            Some(invoked)
        });
        if self.groups.pending.get(&key).is_some_and(Vec::is_empty) {
            self.groups.pending.remove(&key);
        }
        match phase {
            CommitPhase::Ok => {
                if let Some(invoked) = invoked {
                    if invoked.generation.is_some() {
                        let last = &mut self.groups.groups[group as usize].last_member_commit;
                        if last.is_none_or(|(time_ns, _, _)| invoked.invoke_time_ns >= time_ns) {
                            *last = Some((invoked.invoke_time_ns, invoked.invoke_line, line));
                        }
                    }
                    self.judge_group_commit(process, line, partition, invoked);
                }
                let commits = self.groups.committed.entry((group, partition)).or_default();
                match commits.highest {
                    Some((highest, _, _)) if offset < highest => {
                        commits.uncertain = Some(
                            commits
                                .uncertain
                                .map_or(offset, |uncertain| uncertain.min(offset)),
                        );
                    }
                    Some((highest, _, _)) if offset == highest => {}
                    _ => commits.highest = Some((offset, line, process)),
                }
                // What a later `assign` of this process skips (mod.rs): the partition was committed.
                self.cursor(process, partition).last_commit = Some((offset, line));
            }
            CommitPhase::Info => {
                let commits = self.groups.committed.entry((group, partition)).or_default();
                commits.uncertain = Some(
                    commits
                        .uncertain
                        .map_or(offset, |uncertain| uncertain.min(offset)),
                );
            }
            CommitPhase::Fail | CommitPhase::Invoke => {}
        }
    }

    /// What holds when `process` invokes a commit with a group.
    fn commit_invoked(
        &mut self,
        process: ProcessId,
        line: u64,
        partition: PartitionId,
        group: GroupId,
        generation: Option<u32>,
        offset: u64,
    ) -> PendingCommit {
        let unowned =
            generation.and_then(|_| self.groups.ownership(process, group, partition).err());
        let fenced_by = generation.and_then(|generation| {
            self.groups.groups[group as usize]
                .newest_join
                .filter(|&(newest, _)| newest > generation)
        });
        let highest_before = self
            .groups
            .committed
            .get(&(group, partition))
            .and_then(|commits| commits.highest);
        let member = self.groups.member(process);
        let incarnation = member.incarnation;
        let proves_membership = member.memberships.get(&group).and_then(|membership| {
            let proves = membership.incarnation == incarnation
                && !membership.expiries.is_empty()
                && generation.is_some_and(|generation| generation >= membership.generation);
            proves.then(|| {
                (
                    membership.join_line,
                    membership.member.clone(),
                    membership.generation,
                    membership.expiries.clone(),
                )
            })
        });
        PendingCommit {
            group,
            generation,
            offset,
            invoke_line: line,
            invoke_time_ns: 0,
            unowned,
            fenced_by,
            highest_before,
            proves_membership,
        }
    }

    /// A commit ok with a group whose invoke was recorded: `unowned-commit`, `fenced-commit-accepted`,
    /// `commit-regressed`, `offsets-expired-early`.
    fn judge_group_commit(
        &mut self,
        process: ProcessId,
        line: u64,
        partition: PartitionId,
        invoked: PendingCommit,
    ) {
        let PendingCommit {
            group,
            generation,
            offset,
            invoke_line,
            invoke_time_ns: _,
            unowned,
            fenced_by,
            highest_before,
            proves_membership,
        } = invoked;
        let process_name = &self.processes[process as usize].name;
        let group_name = &self.groups.groups[group as usize].name;
        let label = self.partition_label(partition);
        let generation_text = generation.map_or(String::new(), |generation| {
            format!(" generation {generation}")
        });
        let commit = format!(
            "{process_name} committed {label} offset {offset} for group {group_name}{generation_text} (invoked line \
             {invoke_line}, ok line {line})"
        );
        if let Some(not_owned) = unowned {
            let (reason, proof) = match not_owned {
                NotOwned::Ended { line, by } => (by.describe(line), Some(line)),
                NotOwned::NeverAssigned(Some((assignment_line, assigned_generation))) => (
                    format!(
                        "no assignment of {group_name} had given it {label}; its last one, of generation \
                         {assigned_generation} (line {assignment_line}), did not name it"
                    ),
                    Some(assignment_line),
                ),
                NotOwned::NeverAssigned(None) => (format!("no assignment of {group_name} had given it {label}"), None),
            };
            self.reports.add(
                AnomalyKind::UnownedCommit,
                [invoke_line, line].into_iter().chain(proof),
                || format!("{commit}, but it did not own {label} in {group_name} when it invoked the commit: {reason}"),
            );
        }
        if let (Some((newer, join_line)), Some(generation)) = (fenced_by, generation) {
            self.reports.add(AnomalyKind::FencedCommitAccepted, [join_line, invoke_line, line], || {
                format!(
                    "{commit}, though generation {newer} of {group_name} had been formed (join, line {join_line}) \
                     before the commit was invoked: the coordinator must refuse a commit of generation {generation} \
                     then"
                )
            });
        }
        if let Some((highest, highest_line, committer)) =
            highest_before.filter(|&(highest, _, _)| offset < highest)
        {
            let committer_name = &self.processes[committer as usize].name;
            self.reports.add(AnomalyKind::CommitRegressed, [highest_line, invoke_line, line], || {
                format!(
                    "{commit}, lower than the commit of offset {highest} that {committer_name} made for \
                     {group_name} (ok line {highest_line}) before this one was invoked, with no reset of {label} by \
                     a process of {group_name} to below {highest} and no offsets_expired of it in between"
                )
            });
        }
        if let Some((join_line, member, joined_generation, expiries)) = proves_membership {
            for expiry in expiries {
                if !self.groups.early_expiries.insert(expiry) {
                    continue;
                }
                self.reports.add(AnomalyKind::OffsetsExpiredEarly, [join_line, expiry, invoke_line, line], || {
                    format!(
                        "the coordinator expired offsets of group {group_name} (line {expiry}) while {process_name} \
                         was a member: it had joined {group_name} as {member} in generation {joined_generation} \
                         (line {join_line}), and in the same incarnation its commit of {label} offset {offset} \
                         for{generation_text}, invoked after the expiry (line {invoke_line}), was accepted (line \
                         {line}); a group's offsets expire only once it is empty (KIP-211)"
                    )
                });
            }
        }
    }
}
