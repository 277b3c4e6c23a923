//! The HTML report: well-formed, self-contained, one SVG timeline with a lane per partition,
//! anomaly markers exactly when there are anomalies, every text escaped, bounded size.

mod common;

use common::{report_with_history, with_anomaly};

/// Elements the report may contain. Anything else (a `<script>` from a history value, say) means
/// text went out unescaped.
const ALLOWED_ELEMENTS: &[&str] = &[
    "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "span", "table",
    "tr", "th", "td", "section", "pre", "code", "p", "ul", "ol", "li", "a", "mark", "svg", "g",
    "rect", "line", "text", "path", "circle",
];
const VOID_ELEMENTS: &[&str] = &["meta"];

/// Checks that tags nest and close properly and names only allowed elements; returns the element
/// names in document order.
fn parse_elements(html: &str) -> Vec<String> {
    let mut elements = Vec::new();
    let mut open: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('>').expect("every tag is closed with >");
        let tag = &after[..end];
        rest = &after[end + 1..];
        if tag.starts_with("!DOCTYPE") {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let expected = open
                .pop()
                .unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(expected, name, "</{name}> closes <{expected}>");
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        assert!(
            ALLOWED_ELEMENTS.contains(&name.as_str()),
            "unexpected element <{name}> in <{tag}>"
        );
        // Attribute values are quoted and contain no quote of their kind.
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "unbalanced quotes in <{tag}>"
        );
        elements.push(name.clone());
        if !tag.ends_with('/') && !VOID_ELEMENTS.contains(&name.as_str()) {
            open.push(name);
        }
    }
    assert!(open.is_empty(), "never closed: {open:?}");
    elements
}

fn count(elements: &[String], name: &str) -> usize {
    elements.iter().filter(|element| *element == name).count()
}

/// No script, no external asset, nothing fetched — and a policy that forbids them.
fn assert_self_contained(html: &str) {
    assert!(html.contains(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
    ));
    for banned in [
        "<script", "<link", "<img", "<iframe", "<object", "<embed", "url(", "@import",
    ] {
        assert!(!html.contains(banned), "found {banned}");
    }
    // Links only go within the page; nothing has a source.
    for tag in html.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap();
        assert!(!tag.contains(" src="), "<{tag}>");
        if let Some(href) = tag.split(" href=\"").nth(1) {
            assert!(href.starts_with('#'), "<{tag}>");
        }
    }
    // The one URL is the SVG namespace, which is a name, not a fetch.
    assert_eq!(html.matches("://").count(), 1);
    assert_eq!(
        html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count(),
        1
    );
}

#[test]
fn failing_run_has_one_svg_a_lane_per_partition_and_anomaly_markers() {
    let report = common::failing_run();
    let html = reports::html::render(&report);
    let elements = parse_elements(&html);
    assert_self_contained(&html);
    assert_eq!(count(&elements, "svg"), 1);
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Every partition of the scenario has its lane.
    let mut lanes = 0;
    for topic in &report.spec.topics {
        for partition in 0..topic.partitions {
            let lane = format!(
                "<g class=\"lane\" data-topic=\"{}\" data-partition=\"{partition}\">",
                topic.name
            );
            assert_eq!(html.matches(&lane).count(), 1, "{lane}");
            lanes += 1;
        }
    }
    assert_eq!(lanes, 6);
    assert_eq!(html.matches("<g class=\"lane\"").count(), lanes);
    // Producer acknowledgements, consumer lines and a high watermark are drawn.
    assert!(html.contains("class=\"acks\""));
    assert!(html.contains("class=\"consumer\""));
    assert!(html.contains("class=\"high-watermark\""));
    assert!(html.contains("class=\"log-start\""));
    assert!(html.contains("class=\"heal\""));
    assert!(html.contains("class=\"leader\""));
    assert!(html.contains("crash consumer-0"), "fault bars are labelled");
    // Anomaly markers: every anomaly is named by a marker's tooltip, and is listed below.
    assert!(html.contains("<a class=\"proof\""));
    let mut numbers: std::collections::BTreeMap<&str, usize> = Default::default();
    for (index, anomaly) in report.anomalies.iter().enumerate() {
        let number = numbers.entry(anomaly.kind.as_str()).or_insert(0);
        *number += 1;
        let label = format!("{} #{number}", anomaly.kind);
        assert!(html.contains(&label), "no marker names {label}");
        let id = format!("id=\"anomaly-{}\"", index + 1);
        assert_eq!(html.matches(&id).count(), 1, "{id}");
    }
    // Every link leads somewhere on the page.
    for link in html.split("href=\"#").skip(1) {
        let target = link.split('"').next().unwrap();
        assert!(
            html.contains(&format!("id=\"{target}\"")),
            "#{target} leads nowhere"
        );
    }
    // Same facts as the Markdown: repro, trace hash, every kind with its count.
    assert!(html.contains(&report.repro));
    assert!(html.contains(&report.trace_hash));
    for (kind, count) in &report.counts {
        assert!(
            html.contains(&format!("<code>{kind}</code> ({count})")),
            "{kind}"
        );
    }
    // Axis labels with units.
    assert!(html.contains("simulated time (s)"));
    assert!(html.contains(">offsets<"));
}

