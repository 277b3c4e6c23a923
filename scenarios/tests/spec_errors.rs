//! Scenario files with mistakes: every message names the field, the value and the line, in the
//! file's own words (`consumer-0`, `leader-of:payments/0`), never Rust's (`Consumer(0)`).

use scenarios::spec::Scenario;

/// A valid file to break: lines 1-18.
const BASE: &str = r#"name = "mine"
fault_phase_ms = 10000

[cluster]
brokers = 3

[[topic]]
name = "payments"
partitions = 2

[[producer]]
topic = "payments"
records = 100

[[consumer]]
topic = "payments"
group = "ledger"

"#;

fn error_of(text: &str) -> String {
    match Scenario::from_toml(text) {
        Ok(scenario) => panic!("accepted:\n{text}\nas {scenario:?}"),
        Err(error) => error,
    }
}

/// The message has every piece, and no Rust Debug spelling of a target.
fn assert_names(error: &str, pieces: &[&str]) {
    for piece in pieces {
        assert!(error.contains(piece), "{piece:?} missing from:\n{error}");
    }
    for debug in [
        "Broker(",
        "Consumer(",
        "Producer(",
        "LeaderOf",
        "FollowerOf",
        "SuccessorOf",
        "Controller",
    ] {
        assert!(
            !error.contains(debug),
            "Rust spelling {debug:?} in:\n{error}"
        );
    }
    println!("{error}\n");
}

#[test]
fn the_base_file_is_valid() {
    Scenario::from_toml(BASE).unwrap();
}

#[test]
fn sync_and_acks_read_in_every_spelling_and_print_back_as_they_were_read() {
    use scenarios::spec::{Acks, SyncPolicy};
    for (line, sync) in [
        ("sync = \"every-append\"", SyncPolicy::EveryAppend),
        ("sync = \"never\"", SyncPolicy::Never),
        ("sync = \"interval-ms:250\"", SyncPolicy::IntervalMs(250)),
    ] {
        let scenario = Scenario::from_toml(&BASE.replace("brokers = 3", line)).unwrap();
        assert_eq!(scenario.cluster.sync, sync);
        assert!(scenario.to_toml().contains(line), "{}", scenario.to_toml());
    }
    for (lines, acks, printed) in [
        ("acks = \"all\"", Acks::All, "acks = \"all\""),
        ("acks = -1", Acks::All, "acks = \"all\""),
        (
            "acks = 1\nidempotence = false\nmax_in_flight = 1",
            Acks::Leader,
            "acks = 1\n",
        ),
        (
            "acks = \"1\"\nidempotence = false\nmax_in_flight = 1",
            Acks::Leader,
            "acks = 1\n",
        ),
        (
            "acks = 0\nidempotence = false\nmax_in_flight = 1",
            Acks::None,
            "acks = 0\n",
        ),
    ] {
        let scenario = Scenario::from_toml(&BASE.replace("records = 100", lines)).unwrap();
        assert_eq!(scenario.producers[0].acks, acks);
        let shown = scenario.to_toml();
        assert!(shown.contains(printed), "{shown}");
        assert_eq!(Scenario::from_toml(&shown).unwrap(), scenario);
    }
}

#[test]
fn a_producer_without_a_topic_says_the_topic_is_missing_at_its_table() {
    let text = BASE.replace("[[producer]]\ntopic = \"payments\"\n", "[[producer]]\n");
    let error = error_of(&text);
    assert_names(
        &error,
        &["producer[0].topic", "missing", "line 11,", "'payments'"],
    );
    assert!(!error.contains("no topic named ''"), "{error}");
}

#[test]
fn a_consumer_with_an_unknown_topic_names_it_and_its_line() {
    let text = BASE.replace(
        "[[consumer]]\ntopic = \"payments\"",
        "[[consumer]]\ntopic = \"paymnets\"",
    );
    let error = error_of(&text);
    assert_names(
        &error,
        &[
            "consumer[0].topic",
            "no topic named 'paymnets'",
            "line 16,",
            "'payments'",
        ],
    );
}

