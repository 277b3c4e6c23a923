//! The HTML report of one run: one self-contained file (inline CSS and SVG, no script, no external
//! asset, nothing fetched; its Content-Security-Policy forbids all of them) with the Markdown
//! report's facts and an SVG timeline over simulated time.
//!
//! This file is the document: the page's structure, its sections and tables, the anomalies with
//! their anchors, the stylesheet. The timeline's drawing (scales, axes, fault bars, lanes, marks)
//! is `svg.rs`, from the data `timeline.rs` reads out of the history.

use crate::facts::{self, AnomalyGroup};
use crate::svg;
use crate::timeline::Timeline;
use scenarios::report::RunReport;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The HTML report of one run.
pub fn render(report: &RunReport) -> String {
    let groups = facts::anomaly_groups(report);
    let timeline = Timeline::build(report);
    let anchors = anomaly_anchors(&groups);
    let title = facts::title(report);
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    // Nothing may load or run: only the inline style. A browser reports anything else on its
    // console (which `scripts/check-html.sh` fails on) instead of doing it.
    out.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n",
    );
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(out, "<title>streamsim {}</title>", escape(&title));
    let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>");
    summary(&mut out, report, &groups, &title);
    let _ = writeln!(
        out,
        "<section id=\"repro\">\n<h2>Reproduce</h2>\n<pre><code>{}</code></pre>\n\
         <p>The same command gives the same trace hash and the same history, bit for bit.</p>\n</section>",
        escape(&report.repro)
    );
    timeline_section(&mut out, report, &timeline, &anchors);
    anomalies(&mut out, report, &groups);
    context(&mut out, report);
    faults(&mut out, report);
    coverage(&mut out, report);
    out.push_str("</body>\n</html>\n");
    out
}

const STYLE: &str = "
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #222;
  margin: 0 auto; padding: 0 24px 48px; max-width: 1400px; }
