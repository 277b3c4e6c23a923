//! JUnit XML: parses back (with quick-junit's reader) to the cases given, failures included, and
//! counts its elements right.

use reports::{JunitCase, JunitFailure};

fn cases() -> Vec<JunitCase> {
    vec![
        JunitCase {
            name: "offset-commit".into(),
            classname: "streamsim.offset-commit".into(),
            failure: None,
            time_ms: 1_500,
        },
        JunitCase {
            name: "offset-commit seed 1".into(),
            classname: "streamsim.offset-commit".into(),
            failure: Some(JunitFailure {
                message: "duplicate-delivery: 16, commit-regressed: 6 <&> \"quoted\"".into(),
                kind: "duplicate-delivery".into(),
                body: "streamsim run --scenario offset-commit --seed 1\n</failure><x>".into(),
            }),
            time_ms: 96,
        },
        JunitCase {
            name: "retention-eviction".into(),
            classname: "streamsim.retention-eviction".into(),
            failure: None,
            time_ms: 0,
        },
    ]
}

#[test]
fn junit_parses_back_to_the_cases() {
    let xml = reports::junit::render("streamsim fuzz", &cases());
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert_eq!(xml.matches("<testsuites").count(), 1, "{xml}");
    assert_eq!(xml.matches("<testsuite ").count(), 1, "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 3, "{xml}");
    assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
    assert!(!xml.contains("<x>"), "the failure body is escaped: {xml}");

    let report = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit XML");
    assert_eq!(report.tests, 3);
    assert_eq!(report.failures, 1);
    assert_eq!(report.test_suites.len(), 1);
    let suite = &report.test_suites[0];
    assert_eq!(suite.name.as_str(), "streamsim fuzz");
    assert_eq!(suite.tests, 3);
    assert_eq!(suite.failures, 1);
    let names: Vec<&str> = suite
        .test_cases
        .iter()
        .map(|case| case.name.as_str())
        .collect();
    assert_eq!(
        names,
        vec![
            "offset-commit",
            "offset-commit seed 1",
            "retention-eviction"
        ]
    );
    let failing = &suite.test_cases[1];
    assert_eq!(
        failing.classname.as_ref().map(|name| name.as_str()),
        Some("streamsim.offset-commit")
    );
    match &failing.status {
        quick_junit::TestCaseStatus::NonSuccess {
            kind,
            message,
            ty,
            description,
            ..
        } => {
            assert_eq!(*kind, quick_junit::NonSuccessKind::Failure);
            assert_eq!(
                message.as_ref().map(|m| m.as_str()),
                Some("duplicate-delivery: 16, commit-regressed: 6 <&> \"quoted\"")
            );
            assert_eq!(ty.as_ref().map(|t| t.as_str()), Some("duplicate-delivery"));
            assert_eq!(
                description.as_ref().map(|d| d.as_str()),
                Some("streamsim run --scenario offset-commit --seed 1\n</failure><x>")
            );
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(matches!(
        suite.test_cases[0].status,
        quick_junit::TestCaseStatus::Success { .. }
    ));
    assert_eq!(
        suite.test_cases[1].time,
        Some(std::time::Duration::from_millis(96))
    );
}

#[test]
fn junit_of_passing_cases_and_of_none() {
    let passing: Vec<JunitCase> = cases()
        .into_iter()
        .filter(|case| case.failure.is_none())
        .collect();
    let xml = reports::junit::render("streamsim", &passing);
    assert_eq!(xml.matches("<failure").count(), 0);
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit XML");
    assert_eq!((report.tests, report.failures), (2, 0));

    let xml = reports::junit::render("streamsim", &[]);
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit XML");
    assert_eq!(report.tests, 0);
    assert_eq!(report.test_suites.len(), 1);
}

#[test]
fn junit_is_deterministic() {
    // No timestamps or ids: the same cases give the same bytes.
    assert_eq!(
        reports::junit::render("s", &cases()),
        reports::junit::render("s", &cases())
    );
}

#[test]
fn the_suite_time_is_the_cases_sum_or_the_total_given() {
    let xml = reports::junit::render("s", &cases());
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit XML");
    let summed = Some(std::time::Duration::from_millis(1_500 + 96));
    assert_eq!(report.time, summed);
    assert_eq!(report.test_suites[0].time, summed);

    let xml = reports::junit::render_with_time("s", &cases(), 1_234);
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit XML");
    let given = Some(std::time::Duration::from_millis(1_234));
    assert_eq!(report.time, given);
    assert_eq!(report.test_suites[0].time, given);
    // Only the times differ.
    let without_times = |xml: &str| {
        let mut parts = xml.split(" time=\"");
        let mut text = parts.next().unwrap_or_default().to_string();
        for part in parts {
            text.push_str(part.split_once('"').expect("a closing quote").1);
        }
        text
    };
    assert_eq!(
        without_times(&xml),
        without_times(&reports::junit::render("s", &cases()))
    );
}