#[test]
fn a_target_that_does_not_exist_is_named_as_the_file_spells_it_at_its_line() {
    let text = format!(
        "{BASE}[[fault]]\nat_ms = 1000\nkind = \"crash\"\ntarget = \"broker-1\"\n\n\
         [[fault]]\nat_ms = 2000\nkind = \"pause\"\ntarget = \"consumer-0\"\n\n\
         [[fault]]\nat_ms = 3000\nkind = \"crash\"\ntarget = \"broker-9\"\n"
    );
    let error = error_of(&text);
    assert_names(
        &error,
        &[
            "fault[2].target: broker-9 does not exist (the scenario has brokers 1..=3)",
            "line 32,",
            "target = \"broker-9\"",
        ],
    );
}

#[test]
fn every_kind_of_missing_target_says_what_the_scenario_has() {
    for (target, line_piece, expected) in [
        ("consumer-1", "consumer-1", "consumer-1 does not exist (the scenario has one consumer, consumer-0)"),
        ("producer-3", "producer-3", "producer-3 does not exist (the scenario has one producer, producer-0)"),
        (
            "leader-of:orders/0",
            "leader-of:orders/0",
            "leader-of:orders/0 does not exist (no topic named 'orders'; the scenario has 'payments')",
        ),
    ] {
        let text = format!("{BASE}[[fault]]\nat_ms = 1000\nkind = \"crash\"\ntarget = \"{target}\"\n");
        let error = error_of(&text);
        assert_names(&error, &["fault[0].target", expected, "line 22,", line_piece]);
    }
    let text = format!(
        "{BASE}[[fault]]\nat_ms = 1000\nkind = \"clog\"\nfrom = \"leader-of:payments/0\"\nto = \"producer-1\"\n"
    );
    let error = error_of(&text);
    assert_names(
        &error,
        &["fault[0].to: producer-1 does not exist", "line 23,"],
    );
    let text = format!(
        "{BASE}[[fault]]\nat_ms = 1000\nkind = \"partition\"\nside = [\"broker-1\",\n  \"consumer-4\"]\n"
    );
    let error = error_of(&text);
    assert_names(
        &error,
        &["fault[0].side[1]: consumer-4 does not exist", "line 23,"],
    );
}

#[test]
fn an_unknown_field_in_a_fault_points_at_the_field_not_the_table() {
    let text = format!(
        "{BASE}[[fault]]\nat_ms = 1000\nkind = \"crash\"\ntarget = \"broker-1\"\ncolor = \"red\"\n"
    );
    let error = error_of(&text);
    assert_names(
        &error,
        &[
            "fault[0].color",
            "unknown field `color`",
            "crash",
            "line 23,",
        ],
    );
    // A field of another kind: it says which kinds have it.
    let text = format!(
        "{BASE}[[fault]]\nat_ms = 1000\nkind = \"crash\"\ntarget = \"broker-1\"\ntopic = \"payments\"\n"
    );
    let error = error_of(&text);
    assert_names(
        &error,
        &[
            "fault[0].topic",
            "unknown field `topic`",
            "retention",
            "line 23,",
        ],
    );
    // Before the kind, too.
    let text = format!(
        "{BASE}[[fault]]\ncolour = 1\nat_ms = 1000\nkind = \"crash\"\ntarget = \"broker-1\"\n"
    );
    let error = error_of(&text);
    assert_names(&error, &["fault[0].colour", "line 20,"]);
}