#[test]
fn passing_run_has_no_anomaly_markers() {
    let report = common::passing_run();
    let html = reports::html::render(&report);
    let elements = parse_elements(&html);
    assert_eq!(count(&elements, "svg"), 1);
    assert!(!html.contains("class=\"proof\""));
    assert!(!html.contains("id=\"anomaly-"));
    assert!(html.contains("None: the oracle found the history valid."));
    assert_eq!(html.matches("<g class=\"lane\"").count(), 6);
}

#[test]
fn text_from_the_history_and_the_report_is_escaped() {
    let report = report_with_history(&[
        r#"{"time":1000,"process":"producer-0","type":"ok","f":"send","value":"<script>alert('x')</script>","topic":"<t&\"'>","partition":0,"offset":0}"#,
        r#"{"time":2000,"process":"nemesis","type":"info","f":"fault","fault":"crash","target":"<b>broker</b>"}"#,
    ]);
    let mut report = with_anomaly(
        report,
        "lost-write",
        "value <script>alert(1)</script> & \"more\" was lost",
        &[1, 2],
    );
    report.scenario = "<img src=x onerror=alert(1)>".into();
    report.bugs = vec!["<i>bug</i>".into()];
    report.status = "panicked: </pre><script>".into();
    let html = reports::html::render(&report);
    parse_elements(&html);
    assert_self_contained(&html);
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(html
        .contains("value &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;more&quot; was lost"));
    assert!(html.contains("data-topic=\"&lt;t&amp;&quot;&#39;&gt;\""));
    assert!(html.contains("crash &lt;b&gt;broker&lt;/b&gt;"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));

    let markdown = reports::markdown::render(&report);
    assert!(
        !markdown.contains("<script>alert(1)"),
        "explanations are escaped"
    );
    assert!(markdown.contains("value \\<script\\>alert(1)\\</script\\>"));
    // History lines are quoted verbatim inside code blocks.
    assert!(markdown.contains(r#""value":"<script>alert('x')</script>""#));
}

#[test]
fn a_run_that_panicked_renders_without_a_history() {
    let mut report = report_with_history(&[]);
    report = with_anomaly(
        report,
        "run-failed",
        "seed 7: the run did not complete: panicked: index out of bounds",
        &[],
    );
    report.status = "panicked: index out of bounds".into();
    report.sim_time_ms = 0;
    report.coverage.clear();
    let html = reports::html::render(&report);
    let elements = parse_elements(&html);
    assert_eq!(count(&elements, "svg"), 1);
    // The scenario's partitions still get their (empty) lanes.
    assert_eq!(html.matches("<g class=\"lane\"").count(), 2);
    assert!(html.contains("run-failed"));
    assert!(!html.contains("class=\"proof\""), "nothing to locate");
    let markdown = reports::markdown::render(&report);
    assert!(markdown.contains("### `run-failed` (1)"));
    assert!(!markdown.contains("Events before the first anomaly"));
    let json = reports::json::render(&report);
    serde_json::from_str::<serde_json::Value>(&json).expect("valid JSON");
}

#[test]
fn odd_input_does_not_panic() {
    let report = report_with_history(&[
        "not json at all",
        "",
        r#"{"time":18446744073709551615,"process":"producer-0","type":"ok","f":"send","value":"v","topic":"t","partition":4294967295,"offset":18446744073709551615}"#,
        // Time going backwards.
        r#"{"time":5,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":9,"value":"v"},{"topic":"t","partition":0,"offset":3,"value":"w"}]}"#,
        r#"{"time":6,"process":"nemesis","type":"info","f":"fault","fault":"unpartition"}"#,
        r#"{"time":7,"process":"nemesis","type":"info","f":"fault","fault":"heal"}"#,
        r#"{"time":8,"process":"nemesis","type":"info","f":"fault","fault":"heal"}"#,
        r#"{"time":9,"process":"cluster","type":"ok","f":"partitions","topic":"t","count":0}"#,
    ]);
    // Proving lines out of range, line 0, a blank line and a bad line.
    let report = with_anomaly(report, "duplicate", "odd", &[0, 1, 2, 3, 4, 99]);
    let html = reports::html::render(&report);
    parse_elements(&html);
    assert!(html.contains("1 history lines could not be read"));
    let markdown = reports::markdown::render(&report);
    assert!(markdown.contains("99 (not in the history)"));
    reports::json::render(&report);
}

#[test]
fn large_histories_are_thinned() {
    // 100,000 acknowledged sends and as many single-record polls in one partition.
    let mut lines = Vec::new();
    for offset in 0..100_000u64 {
        let time = offset * 100_000;
        lines.push(format!(
            r#"{{"time":{time},"process":"producer-0","type":"ok","f":"send","value":"v{offset}","topic":"t","partition":0,"offset":{offset}}}"#
        ));
        lines.push(format!(
            r#"{{"time":{},"process":"consumer-0","type":"ok","f":"poll","records":[{{"topic":"t","partition":0,"offset":{offset},"value":"v{offset}"}}]}}"#,
            time + 50_000
        ));
    }
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let report = report_with_history(&lines);
    let html = reports::html::render(&report);
    parse_elements(&html);
    // Without thinning the two series alone would take several megabytes.
    assert!(html.len() < 200_000, "{} bytes", html.len());
    let acks = html
        .split("class=\"acks\" d=\"")
        .nth(1)
        .expect("acks drawn")
        .split('"')
        .next()
        .unwrap();
    let dots = acks.matches('M').count();
    assert!((500..=2_100).contains(&dots), "{dots} dots");
}
