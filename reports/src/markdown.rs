//! The issue-ready Markdown report of one run (GitHub-flavoured Markdown).
//!
//! Sections, in order: the title (verdict, scenario, seed, bugs) and a summary table (status, trace
//! hash, simulated time, history events, the oracle's totals); the command that reproduces the
//! run; the anomalies grouped by kind with exact counts, each with its explanation and the history
//! lines that prove it, quoted with their line numbers; the events leading up to the first anomaly;
//! the fault schedule (as scheduled and as fired); the coverage marks.
//!
//! Deterministic: the report's wall-clock time is left out, so the same run gives the same bytes.
//! Text from the run (names, explanations, panic messages) is escaped; history lines are quoted in
//! code blocks whose fences are longer than any run of backticks inside them. Limits keep the
//! report small enough for an issue (`docs/reports.md` gives them).

use crate::facts::{self, AnomalyGroup};
use scenarios::report::RunReport;
use std::fmt::Write as _;

/// The Markdown report of one run.
pub fn render(report: &RunReport) -> String {
    let mut out = String::new();
    let groups = facts::anomaly_groups(report);
    summary(&mut out, report, &groups);
    repro(&mut out, report);
    anomalies(&mut out, report, &groups);
    context(&mut out, report);
    faults(&mut out, report);
    coverage(&mut out, report);
    out
}

fn summary(out: &mut String, report: &RunReport, groups: &[AnomalyGroup<'_>]) {
    let _ = writeln!(out, "# {}\n", text(&facts::title(report)));
    out.push_str("| | |\n|---|---|\n");
    let verdict = facts::verdict_word(report.verdict);
    let _ = writeln!(out, "| verdict | **{verdict}** |");
    let _ = writeln!(out, "| scenario | {} |", code(&report.scenario));
    let _ = writeln!(out, "| seed | {} |", report.seed);
    let bugs = if report.bugs.is_empty() {
        "none".to_string()
    } else {
        report
            .bugs
            .iter()
            .map(|bug| code(bug))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "| bugs switched on | {bugs} |");
    let _ = writeln!(out, "| status | {} |", text(&report.status));
    let _ = writeln!(out, "| anomalies | {} |", facts::anomalies_total(groups));
    let _ = writeln!(out, "| trace hash | {} |", code(&report.trace_hash));
    let _ = writeln!(
        out,
        "| simulated time | {} |",
        facts::seconds_from_ms(report.sim_time_ms)
    );
    let _ = writeln!(out, "| history events | {} |", report.events);
    if let Some(stats) = facts::stats_sentence(report) {
        let _ = writeln!(out, "| oracle | {} |", text(&stats));
    }
    out.push('\n');
}

fn repro(out: &mut String, report: &RunReport) {
    out.push_str("## Reproduce\n\n");
    out.push_str(&fenced(&report.repro, "sh"));
    out.push_str(
        "\nThe same command gives the same trace hash and the same history, bit for bit.\n\n",
    );
}

fn anomalies(out: &mut String, report: &RunReport, groups: &[AnomalyGroup<'_>]) {
    let total = facts::anomalies_total(groups);
    if groups.is_empty() {
        out.push_str(
            "## Anomalies\n\nNone: the oracle found the history valid, the state checker the \
             cluster's state.\n\n",
        );
        return;
    }
    let _ = writeln!(out, "## Anomalies ({total})\n");
    out.push_str("| kind | found by | count |\n|---|---|---|\n");
    for group in groups {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            code(group.kind.as_str()),
            group.kind.checker(),
            group.count
        );
    }
    out.push('\n');
    let mut quotes_bytes: usize = 0;
    for group in groups {
        let _ = writeln!(out, "### {} ({})\n", code(group.kind.as_str()), group.count);
        let mut one_liners = false;
        for (number, (_, anomaly)) in group
            .anomalies
            .iter()
            .enumerate()
            .take(facts::ANOMALIES_SHOWN_PER_KIND_MAX)
        {
            // Quoted while within both limits; once not, the rest of the kind is one-liners.
            let quote = !one_liners
                && number < facts::ANOMALIES_QUOTED_PER_KIND_MAX
                && quotes_bytes < facts::MARKDOWN_QUOTES_BYTES_MAX;
            if quote {
                let _ = writeln!(out, "**{}.** {}\n", number + 1, text(&anomaly.explanation));
                if !anomaly.events.is_empty() {
                    let quoted = fenced(&quoted_lines(report, &anomaly.events), "json");
                    quotes_bytes += quoted.len();
                    out.push_str(&quoted);
                    out.push('\n');
                }
            } else {
                one_liners = true;
                let suffix = facts::unnamed_lines_suffix(&anomaly.explanation, &anomaly.events);
                let _ = writeln!(
                    out,
                    "- **{}.** {}{suffix}",
                    number + 1,
                    text(&anomaly.explanation)
                );
            }
        }
        if one_liners {
            out.push('\n');
        }
        let shown = group
            .anomalies
            .len()
            .min(facts::ANOMALIES_SHOWN_PER_KIND_MAX) as u64;
        if group.count > shown {
            let _ = writeln!(
                out,
                "{} more {} not shown (`report.json` lists up to 100 of each kind).\n",
                group.count - shown,
                if group.count - shown == 1 {
                    "is"
                } else {
                    "are"
                },
            );
        }
    }
}

/// History lines `lines` as `LINE JSON`, one per line, in the order given.
fn quoted_lines(report: &RunReport, lines: &[u64]) -> String {
    let width = lines.iter().max().map_or(1, |max| max.to_string().len());
    let mut quoted = String::new();
    for &line in lines {
        let json = match facts::history_line(report, line) {
            Some(json) => facts::shorten(&json, facts::PROVING_LINE_CHARS_MAX).into_owned(),
            None => "(not in the history)".into(),
        };
        let _ = writeln!(quoted, "{line:>width$} {json}");
    }
    quoted
}

fn context(out: &mut String, report: &RunReport) {
    let Some(context) = facts::context(report) else {
        return;
    };
    out.push_str("## Events before the first anomaly\n\n");
    let _ = writeln!(
        out,
        "History lines {}–{}, up to the last line that proves the first anomaly found \
         ({}: {}); its proving lines are marked `>`.\n",
        context.first_line,
        context.last_line,
        code(context.anomaly.kind.as_str()),
        text(&context.anomaly.explanation),
    );
    let width = context.last_line.to_string().len();
    let mut block = String::new();
    for line in context.first_line..=context.last_line {
        let marker = if context.anomaly.events.contains(&line) {
            '>'
        } else {
            ' '
        };
        let json = facts::history_line(report, line).unwrap_or_default();
        let json = facts::shorten(&json, facts::CONTEXT_LINE_CHARS_MAX);
        let _ = writeln!(block, "{marker} {line:>width$} {json}");
    }
    out.push_str(&fenced(&block, "text"));
    out.push('\n');
}

fn faults(out: &mut String, report: &RunReport) {
    out.push_str("## Faults\n\n");
    let schedule = facts::fault_schedule(report);
    if schedule.is_empty() {
        out.push_str("The scenario schedules no faults.\n\n");
    } else {
        out.push_str("Scheduled (times from the start of the scenario's fault phase):\n\n");
        out.push_str("| # | at | for | fault |\n|---|---|---|---|\n");
        for fault in &schedule {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                fault.index,
                fault.at,
                fault.duration,
                text(&fault.description)
            );
        }
        out.push('\n');
    }
    if report.fault_log.is_empty() {
        out.push_str("No fault fired.\n\n");
    } else {
        out.push_str("As fired:\n\n| at | what happened |\n|---|---|\n");
        for (at_ms, description) in &report.fault_log {
            let _ = writeln!(
                out,
                "| {} | {} |",
                facts::seconds_from_ms(*at_ms),
                text(&facts::fired_fault(report, description))
            );
        }
        out.push('\n');
    }
}