#[test]
fn a_fault_kind_that_does_not_exist_or_is_missing_is_named() {
    let text = format!("{BASE}[[fault]]\nat_ms = 1000\nkind = \"melt\"\ntarget = \"broker-1\"\n");
    let error = error_of(&text);
    assert_names(
        &error,
        &[
            "fault[0].kind",
            "'melt' is not a fault kind",
            "crash",
            "line 21,",
        ],
    );
    let text = format!("{BASE}[[fault]]\nat_ms = 1000\ntarget = \"broker-1\"\n");
    let error = error_of(&text);
    assert_names(&error, &["fault[0].kind", "missing", "line 19,"]);
    let text = format!("{BASE}[[fault]]\nat_ms = 1000\nkind = \"clog\"\nfrom = \"broker-1\"\n");
    let error = error_of(&text);
    assert_names(
        &error,
        &[
            "fault[0].to",
            "missing: a clog fault needs `to`",
            "line 19,",
        ],
    );
}

#[test]
fn a_bad_value_in_a_fault_points_at_the_value() {
    let text = format!("{BASE}[[fault]]\nat_ms = 1000\nkind = \"crash\"\ntarget = \"brokr-1\"\n");
    let error = error_of(&text);
    assert_names(&error, &["fault[0].target", "'brokr-1'", "line 22,"]);
    let text = format!(
        "{BASE}[[fault]]\nat_ms = 1000\nkind = \"expire-pids\"\ntopic = \"payments\"\npartition = \"zero\"\n"
    );
    let error = error_of(&text);
    assert_names(&error, &["fault[0].partition", "\"zero\"", "line 23,"]);
    let text = format!("{BASE}[[fault]]\nat_ms = 12000\nkind = \"crash\"\ntarget = \"broker-1\"\n");
    let error = error_of(&text);
    assert_names(
        &error,
        &[
            "fault[0].at_ms: 12000 is not inside the fault phase",
            "line 20,",
        ],
    );
    let text = format!("{BASE}[[fault]]\nat_ms = 100\nkind = \"packet-loss\"\nrate = 1.5\n");
    let error = error_of(&text);
    assert_names(&error, &["fault[0].rate: 1.5 is not in [0, 1]", "line 22,"]);
    let text =
        format!("{BASE}[[fault]]\nat_ms = 100\nkind = \"latency\"\nmin_ms = 50\nmax_ms = 10\n");
    let error = error_of(&text);
    assert_names(
        &error,
        &["fault[0].min_ms: 50 is not below max_ms (10)", "line 22,"],
    );
    let text = format!(
        "{BASE}[[fault]]\nat_ms = 100\nkind = \"close\"\ntarget = \"leader-of:payments/1\"\n"
    );
    let error = error_of(&text);
    assert_names(
        &error,
        &[
            "fault[0].target: leader-of:payments/1 is not a client",
            "line 22,",
        ],
    );
    let text = format!(
        "{BASE}[[fault]]\nat_ms = 100\nkind = \"retention\"\ntarget = \"broker-2\"\ntopic = \"orders\"\npartition = 0\noffset = 10\n"
    );
    let error = error_of(&text);
    assert_names(
        &error,
        &["fault[0].topic: no topic named 'orders'", "line 23,"],
    );
}

