//! The TOML form: `to_toml`/`from_toml` and the per-kind `[[fault]]` field table.

use super::errors::{check_fault_tables, locate, render_at, render_serde_error};
use super::*;

/// The keys every `[[fault]]` table may have, whatever its kind.
pub const FAULT_COMMON_FIELDS: &[&str] = &["at_ms", "for_ms", "when", "on", "within_ms", "kind"];

/// Each fault kind as files spell it, with its required and its optional fields.
pub const FAULT_KINDS: &[(&str, &[&str], &[&str])] = &[
    ("crash", &["target"], &["tail"]),
    ("wipe-disk", &["target"], &[]),
    ("isolate-from-controller", &["target"], &[]),
    ("close", &["target"], &[]),
    ("pause", &["target"], &[]),
    ("isolate", &["target"], &[]),
    ("isolate-from-cluster", &["target"], &[]),
    ("clog", &["from", "to"], &[]),
    ("partition", &["side"], &[]),
    ("packet-loss", &["rate"], &[]),
    ("latency", &["min_ms", "max_ms"], &[]),
    (
        "disk",
        &["target"],
        &["read_error_rate", "write_error_rate", "latency_ms"],
    ),
    (
        "retention",
        &["target", "topic", "partition", "offset"],
        &["min_age_ms"],
    ),
    ("truncate-follower", &["target", "topic", "partition"], &[]),
    ("expire-pids", &["topic", "partition"], &["idle_ms"]),
    ("add-partitions", &["topic", "count"], &[]),
];

pub(super) fn fault_kind_names() -> String {
    let names: Vec<&str> = FAULT_KINDS.iter().map(|(kind, _, _)| *kind).collect();
    names.join(", ")
}

/// What is wrong with a `[[fault]]` table's keys for its kind: the key at fault (None: the
/// kind) and the message. `present` lists the table's keys.
pub(super) fn fault_keys_problem(kind: &str, present: &[&str]) -> Option<(Option<String>, String)> {
    let Some((_, required, optional)) = FAULT_KINDS.iter().find(|(name, _, _)| *name == kind)
    else {
        return Some((
            None,
            format!(
                "'{kind}' is not a fault kind (one of {})",
                fault_kind_names()
            ),
        ));
    };
    let fields: Vec<&str> = required.iter().chain(optional.iter()).copied().collect();
    for key in present {
        if !FAULT_COMMON_FIELDS.contains(key) && !fields.contains(key) {
            let others: Vec<&str> = FAULT_KINDS
                .iter()
                .filter(|(_, required, optional)| required.contains(key) || optional.contains(key))
                .map(|(name, _, _)| *name)
                .collect();
            let belongs = if others.is_empty() {
                "no fault kind has it".to_string()
            } else {
                format!("it belongs to {}", others.join(", "))
            };
            return Some((
                Some(key.to_string()),
                format!(
                    "unknown field `{key}` for a {kind} fault ({belongs}; a {kind} fault has {}, \
                     beside at_ms, for_ms, when, on, within_ms and kind)",
                    fields.join(", ")
                ),
            ));
        }
    }
    for key in *required {
        if !present.contains(key) {
            return Some((
                Some(key.to_string()),
                format!("missing: a {kind} fault needs `{key}`"),
            ));
        }
    }
    None
}

/// A `[[fault]]` table as read from a file: every field any kind has.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FaultTable {
    at_ms: u64,
    for_ms: Option<u64>,
    when: Option<Trigger>,
    on: Option<EventFilter>,
    within_ms: Option<u64>,
    kind: String,
    target: Option<Target>,
    tail: Option<Tail>,
    from: Option<Target>,
    to: Option<Target>,
    side: Option<Vec<Target>>,
    rate: Option<f64>,
    min_ms: Option<u64>,
    max_ms: Option<u64>,
    read_error_rate: Option<f64>,
    write_error_rate: Option<f64>,
    latency_ms: Option<u64>,
    topic: Option<String>,
    partition: Option<u32>,
    offset: Option<u64>,
    min_age_ms: Option<u64>,
    idle_ms: Option<u64>,
    count: Option<u32>,
}