h1 { font-size: 22px; margin: 20px 0 8px; }
h1 .verdict { padding: 1px 8px; border-radius: 4px; color: #fff; }
h1 .fail { background: #d62728; } h1 .pass { background: #2ca02c; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; }
h3 { font-size: 15px; margin: 18px 0 6px; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
table.summary th { width: 140px; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; padding: 8px; overflow-x: auto; font-size: 12px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
mark { background: #ffe0e0; }
li.anomaly:target { background: #fff3cd; }
svg.timeline { width: 100%; height: auto; border: 1px solid #ddd; background: #fff; }
svg.timeline text { font: 10px system-ui, sans-serif; fill: #333; }
svg.timeline text.lane { font-weight: 600; font-size: 11px; }
svg.timeline text.axis { font-size: 11px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 6px 0; font-size: 13px; padding: 0; }
.legend li { list-style: none; display: flex; align-items: center; gap: 6px; }
.swatch { display: inline-block; width: 18px; height: 0; border-top: 2px solid; }
.swatch.dot { width: 6px; height: 6px; border: 0; border-radius: 3px; }
.swatch.dash { border-top-style: dashed; }
.swatch.dot-line { border-top-style: dotted; }
.swatch.bar { height: 10px; border: 1px solid #888; }
.swatch.ring { width: 8px; height: 8px; border: 2px solid; border-radius: 6px; }
.note { color: #666; font-size: 13px; }
.reached { font-weight: 600; }
";

fn summary(out: &mut String, report: &RunReport, groups: &[AnomalyGroup<'_>], title: &str) {
    let verdict = facts::verdict_word(report.verdict);
    let class = verdict.to_ascii_lowercase();
    let rest = title
        .strip_prefix(verdict)
        .and_then(|rest| rest.strip_prefix(": "))
        .unwrap_or(title);
    let _ = writeln!(
        out,
        "<header>\n<h1><span class=\"verdict {class}\">{verdict}</span> {}</h1>",
        escape(rest)
    );
    out.push_str("<table class=\"summary\">\n");
    let mut row = |name: &str, value: String| {
        let _ = writeln!(out, "<tr><th>{name}</th><td>{value}</td></tr>");
    };
    row(
        "scenario",
        format!("<code>{}</code>", escape(&report.scenario)),
    );
    row("seed", report.seed.to_string());
    let bugs = if report.bugs.is_empty() {
        "none".to_string()
    } else {
        report
            .bugs
            .iter()
            .map(|bug| format!("<code>{}</code>", escape(bug)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    row("bugs switched on", bugs);
    row("status", escape(&report.status));
    row("anomalies", facts::anomalies_total(groups).to_string());
    row(
        "trace hash",
        format!("<code>{}</code>", escape(&report.trace_hash)),
    );
    row(
        "simulated time",
        escape(&facts::seconds_from_ms(report.sim_time_ms)),
    );
    row("history events", report.events.to_string());
    if let Some(stats) = facts::stats_sentence(report) {
        row("oracle", escape(&stats));
    }
    out.push_str("</table>\n</header>\n");
}

/// Where each listed anomaly is shown: `anomaly-N` (N = its index in the report + 1) when it is
/// among the anomalies shown, else its kind's section.
pub(crate) struct Anchors {
    /// By index in `report.anomalies`: (anchor id, label such as `duplicate-delivery #3`).
    pub(crate) by_index: BTreeMap<usize, (String, String)>,
}

fn kind_anchor(group_index: usize) -> String {
    format!("kind-{}", group_index + 1)
}

fn anomaly_anchor(index: usize) -> String {
    format!("anomaly-{}", index + 1)
}

fn anomaly_anchors(groups: &[AnomalyGroup<'_>]) -> Anchors {
    let mut by_index = BTreeMap::new();
    for (group_index, group) in groups.iter().enumerate() {
        for (number, (index, _)) in group.anomalies.iter().enumerate() {
            let anchor = if number < facts::ANOMALIES_SHOWN_PER_KIND_MAX {
                anomaly_anchor(*index)
            } else {
                kind_anchor(group_index)
            };
            by_index.insert(*index, (anchor, format!("{} #{}", group.kind, number + 1)));
        }
    }
    Anchors { by_index }
}

fn anomalies(out: &mut String, report: &RunReport, groups: &[AnomalyGroup<'_>]) {
    out.push_str("<section id=\"anomalies\">\n");
    if groups.is_empty() {
        out.push_str(
            "<h2>Anomalies</h2>\n<p>None: the oracle found the history valid, the state checker \
             the cluster's state.</p>\n</section>\n",
        );
        return;
    }
    let _ = writeln!(
        out,
        "<h2>Anomalies ({})</h2>\n<table>\n<tr><th>kind</th><th>found by</th><th>count</th></tr>",
        facts::anomalies_total(groups)
    );
    for (group_index, group) in groups.iter().enumerate() {
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#{}\"><code>{}</code></a></td><td>{}</td><td>{}</td></tr>",
            kind_anchor(group_index),
            escape(group.kind.as_str()),
            group.kind.checker(),
            group.count
        );
    }
    out.push_str("</table>\n");
    for (group_index, group) in groups.iter().enumerate() {
        let _ = writeln!(
            out,
            "<h3 id=\"{}\"><code>{}</code> ({})</h3>\n<ol>",
            kind_anchor(group_index),
            escape(group.kind.as_str()),
            group.count
        );
        for (number, (index, anomaly)) in group
            .anomalies
            .iter()
            .enumerate()
            .take(facts::ANOMALIES_SHOWN_PER_KIND_MAX)
        {
            let _ = write!(
                out,
                "<li class=\"anomaly\" id=\"{}\">{}",
                anomaly_anchor(*index),
                escape(&anomaly.explanation)
            );
            if anomaly.events.is_empty() {
            } else if number < facts::ANOMALIES_QUOTED_PER_KIND_MAX {
                out.push_str("\n<pre><code>");
                let width = anomaly
                    .events
                    .iter()
                    .max()
                    .map_or(1, |max| max.to_string().len());
                for &line in &anomaly.events {
                    let json = match facts::history_line(report, line) {
                        Some(json) => {
                            facts::shorten(&json, facts::PROVING_LINE_CHARS_MAX).into_owned()
                        }
                        None => "(not in the history)".into(),
                    };
                    let _ = writeln!(out, "{line:>width$} {}", escape(&json));
                }
                out.push_str("</code></pre>");
            } else {
                out.push_str(&facts::unnamed_lines_suffix(
                    &anomaly.explanation,
                    &anomaly.events,
                ));
            }
            out.push_str("</li>\n");
        }
        out.push_str("</ol>\n");
        let shown = group
            .anomalies
            .len()
            .min(facts::ANOMALIES_SHOWN_PER_KIND_MAX) as u64;
        if group.count > shown {
            let _ = writeln!(
                out,
                "<p class=\"note\">{} more not shown (<code>report.json</code> lists up to 100 of each kind).</p>",
                group.count - shown
            );
        }
    }
    out.push_str("</section>\n");
}

fn context(out: &mut String, report: &RunReport) {
    let Some(context) = facts::context(report) else {
        return;
    };
    let _ = writeln!(
        out,
        "<section id=\"context\">\n<h2>Events before the first anomaly</h2>\n\
         <p>History lines {}–{}, up to the last line that proves the first anomaly found \
         (<a href=\"#{}\"><code>{}</code></a>: {}); its proving lines are highlighted.</p>\n<pre><code>",
        context.first_line,
        context.last_line,
        anomaly_anchor(context.anomaly_index),
        escape(context.anomaly.kind.as_str()),
        escape(&context.anomaly.explanation),
    );
    let width = context.last_line.to_string().len();
    for line in context.first_line..=context.last_line {
        let json = facts::history_line(report, line).unwrap_or_default();
        let text = format!(
            "{line:>width$} {}",
            facts::shorten(&json, facts::CONTEXT_LINE_CHARS_MAX)
        );
        if context.anomaly.events.contains(&line) {
            let _ = writeln!(out, "<mark>{}</mark>", escape(&text));
        } else {
            let _ = writeln!(out, "{}", escape(&text));
        }
    }
    out.push_str("</code></pre>\n</section>\n");
}

fn faults(out: &mut String, report: &RunReport) {
    out.push_str("<section id=\"faults\">\n<h2>Faults</h2>\n");
    let schedule = facts::fault_schedule(report);
    if schedule.is_empty() {
        out.push_str("<p>The scenario schedules no faults.</p>\n");
    } else {
        out.push_str(
            "<p>Scheduled (times from the start of the scenario's fault phase):</p>\n\
             <table>\n<tr><th>#</th><th>at</th><th>for</th><th>fault</th></tr>\n",
        );
        for fault in &schedule {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                fault.index,
                escape(&fault.at),
                escape(&fault.duration),
                escape(&fault.description)
            );
        }
        out.push_str("</table>\n");
    }
    if report.fault_log.is_empty() {
        out.push_str("<p>No fault fired.</p>\n");
    } else {
        out.push_str("<p>As fired:</p>\n<table>\n<tr><th>at</th><th>what happened</th></tr>\n");
        for (at_ms, description) in &report.fault_log {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td></tr>",
                escape(&facts::seconds_from_ms(*at_ms)),
                escape(&facts::fired_fault(report, description))
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("</section>\n");
}

fn coverage(out: &mut String, report: &RunReport) {
    out.push_str("<section id=\"coverage\">\n<h2>Coverage</h2>\n");
    if report.coverage.is_empty() {
        out.push_str("<p>No coverage marks.</p>\n</section>\n");
        return;
    }
    out.push_str("<table>\n<tr><th>mark</th><th>times reached</th></tr>\n");
    for (mark, count) in &report.coverage {
        let class = if *count > 0 { " class=\"reached\"" } else { "" };
        let _ = writeln!(
            out,
            "<tr{class}><td><code>{}</code></td><td>{count}</td></tr>",
            escape(mark)
        );
    }
    out.push_str("</table>\n</section>\n");
}
/// The timeline section: the legend, the SVG drawing, and a note on what it leaves out.
fn timeline_section(out: &mut String, report: &RunReport, timeline: &Timeline, anchors: &Anchors) {
    out.push_str("<section id=\"timeline\">\n<h2>Timeline</h2>\n");
    svg::legend(out, timeline);
    svg::timeline(out, report, timeline, anchors);
    notes(out, timeline);
    out.push_str("</section>\n");
}

fn notes(out: &mut String, timeline: &Timeline) {
    if !timeline.lanes_left_out.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"note\">{} more partitions appear in the history but are not drawn (at most {} lanes).</p>",
            timeline.lanes_left_out.len(),
            crate::timeline::LANES_MAX
        );
    }
}

/// Text escaped for HTML and SVG, in element content and in quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            // Control characters are not allowed in HTML text (and break XML-based SVG tools).
            '\t' | '\n' | '\r' => escaped.push(character),
            control if control.is_control() => escaped.push('\u{fffd}'),
            _ => escaped.push(character),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"y\"\u{7}"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;\u{fffd}"
        );
    }
}
