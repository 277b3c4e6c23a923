//! Unit tests of the scenario model, its builder and its TOML form.

use super::builder::timed;
use super::*;

fn sample() -> Scenario {
    Scenario::named("sample")
        .topic("orders", 2)
        .producer(ProducerSpec::new("orders").records(100).keyed(4))
        .consumer(ConsumerSpec::new("orders").manual_commit(5).rack("rack-2"))
        .fault(crash(broker(1)).at_ms(1_000).for_ms(2_000))
        .fault(grow("orders", 4).at_ms(3_000))
        .fault(retention(follower_of("orders", 0), "orders", 0, 50).at_ms(4_000))
        .fault(
            timed(Fault::Latency {
                min_ms: 1,
                max_ms: 50,
            })
            .at_ms(500),
        )
}

#[test]
fn toml_round_trips() {
    let scenario = sample();
    scenario.validate().unwrap();
    let text = scenario.to_toml();
    let back = Scenario::from_toml(&text).unwrap();
    assert_eq!(back, scenario, "{text}");
}

#[test]
fn a_broken_file_names_the_line_and_field() {
    let text = "name = \"x\"\n[[topic]]\nname = \"t\"\npartitions = 1\n[cluster]\nbrokers = 3\nbrokres = 4\n";
    let error = Scenario::from_toml(text).unwrap_err();
    assert!(error.contains("line 7"), "{error}");
    assert!(error.contains("brokres"), "{error}");

    let text = "name = \"x\"\n[[topic]]\nname = \"t\"\npartitions = \"many\"\n";
    let error = Scenario::from_toml(text).unwrap_err();
    assert!(error.contains("line 4"), "{error}");
    assert!(error.contains("partitions"), "{error}");
}

#[test]
fn a_fault_with_a_typo_names_the_line_and_the_field() {
    let head = "name = \"x\"\n[[topic]]\nname = \"t\"\npartitions = 1\n";
    let error = Scenario::from_toml(&format!(
        "{head}[[fault]]\nat_ms = 5\nkind = \"crash\"\ntarget = \"broker-1\"\ncolor = \"red\"\n"
    ))
    .unwrap_err();
    // The field's own line, not the [[fault]] header's.
    assert!(
        error.contains("line 9,") && error.contains("fault[0].color"),
        "{error}"
    );
    let error = Scenario::from_toml(&format!(
        "{head}[[fault]]\nat_ms = 5\nkind = \"crash\"\ntarget = \"brokr-1\"\n"
    ))
    .unwrap_err();
    assert!(
        error.contains("line 8,") && error.contains("fault[0].target") && error.contains("brokr-1"),
        "{error}"
    );
    let error =
        Scenario::from_toml(&format!("{head}[[fault]]\nat_ms = 5\nkind = \"melt\"\n")).unwrap_err();
    assert!(error.contains("melt"), "{error}");
}

#[test]
fn targets_and_key_modes_have_a_string_form() {
    for target in [
        broker(2),
        Target::Controller,
        Target::Producer(0),
        Target::Consumer(3),
        leader_of("orders", 1),
        follower_of("a/b", 0),
    ] {
        let text = String::from(target.clone());
        assert_eq!(Target::try_from(text).unwrap(), target);
    }
    assert!(Target::try_from("leader-of:orders".to_string()).is_err());
    assert_eq!(
        KeyMode::try_from("keyed:7".to_string()),
        Ok(KeyMode::Keyed(7))
    );
    assert!(KeyMode::try_from("keyed:x".to_string()).is_err());
}

#[test]
fn targets_display_as_files_spell_them() {
    assert_eq!(Target::Consumer(0).to_string(), "consumer-0");
    assert_eq!(Target::Producer(1).to_string(), "producer-1");
    assert_eq!(broker(3).to_string(), "broker-3");
    assert_eq!(Target::Controller.to_string(), "controller");
    assert_eq!(leader_of("payments", 0).to_string(), "leader-of:payments/0");
    assert_eq!(
        follower_of("payments", 1).to_string(),
        "follower-of:payments/1"
    );
    assert_eq!(
        targets_to_string(&[broker(1), Target::Producer(0)]),
        "[broker-1, producer-0]"
    );
}