impl TryFrom<FaultTable> for TimedFault {
    type Error = String;
    fn try_from(table: FaultTable) -> Result<TimedFault, String> {
        let mut present = Vec::new();
        let mut note = |name: &'static str, is_set: bool| {
            if is_set {
                present.push(name);
            }
        };
        note("target", table.target.is_some());
        note("tail", table.tail.is_some());
        note("from", table.from.is_some());
        note("to", table.to.is_some());
        note("side", table.side.is_some());
        note("rate", table.rate.is_some());
        note("min_ms", table.min_ms.is_some());
        note("max_ms", table.max_ms.is_some());
        note("read_error_rate", table.read_error_rate.is_some());
        note("write_error_rate", table.write_error_rate.is_some());
        note("latency_ms", table.latency_ms.is_some());
        note("topic", table.topic.is_some());
        note("partition", table.partition.is_some());
        note("offset", table.offset.is_some());
        note("min_age_ms", table.min_age_ms.is_some());
        note("idle_ms", table.idle_ms.is_some());
        note("count", table.count.is_some());
        if let Some((key, message)) = fault_keys_problem(&table.kind, &present) {
            return Err(match key {
                Some(key) => format!("{key}: {message}"),
                None => format!("kind: {message}"),
            });
        }
        // The kind and its required fields are there (checked just above).
        let missing = || "a required field is missing".to_string();
        let target = || table.target.clone().ok_or_else(missing);
        let topic = || table.topic.clone().ok_or_else(missing);
        let partition = || table.partition.ok_or_else(missing);
        let fault = match table.kind.as_str() {
            "crash" => Fault::Crash {
                target: target()?,
                tail: table.tail.unwrap_or_default(),
            },
            "wipe-disk" => Fault::WipeDisk { target: target()? },
            "isolate-from-controller" => Fault::IsolateFromController { target: target()? },
            "close" => Fault::Close { target: target()? },
            "pause" => Fault::Pause { target: target()? },
            "isolate" => Fault::Isolate { target: target()? },
            "isolate-from-cluster" => Fault::IsolateFromCluster { target: target()? },
            "clog" => Fault::Clog {
                from: table.from.clone().ok_or_else(missing)?,
                to: table.to.clone().ok_or_else(missing)?,
            },
            "partition" => Fault::Partition {
                side: table.side.clone().ok_or_else(missing)?,
            },
            "packet-loss" => Fault::PacketLoss {
                rate: table.rate.ok_or_else(missing)?,
            },
            "latency" => Fault::Latency {
                min_ms: table.min_ms.ok_or_else(missing)?,
                max_ms: table.max_ms.ok_or_else(missing)?,
            },
            "disk" => Fault::Disk {
                target: target()?,
                read_error_rate: table.read_error_rate.unwrap_or(0.0),
                write_error_rate: table.write_error_rate.unwrap_or(0.0),
                latency_ms: table.latency_ms.unwrap_or(0),
            },
            "retention" => Fault::Retention {
                target: target()?,
                topic: topic()?,
                partition: partition()?,
                offset: table.offset.ok_or_else(missing)?,
                min_age_ms: table.min_age_ms.unwrap_or(RETENTION_MIN_AGE_MS_DEFAULT),
            },
            "truncate-follower" => Fault::TruncateFollower {
                target: target()?,
                topic: topic()?,
                partition: partition()?,
            },
            "expire-pids" => Fault::ExpirePids {
                topic: topic()?,
                partition: partition()?,
                idle_ms: table.idle_ms.unwrap_or(EXPIRE_IDLE_MS_DEFAULT),
            },
            "add-partitions" => Fault::AddPartitions {
                topic: topic()?,
                count: table.count.ok_or_else(missing)?,
            },
            other => return Err(format!("kind: '{other}' is not a fault kind")),
        };
        Ok(TimedFault {
            at_ms: table.at_ms,
            for_ms: table.for_ms,
            when: table.when,
            on: table.on,
            within_ms: table.within_ms,
            fault,
        })
    }
}

impl Scenario {
    /// Parses a scenario file. The error names the field, its value and its line (with the
    /// line itself, the value marked), in the file's own words: `line 14, column 10:
    /// fault[2].target: broker-9 does not exist (the scenario has brokers 1..=3)`.
    pub fn from_toml(text: &str) -> Result<Scenario, String> {
        let document = match toml::de::DeTable::parse(text) {
            Ok(document) => document,
            Err(error) => {
                return Err(render_at(text, error.span(), None, error.message()));
            }
        };
        let root = document.get_ref();
        // The faults' keys are checked against their kind first, on the parsed document, so a
        // bad key is pointed at where it is; it is reported unless the file goes wrong earlier.
        let fault_problem = check_fault_tables(root);
        let parsed: Result<Scenario, toml::de::Error> = toml::from_str(text);
        let serde_problem = parsed.as_ref().err();
        match (fault_problem, serde_problem) {
            (Some(problem), Some(error))
                if error
                    .span()
                    .is_some_and(|span| span.start < problem.table_start) =>
            {
                return Err(render_serde_error(text, root, error));
            }
            (Some(problem), _) => {
                return Err(render_at(
                    text,
                    Some(problem.span),
                    Some(&problem.field),
                    &problem.message,
                ));
            }
            (None, Some(error)) => return Err(render_serde_error(text, root, error)),
            (None, None) => {}
        }
        let scenario = parsed.map_err(|error| error.to_string())?;
        if let Err(invalid) = scenario.check() {
            let span = locate(root, &invalid.field);
            return Err(render_at(
                text,
                span,
                Some(&invalid.field),
                &invalid.message,
            ));
        }
        Ok(scenario)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a scenario serializes to TOML")
    }
}