fn coverage(out: &mut String, report: &RunReport) {
    out.push_str("## Coverage\n\n");
    let reached: Vec<String> = report
        .coverage
        .iter()
        .filter(|(_, count)| **count > 0)
        .map(|(mark, count)| format!("{} ×{count}", code(mark)))
        .collect();
    let missed: Vec<String> = report
        .coverage
        .iter()
        .filter(|(_, count)| **count == 0)
        .map(|(mark, _)| code(mark))
        .collect();
    if reached.is_empty() {
        out.push_str("Reached: none.\n");
    } else {
        let _ = writeln!(out, "Reached: {}.", reached.join(", "));
    }
    if !missed.is_empty() {
        let _ = writeln!(out, "\nNot reached: {}.", missed.join(", "));
    }
}

/// Text from the run as inline Markdown: punctuation that Markdown (or the HTML it allows) would
/// read is backslash-escaped, and line breaks become spaces (so a table row or a paragraph stays
/// one).
pub(crate) fn text(raw: &str) -> String {
    let mut escaped = String::with_capacity(raw.len());
    for character in raw.chars() {
        match character {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '&' | '~' | '#' | '!' => {
                escaped.push('\\');
                escaped.push(character);
            }
            '\n' | '\r' => escaped.push(' '),
            _ => escaped.push(character),
        }
    }
    escaped
}

/// `raw` as an inline code span: the backtick fence is longer than any backtick run inside, and
/// line breaks become spaces. A `|` is escaped, as GitHub's tables require even in code spans.
pub(crate) fn code(raw: &str) -> String {
    let raw = raw.replace(['\n', '\r'], " ").replace('|', "\\|");
    let fence = "`".repeat(longest_backtick_run(&raw) + 1);
    let pad = if raw.starts_with('`') || raw.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{raw}{pad}{fence}")
}

/// `body` as a fenced code block with an info string; the fence outlasts any backtick run inside.
fn fenced(body: &str, info: &str) -> String {
    let fence = "`".repeat((longest_backtick_run(body) + 1).max(3));
    let newline = if body.ends_with('\n') { "" } else { "\n" };
    format!("{fence}{info}\n{body}{newline}{fence}\n")
}

fn longest_backtick_run(text: &str) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for character in text.chars() {
        if character == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_escapes_what_markdown_would_read() {
        assert_eq!(text("a <script> | *b*\nc"), "a \\<script\\> \\| \\*b\\* c");
    }

    #[test]
    fn code_spans_and_blocks_outlast_backticks_inside() {
        assert_eq!(code("x"), "`x`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`a"), "`` `a ``");
        assert_eq!(fenced("```\n", ""), "````\n```\n````\n");
        assert_eq!(fenced("x", "sh"), "```sh\nx\n```\n");
    }
}
