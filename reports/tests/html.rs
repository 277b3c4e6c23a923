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
    assert!(html.contains(
        "None: the oracle found the history valid, the state checker the cluster's state."
    ));
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
    // A report's history is typed (it cannot hold a line that is not an event); what remains odd:
    // extreme values, time going backwards, repairs without faults, a topic of 0 partitions.
    let report = report_with_history(&[
        r#"{"time":18446744073709551615,"process":"producer-0","type":"ok","f":"send","value":"v","topic":"t","partition":4294967295,"offset":18446744073709551615}"#,
        // Time going backwards.
        r#"{"time":5,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":9,"value":"v"},{"topic":"t","partition":0,"offset":3,"value":"w"}]}"#,
        r#"{"time":6,"process":"nemesis","type":"info","f":"fault","fault":"unpartition"}"#,
        r#"{"time":7,"process":"nemesis","type":"info","f":"fault","fault":"heal"}"#,
        r#"{"time":8,"process":"nemesis","type":"info","f":"fault","fault":"heal"}"#,
        r#"{"time":9,"process":"cluster","type":"ok","f":"partitions","topic":"t","count":0}"#,
    ]);
    // Proving lines out of range and line 0.
    let report = with_anomaly(report, "duplicate", "odd", &[0, 1, 2, 3, 4, 99]);
    let html = reports::html::render(&report);
    parse_elements(&html);
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

/// The x of simulated time `seconds` on the broken axis of a run that heals at `heal` seconds
/// and ends at `end`: before the heal, 78% of the plot (x 160 to 1185); after it, the rest.
fn broken_axis_x(seconds: f64, heal: f64, end: f64) -> f64 {
    let break_x = 160.0 + 0.78 * (1185.0 - 160.0);
    if seconds <= heal {
        160.0 + seconds / heal * (break_x - 160.0)
    } else {
        break_x + (seconds - heal) / (end - heal) * (1185.0 - break_x)
    }
}

/// The value of attribute `name` in `tag` (the text between `<` and `>`).
fn attribute(tag: &str, name: &str) -> Option<f64> {
    tag.split(&format!(" {name}=\""))
        .nth(1)?
        .split('"')
        .next()?
        .parse()
        .ok()
}

#[test]
fn a_long_liveness_phase_gets_a_broken_time_axis_and_positions_follow_it() {
    let report = common::long_liveness_run();
    let html = reports::html::render(&report);
    parse_elements(&html);
    assert_self_contained(&html);
    // A break mark at the heal, its time in bold green, and how much the liveness phase is
    // compressed: (78% / 10 s) / (22% / 90 s) = 31.9.
    assert_eq!(html.matches("<g class=\"axis-break\"").count(), 1);
    assert!(
        html.contains(">after the heal: compressed 32×</text>"),
        "{html}"
    );
    let close = |a: f64, b: f64| (a - b).abs() <= 0.06;
    // Every tick's label is the time at its x, on both sides of the break.
    let mut labels = Vec::new();
    for tag_and_text in html.split("<text class=\"axis").skip(1) {
        let (tag, text) = tag_and_text.split_once('>').unwrap();
        let text = text.split('<').next().unwrap();
        let text = if text.is_empty() {
            // The break's label has a tooltip first.
            tag_and_text
                .split("</title>")
                .nth(1)
                .unwrap()
                .split('<')
                .next()
                .unwrap()
        } else {
            text
        };
        let Some(seconds) = text.strip_suffix(" s").and_then(|s| s.parse::<f64>().ok()) else {
            continue;
        };
        let x = attribute(tag, "x").unwrap();
        assert!(
            close(x, broken_axis_x(seconds, 10.0, 100.0)),
            "tick {text} at x {x}"
        );
        labels.push(text.to_string());
    }
    assert_eq!(
        labels,
        [
            "0 s", "1 s", "2 s", "3 s", "4 s", "5 s", "6 s", "7 s", "8 s", "9 s", "10.0 s", "40 s",
            "60 s", "80 s", "100 s"
        ]
    );
    // The heal's line and the liveness shading start at the break.
    let heal = html.split("<g class=\"heal\">").nth(1).unwrap();
    let heal_line = heal.split("<line").nth(1).unwrap();
    assert!(close(
        attribute(heal_line, "x1").unwrap(),
        broken_axis_x(10.0, 10.0, 100.0)
    ));
    let liveness = html.split("<rect class=\"liveness\"").nth(1).unwrap();
    assert!(close(
        attribute(liveness, "x").unwrap(),
        broken_axis_x(10.0, 10.0, 100.0)
    ));
    // The crash at 2 s, never repaired before the heal: a bar from 2 s to the heal at 10 s.
    let crash = html.split("crash consumer-0 from").nth(1).unwrap();
    let crash_rect = crash.split("<rect").nth(1).unwrap();
    let start = attribute(crash_rect, "x").unwrap();
    let width = attribute(crash_rect, "width").unwrap();
    assert!(close(start, broken_axis_x(2.0, 10.0, 100.0)), "{start}");
    assert!(
        close(start + width, broken_axis_x(10.0, 10.0, 100.0)),
        "{width}"
    );
    // The retention instant at 5 s.
    let retention = html.split("retention broker-1 at").nth(1).unwrap();
    let diamond = retention.split("<path d=\"M").nth(1).unwrap();
    let x: f64 = diamond.split(' ').next().unwrap().parse().unwrap();
    assert!(close(x, broken_axis_x(5.0, 10.0, 100.0)), "{x}");
    // The consumer's polls at 13, 16, ... 34 s, after the break, in the right pixel columns.
    let consumer = html.split("<path class=\"consumer\" d=\"").nth(1).unwrap();
    let path = consumer.split('"').next().unwrap();
    let xs: Vec<f64> = path
        .split(['M', 'L'])
        .filter(|point| !point.is_empty())
        .map(|point| point.split(' ').next().unwrap().parse().unwrap())
        .collect();
    let expected: Vec<f64> = (1..=8)
        .map(|index| broken_axis_x(10.0 + 3.0 * index as f64, 10.0, 100.0))
        .collect();
    assert_eq!(xs.len(), expected.len(), "{path}");
    for (x, expected) in xs.iter().zip(&expected) {
        assert!(close(*x, *expected), "{x} vs {expected}");
    }
    // The proof of the duplicate at 22 s (line 16) is located there in the proof strip.
    let proof = html
        .split("<a class=\"proof\"")
        .find(|proof| proof.contains("line 16:"))
        .unwrap();
    let diamond = proof.split("<path d=\"M").nth(1).unwrap();
    let x: f64 = diamond.split(' ').next().unwrap().parse().unwrap();
    assert!(close(x, broken_axis_x(22.0, 10.0, 100.0)), "{x}");
}

#[test]
fn a_short_liveness_phase_keeps_a_linear_time_axis() {
    // offset-commit seed 1 heals at 14 s of 15.6 s.
    let html = reports::html::render(&common::failing_run());
    assert!(!html.contains("axis-break"));
    assert!(!html.contains("compressed"));
    assert!(html.contains(">simulated time (s)</text>"));
}