#[test]
fn cluster_topic_and_client_values_name_the_field_value_and_line() {
    for (from, to, pieces) in [
        (
            "brokers = 3",
            "brokers = 12",
            &["cluster.brokers: 12 is not in 1..=9", "line 5,"][..],
        ),
        (
            "brokers = 3",
            "brokers = 3\nreplication_factor = 4",
            &[
                "cluster.replication_factor: 4 is not in 1..=brokers (brokers = 3)",
                "line 6,",
            ],
        ),
        (
            "brokers = 3",
            "brokres = 3",
            &["cluster.brokres", "unknown field `brokres`", "line 5,"],
        ),
        (
            "partitions = 2",
            "partitions = 0",
            &["topic[0].partitions: 0 is not in 1..=64", "line 9,"],
        ),
        (
            "partitions = 2",
            "partitions = \"many\"",
            &["topic[0].partitions", "\"many\"", "line 9,"],
        ),
        (
            "partitions = 2",
            "",
            &["topic[0]", "missing field `partitions`", "line 7,"],
        ),
        (
            "records = 100",
            "records = 100\nrate_per_sec = 0",
            &[
                "producer[0].rate_per_sec: 0 is not in 1..=100000",
                "line 14,",
            ],
        ),
        (
            "records = 100",
            "keys = \"keyed:0\"",
            &["producer[0].keys", "'keyed:0'", "line 13,"],
        ),
        (
            "records = 100",
            "keys = \"by-user\"",
            &["producer[0].keys", "'by-user'", "line 13,"],
        ),
        (
            "records = 100",
            "start_ms = 20000",
            &[
                "producer[0].start_ms: 20000 is not inside the fault phase",
                "line 13,",
            ],
        ),
        (
            "group = \"ledger\"",
            "member = 2\nmembers = 2",
            &["consumer[0].member: 2 is not below members (2)", "line 17,"],
        ),
        (
            "group = \"ledger\"",
            "fetch_buffer_records = 0",
            &["consumer[0].fetch_buffer_records: 0 is below 1", "line 17,"],
        ),
        (
            "group = \"ledger\"",
            "commit = \"sometimes\"",
            &["consumer[0].commit", "sometimes", "line 17,"],
        ),
        (
            "brokers = 3",
            "sync = \"sometimes\"",
            &[
                "cluster.sync",
                "'sometimes' is not \"every-append\", \"never\" or \"interval-ms:N\"",
                "line 5,",
            ],
        ),
        (
            "brokers = 3",
            "sync = \"interval-ms:0\"",
            &["cluster.sync", "'interval-ms:0'", "(N >= 1)", "line 5,"],
        ),
        (
            "brokers = 3",
            "sync_each_append = false",
            &["cluster.sync_each_append", "unknown field", "line 5,"],
        ),
        (
            "brokers = 3",
            "brokers = 3\nreplica_fetch_max_wait_ms = 1000",
            &[
                "cluster.replica_fetch_max_wait_ms: 1000 is not below the brokers' request timeout",
                "line 6,",
            ],
        ),
        (
            "brokers = 3",
            "brokers = 3\nreplica_fetch_bytes_max = 0",
            &["cluster.replica_fetch_bytes_max: 0 is below 1", "line 6,"],
        ),
        (
            "records = 100",
            "acks = 1",
            &[
                "producer[0].acks: 1 needs idempotence = false",
                "idempotence requires acks = \"all\"",
                "line 13,",
            ],
        ),
        (
            "records = 100",
            "acks = 0\nidempotence = true",
            &["producer[0].acks: 0 needs idempotence = false", "line 13,"],
        ),
        (
            "records = 100",
            "acks = 2",
            &["producer[0].acks", "'2' is not \"all\", 1 or 0", "line 13,"],
        ),
        (
            "records = 100",
            "acks = 1\nidempotence = false",
            &[
                "producer[0].max_in_flight: 5 needs idempotence",
                "use 1",
                "line 11,",
            ],
        ),
        (
            "records = 100",
            "max_in_flight = 6",
            &["producer[0].max_in_flight: 6 is not in 1..=5", "line 13,"],
        ),
        (
            "records = 100",
            "request_timeout_ms = 3000\ndelivery_timeout_ms = 2000",
            &[
                "producer[0].delivery_timeout_ms: 2000 is below linger_ms + request_timeout_ms \
                 (5 + 3000)",
                "line 14,",
            ],
        ),
        (
            "group = \"ledger\"",
            "fetch_max_wait_ms = 1000",
            &[
                "consumer[0].fetch_max_wait_ms: 1000 is not below the consumer's request timeout",
                "line 17,",
            ],
        ),
        (
            "fault_phase_ms = 10000",
            "fault_phase_ms = 10000\nliveness_phase_ms = 10",
            &["liveness_phase_ms: 10 is below 1000", "line 3,"],
        ),
    ] {
        assert!(BASE.contains(from), "{from}");
        let error = error_of(&BASE.replacen(from, to, 1));
        assert_names(&error, pieces);
    }
}

