//! JUnit XML for CI systems (GitLab, Jenkins, GitHub test reporters): one `<testsuite>` of
//! test cases, written with the `quick-junit` crate.
//!
//! A campaign passes one case per scenario and one per failing seed; a case with a
//! [`JunitFailure`] becomes `<testcase><failure message=".." type="..">body</failure></testcase>`.
//! No timestamp, host name or id is written, so the same cases give the same bytes. The only
//! values that come from a clock are the `time` attributes: each case's `time_ms`, and the suite's
//! and the document's total (see [`render`] and [`render_with_time`]).

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

/// One test case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JunitCase {
    pub name: String,
    /// The group the case belongs to (CI tools show it as the case's class), e.g. the scenario.
    pub classname: String,
    /// None: the case passed.
    pub failure: Option<JunitFailure>,
    pub time_ms: u64,
}

/// Why a case failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JunitFailure {
    /// One line: what failed (e.g. the anomaly counts).
    pub message: String,
    /// The failure's type, e.g. the first anomaly kind or `run-failed`.
    pub kind: String,
    /// The details: the repro command, explanations.
    pub body: String,
}

/// The cases as a JUnit XML document with one test suite named `suite_name`; the `time` of the
/// suite and of the document is the sum of the cases' times (when some cases sum up others, pass
/// the real total to [`render_with_time`] instead).
///
/// Control characters other than tab and line breaks cannot be written in XML 1.0; quick-junit
/// drops them (and ANSI escapes). Everything else is escaped as XML requires.
pub fn render(suite_name: &str, cases: &[JunitCase]) -> String {
    let total_ms = cases
        .iter()
        .fold(0u64, |total, case| total.saturating_add(case.time_ms));
    render_with_time(suite_name, cases, total_ms)
}

/// [`render`], with the `time` of the suite and of the document given: for a campaign, its wall
/// time (its cases overlap: a scenario's case has its seeds' summed time, and each failing seed is
/// a case too, so their sum counts failing seeds twice).
pub fn render_with_time(suite_name: &str, cases: &[JunitCase], total_ms: u64) -> String {
    let mut suite = TestSuite::new(suite_name);
    for case in cases {
        let status = match &case.failure {
            None => TestCaseStatus::success(),
            Some(failure) => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status
                    .set_message(failure.message.as_str())
                    .set_type(failure.kind.as_str())
                    .set_description(failure.body.as_str());
                status
            }
        };
        let mut test_case = TestCase::new(case.name.as_str(), status);
        test_case
            .set_classname(case.classname.as_str())
            .set_time(Duration::from_millis(case.time_ms));
        suite.add_test_case(test_case);
    }
    suite.set_time(Duration::from_millis(total_ms));
    let mut report = Report::new(suite_name);
    report
        .set_time(Duration::from_millis(total_ms))
        .add_test_suite(suite);
    // quick-junit serializes into memory here; only a failing writer makes it fail.
    report
        .to_string()
        .expect("serializing JUnit XML into a String cannot fail")
}