/// One fault of every kind, with every optional field set.
fn every_kind() -> Vec<Fault> {
    let target = broker(1);
    vec![
        Fault::Crash {
            target: target.clone(),
            tail: Tail::Zeros,
        },
        Fault::WipeDisk {
            target: target.clone(),
        },
        Fault::IsolateFromController {
            target: target.clone(),
        },
        Fault::Close {
            target: Target::Consumer(0),
        },
        Fault::Pause {
            target: target.clone(),
        },
        Fault::Isolate {
            target: target.clone(),
        },
        Fault::IsolateFromCluster {
            target: target.clone(),
        },
        Fault::Clog {
            from: target.clone(),
            to: Target::Producer(0),
        },
        Fault::Partition {
            side: vec![target.clone(), Target::Controller],
        },
        Fault::PacketLoss { rate: 0.5 },
        Fault::Latency {
            min_ms: 1,
            max_ms: 5,
        },
        Fault::Disk {
            target: target.clone(),
            read_error_rate: 0.1,
            write_error_rate: 0.2,
            latency_ms: 3,
        },
        Fault::Retention {
            target: target.clone(),
            topic: "orders".into(),
            partition: 0,
            offset: 7,
            min_age_ms: 9,
        },
        Fault::TruncateFollower {
            target,
            topic: "orders".into(),
            partition: 1,
        },
        Fault::ExpirePids {
            topic: "orders".into(),
            partition: 0,
            idle_ms: 4,
        },
        Fault::AddPartitions {
            topic: "orders".into(),
            count: 4,
        },
    ]
}

#[test]
fn the_fault_kinds_table_matches_the_fault_type() {
    let faults = every_kind();
    assert_eq!(faults.len(), FAULT_KINDS.len());
    for fault in faults {
        // What a file holds for this fault: kind and fields, as serde writes them.
        let value = serde_json::to_value(&fault).unwrap();
        let object = value.as_object().unwrap();
        let kind = object["kind"].as_str().unwrap();
        let (_, required, optional) = FAULT_KINDS
            .iter()
            .find(|(name, _, _)| *name == kind)
            .unwrap_or_else(|| panic!("{kind} is not in FAULT_KINDS"));
        let mut written: Vec<&str> = object
            .keys()
            .map(String::as_str)
            .filter(|key| *key != "kind")
            .collect();
        written.sort();
        let mut listed: Vec<&str> = required.iter().chain(optional.iter()).copied().collect();
        listed.sort();
        assert_eq!(written, listed, "{kind}");
        // And it reads back, through the file's own path.
        let timed = timed(fault.clone()).at_ms(10).for_ms(20);
        let text = toml::to_string(&timed).unwrap();
        let back: TimedFault = toml::from_str(&text).unwrap();
        assert_eq!(back, timed, "{text}");
    }
}

#[test]
fn optional_fault_fields_take_their_defaults() {
    let back: TimedFault = toml::from_str(
        "at_ms = 1\nkind = \"retention\"\ntarget = \"broker-1\"\ntopic = \"t\"\npartition = 0\noffset = 5\n",
    )
    .unwrap();
    assert_eq!(
        back.fault,
        Fault::Retention {
            target: broker(1),
            topic: "t".into(),
            partition: 0,
            offset: 5,
            min_age_ms: RETENTION_MIN_AGE_MS_DEFAULT
        }
    );
    let back: TimedFault =
        toml::from_str("at_ms = 1\nkind = \"expire-pids\"\ntopic = \"t\"\npartition = 0\n")
            .unwrap();
    assert_eq!(back.fault, expire_pids("t", 0).fault);
}

#[test]
fn validation_names_the_field() {
    let mut scenario = sample();
    scenario.faults[0].at_ms = 99_999;
    let error = scenario.validate().unwrap_err();
    assert!(error.starts_with("fault[0].at_ms"), "{error}");
    let mut scenario = sample();
    scenario.producers[0].topic = "nope".into();
    assert!(scenario
        .validate()
        .unwrap_err()
        .starts_with("producer[0].topic"));
    let scenario = sample().cluster(|c| c.replication_factor = 5);
    assert!(scenario
        .validate()
        .unwrap_err()
        .starts_with("cluster.replication_factor"));
}