#[test]
fn a_second_topic_with_the_same_name_is_refused_at_its_name() {
    let text = BASE.replace(
        "[[producer]]",
        "[[topic]]\nname = \"payments\"\npartitions = 1\n\n[[producer]]",
    );
    let error = error_of(&text);
    assert_names(
        &error,
        &[
            "topic[1].name: 'payments' is already the name of topic[0]",
            "line 12,",
        ],
    );
}

#[test]
fn a_syntax_error_names_its_line() {
    let error = error_of(&BASE.replace("records = 100", "records = = 100"));
    assert_names(&error, &["line 13,"]);
}

#[test]
fn without_a_file_the_message_still_names_field_and_value() {
    let scenario = Scenario::from_toml(BASE)
        .unwrap()
        .fault(scenarios::spec::crash(scenarios::spec::Target::Consumer(5)).at_ms(100));
    let error = scenario.validate().unwrap_err();
    assert_eq!(
        error,
        "fault[0].target: consumer-5 does not exist (the scenario has one consumer, consumer-0)"
    );
}

#[test]
fn top_level_mistakes_name_the_field() {
    let error = error_of(&BASE.replace("name = \"mine\"\n", ""));
    assert_names(&error, &["name: missing field `name`"]);
    assert!(
        !error.contains("line"),
        "the file has no line to point at:\n{error}"
    );
    let error = error_of(&BASE.replace("name = \"mine\"", "name = 5"));
    assert_names(&error, &["name", "integer `5`", "line 1,"]);
    let error = error_of(&BASE.replace("fault_phase_ms = 10000", "fault_phase = 10000"));
    assert_names(
        &error,
        &["fault_phase: unknown field `fault_phase`", "line 2,"],
    );
    // After a [[consumer]] header a key belongs to that consumer.
    let error = error_of(&format!("{BASE}fault = 3\n"));
    assert_names(
        &error,
        &["consumer[0].fault: unknown field `fault`", "line 19,"],
    );
    let error = error_of(&BASE.replace(
        "fault_phase_ms = 10000",
        "fault_phase_ms = 10000\nfault = 3",
    ));
    assert_names(&error, &["fault: invalid type: integer `3`", "line 3,"]);
    let error = error_of("name = \"bare\"\n");
    assert_names(
        &error,
        &["topic: missing: a scenario needs at least one [[topic]] table"],
    );
    let error = error_of("");
    assert_names(&error, &["name: missing field `name`"]);
}

#[test]
fn a_personality_that_does_not_exist_names_the_field_and_the_allowed_ones() {
    let text = BASE.replace(
        "topic = \"payments\"\nrecords = 100\n",
        "topic = \"payments\"\nrecords = 100\npersonality = \"jav\"\n",
    );
    let error = error_of(&text);
    assert_names(
        &error,
        &[
            "producer[0].personality",
            "'jav' is not a client personality",
            "java, librdkafka, franz-go, streamsim",
            "line 14,",
        ],
    );
    let text = BASE.replace(
        "group = \"ledger\"\n",
        "group = \"ledger\"\npersonality = 3\n",
    );
    let error = error_of(&text);
    assert_names(
        &error,
        &["consumer[0].personality", "expected a string", "line 18,"],
    );
    let text = BASE.replace(
        "group = \"ledger\"\n",
        "group = \"ledger\"\npersonality = \"franz-go\"\n",
    );
    let scenario = Scenario::from_toml(&text).unwrap();
    assert_eq!(
        scenario.consumers[0].personality,
        scenarios::spec::Personality::FranzGo
    );
    assert_eq!(
        scenario.producers[0].personality,
        scenarios::spec::Personality::Java,
        "the default"
    );
}
