//! The SVG timeline of the HTML report: the drawing of the run over simulated time, from the
//! [`Timeline`] that `timeline.rs` reads out of the history (`html.rs` places it in the page).
//!
//! The timeline (see `docs/reports.md`, "Reading the timeline"):
//! - a time axis in seconds of simulated time, at the bottom, with grid lines across everything;
//!   when the liveness phase is long, the axis is broken at the heal (piecewise linear: the time
//!   before the heal gets most of the width, the liveness phase the rest, compressed);
//! - fault bars across the top, one bar from each fault to its repair (crash → restart,
//!   pause → resume, partition → unpartition, ...), diamonds for instant faults (retention,
//!   expire-pid, add-partitions, ...); a dashed green line at each `heal`, and the liveness phase
//!   after it shaded green;
//! - a strip of red diamonds at the times of the anomalies' proving events;
//! - one lane per partition, its y axis in offsets: producer acknowledgements as blue dots, one
//!   line per consumer process through the offsets it delivered (broken at restarts and position
//!   resets), the authoritative log start as an orange step line (a replica's own log start, when
//!   the history reports one, as a dotted orange line), the high watermark as a dashed grey step
//!   line, leader changes as black triangles labelled with the new leader, and the proving events
//!   that name the partition as red rings (a range of offsets, for a poll, as a red bar).
//!
//! Every marker has a tooltip (an SVG `<title>`); a proving marker links to its anomaly below.
//! Series are thinned to a few points per pixel column, so the file stays small for histories of
//! millions of events. All text is escaped.

use crate::facts;
use crate::html::{escape, Anchors};
use crate::timeline::{FaultSpan, Lane, LaneKey, Point, Timeline};
use scenarios::report::RunReport;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The SVG's coordinate width (it scales to the page).
const WIDTH_PX: f64 = 1200.0;
/// Left edge of the plots: the margin holds lane and row labels and the offset axis.
const PLOT_LEFT_PX: f64 = 160.0;
const PLOT_RIGHT_PX: f64 = 1185.0;
const TOP_PX: f64 = 24.0;
const FAULT_ROW_HEIGHT_PX: f64 = 16.0;
/// Fault rows; overlapping faults beyond these share the last rows (without labels).
const FAULT_ROWS_MAX: usize = 10;
const PROOF_STRIP_HEIGHT_PX: f64 = 18.0;
/// The lanes' plots share this height, each within the bounds below.
const LANES_HEIGHT_PX: f64 = 480.0;
const LANE_HEIGHT_MIN_PX: f64 = 80.0;
const LANE_HEIGHT_MAX_PX: f64 = 180.0;
/// Room above each lane for its title.
const LANE_TITLE_PX: f64 = 26.0;
const BOTTOM_AXIS_PX: f64 = 40.0;
/// Approximate width of one character of the 10 px labels, to lay out fault labels.
const LABEL_CHAR_PX: f64 = 5.6;
/// Time axis ticks aimed at (at most) over the whole plot width.
const TIME_TICKS_MAX: u64 = 12;
/// When the liveness phase after the heal is long, the time before the heal (the fault phase,
/// where the story usually is) gets this share of the plot's width, the liveness phase the rest:
/// the time axis is piecewise linear, with a break at the heal.
const FAULT_PHASE_SHARE: f64 = 0.78;
/// The axis is broken only when that compresses the liveness phase at least this much (relative
/// to the time before the heal); else one linear scale.
const LIVENESS_COMPRESSION_MIN: f64 = 2.0;
/// Time ticks on the liveness side of a broken axis, at most.
const LIVENESS_TICKS_MAX: u64 = 4;
/// Tick labels keep this far from the break, whose own label is the heal's time.
const BREAK_CLEARANCE_PX: f64 = 36.0;

/// Consumer line colours (red, blue and orange mean anomalies, acks and log start).
const CONSUMER_COLOURS: &[&str] = &[
    "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#1b9e77",
];
const ACK_COLOUR: &str = "#1f77b4";
const LOG_START_COLOUR: &str = "#e6550d";
const HIGH_WATERMARK_COLOUR: &str = "#444444";
const ANOMALY_COLOUR: &str = "#d62728";
const HEAL_COLOUR: &str = "#1a9850";

/// Maps simulated time to x: linearly from 0 to the end, or, when the liveness phase is long,
/// piecewise: 0 to the heal over the first [`FAULT_PHASE_SHARE`] of the plot, the heal to the end
/// over the rest. Every element's x comes from here, so positions agree with times on both sides.
struct TimeScale {
    end_ns: u64,
    axis_break: Option<AxisBreak>,
}

/// Where a piecewise time axis changes scale.
#[derive(Debug, Clone, Copy, PartialEq)]
struct AxisBreak {
    /// The heal's time, strictly between 0 and the end.
    at_ns: u64,
    /// Its x.
    x: f64,
}

impl TimeScale {
    /// A linear scale from 0 to `end_ns` (at least 1).
    fn linear(end_ns: u64) -> TimeScale {
        TimeScale {
            end_ns: end_ns.max(1),
            axis_break: None,
        }
    }

    /// The scale for a run that ends at `end_ns` and heals at `heal_ns`: broken at the heal when
    /// a linear scale would give the liveness phase so much width that breaking the axis
    /// compresses it at least [`LIVENESS_COMPRESSION_MIN`] times.
    fn new(end_ns: u64, heal_ns: Option<u64>) -> TimeScale {
        let mut scale = TimeScale::linear(end_ns);
        let Some(heal_ns) = heal_ns.filter(|&heal| heal > 0 && heal < scale.end_ns) else {
            return scale;
        };
        let axis_break = AxisBreak {
            at_ns: heal_ns,
            x: PLOT_LEFT_PX + FAULT_PHASE_SHARE * (PLOT_RIGHT_PX - PLOT_LEFT_PX),
        };
        let broken = TimeScale {
            end_ns: scale.end_ns,
            axis_break: Some(axis_break),
        };
        if broken
            .compression()
            .is_some_and(|c| c >= LIVENESS_COMPRESSION_MIN)
        {
            scale = broken;
        }
        scale
    }

    fn x(&self, time_ns: u64) -> f64 {
        let time_ns = time_ns.min(self.end_ns);
        let (from_ns, to_ns, from_x, to_x) = match self.axis_break {
            Some(AxisBreak { at_ns, x }) if time_ns <= at_ns => (0, at_ns, PLOT_LEFT_PX, x),
            Some(AxisBreak { at_ns, x }) => (at_ns, self.end_ns, x, PLOT_RIGHT_PX),
            None => (0, self.end_ns, PLOT_LEFT_PX, PLOT_RIGHT_PX),
        };
        let fraction = (time_ns - from_ns) as f64 / (to_ns - from_ns) as f64;
        from_x + fraction * (to_x - from_x)
    }

    /// How many times more time a pixel holds after the break than before it.
    fn compression(&self) -> Option<f64> {
        let AxisBreak { at_ns, x } = self.axis_break?;
        let before = (x - PLOT_LEFT_PX) / at_ns as f64;
        let after = (PLOT_RIGHT_PX - x) / (self.end_ns - at_ns) as f64;
        Some(before / after)
    }

    /// The time axis ticks, in time order: (time, label, is the break). On a linear scale, round
    /// times from 0 to the end; on a broken one, round times on each side with each side's own
    /// step (none within [`BREAK_CLEARANCE_PX`] of the break), and the break itself, labelled
    /// with the heal's time.
    fn ticks(&self) -> Vec<(u64, String, bool)> {
        let mut ticks = Vec::new();
        let Some(AxisBreak { at_ns, x: break_x }) = self.axis_break else {
            let step = time_step_ns(self.end_ns, TIME_TICKS_MAX);
            for tick in round_times(0, self.end_ns, step) {
                ticks.push((tick, seconds_label(tick, step), false));
            }
            return ticks;
        };
        let step = time_step_ns(at_ns, TIME_TICKS_MAX);
        for tick in round_times(0, at_ns, step) {
            if self.x(tick) <= break_x - BREAK_CLEARANCE_PX {
                ticks.push((tick, seconds_label(tick, step), false));
            }
        }
        // The heal's time, one decimal finer than the ticks before it.
        ticks.push((at_ns, seconds_label(at_ns, (step / 10).max(1)), true));
        let step = time_step_ns(self.end_ns - at_ns, LIVENESS_TICKS_MAX);
        for tick in round_times(at_ns, self.end_ns, step) {
            if self.x(tick) >= break_x + BREAK_CLEARANCE_PX {
                ticks.push((tick, seconds_label(tick, step), false));
            }
        }
        ticks
    }
}

/// The multiples of `step_ns` from `from_ns` to `to_ns`, both included.
fn round_times(from_ns: u64, to_ns: u64, step_ns: u64) -> impl Iterator<Item = u64> {
    let step_ns = step_ns.max(1);
    let first = from_ns.div_ceil(step_ns).checked_mul(step_ns);
    std::iter::successors(first, move |tick| tick.checked_add(step_ns))
        .take_while(move |&tick| tick <= to_ns)
}

/// Maps offsets to y within one lane.
struct OffsetScale {
    bottom_px: f64,
    height_px: f64,
    offset_max: u64,
}

impl OffsetScale {
    fn y(&self, offset: u64) -> f64 {
        let fraction = offset.min(self.offset_max) as f64 / self.offset_max as f64;
        self.bottom_px - fraction * self.height_px
    }
}

/// The `<svg>` element of the timeline: the liveness phase, the time grid, the fault rows, the
/// heals, the proofs' strip, one lane per partition, the time axis.
pub(crate) fn timeline(
    out: &mut String,
    report: &RunReport,
    timeline: &Timeline,
    anchors: &Anchors,
) {
    let time = TimeScale::new(timeline.end_ns, timeline.heals_ns.first().copied());
    let (rows, row_count) = pack_faults(&timeline.faults, &time);
    let faults_top = TOP_PX;
    let proofs_top = faults_top + row_count.max(1) as f64 * FAULT_ROW_HEIGHT_PX + 6.0;
    let lanes_top = proofs_top + PROOF_STRIP_HEIGHT_PX + 4.0;
    let lane_height = (LANES_HEIGHT_PX / timeline.lanes.len().max(1) as f64)
        .clamp(LANE_HEIGHT_MIN_PX, LANE_HEIGHT_MAX_PX);
    let lane_pitch = LANE_TITLE_PX + lane_height;
    let lanes_bottom = lanes_top + timeline.lanes.len() as f64 * lane_pitch;
    let height = lanes_bottom + BOTTOM_AXIS_PX;

    let _ = writeln!(
        out,
        "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH_PX} {height:.0}\" \
         role=\"img\" aria-label=\"timeline of the run over simulated time\">"
    );
    // The liveness phase, behind everything.
    if let Some(&heal_ns) = timeline.heals_ns.first() {
        let x = time.x(heal_ns);
        let _ = writeln!(
            out,
            "<rect class=\"liveness\" x=\"{x:.1}\" y=\"{faults_top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#e8f5e9\"/>",
            (PLOT_RIGHT_PX - x).max(0.0),
            lanes_bottom - faults_top
        );
    }
    time_grid(out, &time, faults_top, lanes_bottom);
    fault_rows(out, &timeline.faults, &rows, &time, faults_top);
    heals(out, timeline, &time, faults_top, lanes_bottom);
    proof_strip(out, report, timeline, anchors, &time, proofs_top);
    let consumer_colours: BTreeMap<&str, &str> = timeline
        .consumers
        .iter()
        .enumerate()
        .map(|(index, name)| {
            (
                name.as_str(),
                CONSUMER_COLOURS[index % CONSUMER_COLOURS.len()],
            )
        })
        .collect();
    for (number, (key, lane)) in timeline.lanes.iter().enumerate() {
        let top = lanes_top + number as f64 * lane_pitch + LANE_TITLE_PX;
        let offsets = OffsetScale {
            bottom_px: top + lane_height,
            height_px: lane_height,
            offset_max: offset_axis_max(lane.offset_max()),
        };
        draw_lane(out, key, lane, &offsets, &time, &consumer_colours, anchors);
    }
    if timeline.lanes.is_empty() {
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no partition appears in the history</text>",
            (PLOT_LEFT_PX + PLOT_RIGHT_PX) / 2.0,
            lanes_top + 14.0
        );
    }
    time_axis(out, &time, lanes_bottom);
    out.push_str("</svg>\n");
}

/// The legend above the drawing: one entry per kind of mark, in the drawing's colours.
pub(crate) fn legend(out: &mut String, timeline: &Timeline) {
    out.push_str("<ul class=\"legend\">\n");
    let mut item = |swatch: String, text: &str| {
        let _ = writeln!(out, "<li>{swatch}{}</li>", escape(text));
    };
    item(
        format!("<span class=\"swatch dot\" style=\"background:{ACK_COLOUR}\"></span>"),
        "producer acknowledgement (send ok)",
    );
    for (index, name) in timeline.consumers.iter().enumerate() {
        let colour = CONSUMER_COLOURS[index % CONSUMER_COLOURS.len()];
        item(
            format!("<span class=\"swatch\" style=\"border-color:{colour}\"></span>"),
            &format!("{name} delivered offsets (poll ok)"),
        );
    }
    item(
        format!("<span class=\"swatch\" style=\"border-color:{LOG_START_COLOUR}\"></span>"),
        "log start offset (leader's)",
    );
    if timeline
        .lanes
        .values()
        .any(|lane| !lane.replica_log_starts.is_empty())
    {
        item(
            format!(
                "<span class=\"swatch dot-line\" style=\"border-color:{LOG_START_COLOUR}\"></span>"
            ),
            "a replica's own log start (hover for the broker)",
        );
    }
    item(
        format!(
            "<span class=\"swatch dash\" style=\"border-color:{HIGH_WATERMARK_COLOUR}\"></span>"
        ),
        "high watermark",
    );
    item(
        "<span>▼</span>".to_string(),
        "leader change (bN = broker N)",
    );
    item(
        "<span class=\"swatch bar\" style=\"background:#f4a582\"></span>".to_string(),
        "fault, until its repair",
    );
    item(
        format!("<span class=\"swatch dash\" style=\"border-color:{HEAL_COLOUR}\"></span>"),
        "heal; liveness phase shaded",
    );
    item(
        format!("<span class=\"swatch ring\" style=\"border-color:{ANOMALY_COLOUR}\"></span>"),
        "event proving an anomaly (hover for the line, click for the anomaly)",
    );
    out.push_str("</ul>\n");
}

/// over `span_ns`.
fn time_step_ns(span_ns: u64, ticks_max: u64) -> u64 {
    let ticks_max = ticks_max.max(1);
    let mut magnitude: u64 = 1_000; // 1 µs
    loop {
        for factor in [1, 2, 5] {
            let step = magnitude.saturating_mul(factor);
            if span_ns / step <= ticks_max {
                return step;
            }
        }
        if magnitude > u64::MAX / 10 {
            return u64::MAX;
        }
        magnitude *= 10;
    }
}

/// Seconds with as many decimals as the step needs: `0.5 s`, `12 s`.
fn seconds_label(time_ns: u64, step_ns: u64) -> String {
    let decimals = match step_ns {
        step if step >= 1_000_000_000 => 0,
        step if step >= 100_000_000 => 1,
        step if step >= 10_000_000 => 2,
        step if step >= 1_000_000 => 3,
        _ => 6,
    };
    format!("{:.*} s", decimals, time_ns as f64 / 1e9)
}

fn time_grid(out: &mut String, time: &TimeScale, top: f64, bottom: f64) {
    out.push_str("<g class=\"grid\" stroke=\"#e6e6e6\" stroke-width=\"1\">\n");
    // The break has the heal's line instead.
    for (tick, _, _) in time.ticks().into_iter().filter(|tick| !tick.2) {
        let x = time.x(tick);
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\"/>"
        );
    }
    out.push_str("</g>\n");
}

fn time_axis(out: &mut String, time: &TimeScale, axis_y: f64) {
    let caption_y = axis_y + 32.0;
    match time.axis_break {
        None => {
            let _ = writeln!(
                out,
                "<line x1=\"{PLOT_LEFT_PX}\" y1=\"{axis_y:.1}\" x2=\"{PLOT_RIGHT_PX}\" y2=\"{axis_y:.1}\" stroke=\"#333\"/>"
            );
        }
        Some(AxisBreak { x, .. }) => {
            // The axis, cut at the break by a gap with a break mark (//) in it.
            let _ = writeln!(
                out,
                "<g class=\"axis-break\" stroke=\"#333\"><title>the time scale changes at the heal</title>\
                 <line x1=\"{PLOT_LEFT_PX}\" y1=\"{axis_y:.1}\" x2=\"{PLOT_RIGHT_PX}\" y2=\"{axis_y:.1}\"/>\
                 <rect x=\"{:.1}\" y=\"{:.1}\" width=\"10\" height=\"16\" fill=\"#fff\" stroke=\"none\"/>\
                 <path d=\"M{:.1} {:.1}l5 -16M{:.1} {:.1}l5 -16\" fill=\"none\" stroke-width=\"1.6\"/></g>",
                x - 5.0,
                axis_y - 8.0,
                x - 7.5,
                axis_y + 8.0,
                x + 2.5,
                axis_y + 8.0,
            );
        }
    }
    for (tick, label, is_break) in time.ticks() {
        let x = time.x(tick);
        if is_break {
            // The break mark is its tick.
            let _ = writeln!(
                out,
                "<text class=\"axis axis-break-label\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" \
                 style=\"fill:{HEAL_COLOUR};font-weight:600\"><title>the heal</title>{label}</text>",
                axis_y + 18.0,
            );
            continue;
        }
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{axis_y:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#333\"/>\
             <text class=\"axis\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
            axis_y + 4.0,
            axis_y + 16.0,
        );
    }
    match (time.axis_break, time.compression()) {
        (Some(AxisBreak { x, .. }), Some(compression)) => {
            let _ = writeln!(
                out,
                "<text class=\"axis\" x=\"{:.1}\" y=\"{caption_y:.1}\" text-anchor=\"middle\">simulated time (s)</text>\
                 <text class=\"axis axis-compression\" x=\"{:.1}\" y=\"{caption_y:.1}\" text-anchor=\"middle\" \
                 style=\"fill:{HEAL_COLOUR}\">after the heal: compressed {}×</text>",
                (PLOT_LEFT_PX + x) / 2.0,
                (x + PLOT_RIGHT_PX) / 2.0,
                compression_label(compression),
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "<text class=\"axis\" x=\"{:.1}\" y=\"{caption_y:.1}\" text-anchor=\"middle\">simulated time (s)</text>",
                (PLOT_LEFT_PX + PLOT_RIGHT_PX) / 2.0,
            );
        }
    }
}

/// A compression factor for people: `2.5`, `12`.
fn compression_label(compression: f64) -> String {
    if compression < 10.0 {
        format!("{compression:.1}")
    } else {
        format!("{compression:.0}")
    }
}

fn fault_colour(span: &FaultSpan) -> &'static str {
    match span.kind.as_str() {
        "crash" | "close" | "pause" => "#f4a582",
        "partition" | "clog" | "loss" | "latency" => "#92c5de",
        "disk" => "#c2a5cf",
        _ => "#888888",
    }
}

fn label_width_px(label: &str) -> f64 {
    label.chars().count() as f64 * LABEL_CHAR_PX + 6.0
}

/// Lays fault spans out in rows so that bars and their labels do not overlap: each span goes to
/// the first row free at its start. Returns each span's (row, label shown) and the rows used.
fn pack_faults(faults: &[FaultSpan], time: &TimeScale) -> (Vec<(usize, bool)>, usize) {
    let mut row_ends_px: Vec<f64> = Vec::new();
    let mut placement = Vec::with_capacity(faults.len());
    for span in faults {
        let start = time.x(span.start_ns) - if span.instant { 4.0 } else { 0.0 };
        let end = time
            .x(span.end_ns)
            .max(start + label_width_px(&span.label()) + 8.0);
        let free = row_ends_px
            .iter()
            .position(|&row_end| row_end + 2.0 <= start);
        match free {
            Some(row) => {
                row_ends_px[row] = end;
                placement.push((row, true));
            }
            None if row_ends_px.len() < FAULT_ROWS_MAX => {
                row_ends_px.push(end);
                placement.push((row_ends_px.len() - 1, true));
            }
            None => {
                // Every row is busy: share the one that frees up first, without a label.
                let (row, _) = row_ends_px
                    .iter()
                    .enumerate()
                    .min_by(|a, b| a.1.total_cmp(b.1))
                    .expect("FAULT_ROWS_MAX > 0");
                let bar_end = time.x(span.end_ns);
                row_ends_px[row] = row_ends_px[row].max(bar_end);
                placement.push((row, false));
            }
        }
    }
    let rows = row_ends_px.len();
    (placement, rows)
}

fn fault_rows(
    out: &mut String,
    faults: &[FaultSpan],
    placement: &[(usize, bool)],
    time: &TimeScale,
    top: f64,
) {
    let _ = writeln!(
        out,
        "<text class=\"lane\" x=\"8\" y=\"{:.1}\">faults</text>",
        top + 11.0
    );
    if faults.is_empty() {
        let _ = writeln!(
            out,
            "<text x=\"{PLOT_LEFT_PX}\" y=\"{:.1}\">no faults in the history</text>",
            top + 11.0
        );
        return;
    }
    out.push_str("<g class=\"faults\">\n");
    for (span, &(row, labelled)) in faults.iter().zip(placement) {
        let y = top + row as f64 * FAULT_ROW_HEIGHT_PX;
        let x = time.x(span.start_ns);
        let tooltip = fault_tooltip(span);
        if span.instant {
            let _ = write!(
                out,
                "<g><title>{}</title><path d=\"M{x:.1} {:.1}l4.5 6l-4.5 6l-4.5 -6z\" fill=\"#555\"/>",
                escape(&tooltip),
                y + 1.0
            );
            if labelled {
                let _ = write!(
                    out,
                    "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                    x + 6.0,
                    y + 11.0,
                    escape(&span.label())
                );
            }
            out.push_str("</g>\n");
        } else {
            let width = (time.x(span.end_ns) - x).max(2.0);
            let open = if span.repaired_by.is_none() {
                " stroke-dasharray=\"3 2\""
            } else {
                ""
            };
            let _ = write!(
                out,
                "<g><title>{}</title><rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{width:.1}\" height=\"12\" rx=\"2\" \
                 fill=\"{}\" stroke=\"#666\" stroke-width=\"0.6\"{open}/>",
                escape(&tooltip),
                y + 1.0,
                fault_colour(span),
            );
            if labelled {
                let _ = write!(
                    out,
                    "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                    x + 3.0,
                    y + 11.0,
                    escape(&span.label())
                );
            }
            out.push_str("</g>\n");
        }
    }
    out.push_str("</g>\n");
}

fn fault_tooltip(span: &FaultSpan) -> String {
    let start = facts::seconds_from_ns(span.start_ns);
    if span.instant {
        return format!("{} at {start} (history line {})", span.label(), span.line);
    }
    match &span.repaired_by {
        Some(repair) => format!(
            "{} from {start} to {} ({repair}); history line {}",
            span.label(),
            facts::seconds_from_ns(span.end_ns),
            span.line
        ),
        None => format!(
            "{} from {start}, never repaired; history line {}",
            span.label(),
            span.line
        ),
    }
}

fn heals(out: &mut String, timeline: &Timeline, time: &TimeScale, top: f64, bottom: f64) {
    const LABEL: &str = "heal → liveness phase";
    for &heal_ns in &timeline.heals_ns {
        let x = time.x(heal_ns);
        // The label goes right of the line, or left of it when it would run off the plot.
        let (label_x, anchor) = if x + label_width_px(LABEL) <= PLOT_RIGHT_PX {
            (x + 3.0, "start")
        } else {
            (x - 3.0, "end")
        };
        let _ = writeln!(
            out,
            "<g class=\"heal\"><title>heal at {}: every fault repaired, the liveness phase begins</title>\
             <line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"{HEAL_COLOUR}\" \
             stroke-width=\"1.5\" stroke-dasharray=\"5 3\"/>\
             <text x=\"{label_x:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" style=\"fill:{HEAL_COLOUR}\">{LABEL}</text></g>",
            escape(&facts::seconds_from_ns(heal_ns)),
            top - 12.0,
            top - 6.0,
        );
    }
}

/// The tooltip of a proving event: the anomalies it proves and the line.
fn proof_tooltip(report: &RunReport, anchors: &Anchors, line: u64, anomalies: &[usize]) -> String {
    let mut labels: Vec<&str> = anomalies
        .iter()
        .filter_map(|index| anchors.by_index.get(index).map(|(_, label)| label.as_str()))
        .take(8)
        .collect();
    labels.dedup();
    let more = anomalies.len().saturating_sub(8);
    let mut tooltip = format!("proves {}", labels.join(", "));
    if more > 0 {
        tooltip.push_str(&format!(" and {more} more"));
    }
    let json = facts::history_line(report, line).unwrap_or_default();
    tooltip.push_str(&format!(
        "\nline {line}: {}",
        facts::shorten(&json, facts::CONTEXT_LINE_CHARS_MAX)
    ));
    tooltip
}

fn proof_href(anchors: &Anchors, anomalies: &[usize]) -> String {
    anomalies
        .first()
        .and_then(|index| anchors.by_index.get(index))
        .map_or_else(
            || "#anomalies".to_string(),
            |(anchor, _)| format!("#{anchor}"),
        )
}

fn proof_strip(
    out: &mut String,
    report: &RunReport,
    timeline: &Timeline,
    anchors: &Anchors,
    time: &TimeScale,
    top: f64,
) {
    let _ = writeln!(
        out,
        "<text class=\"lane\" x=\"8\" y=\"{:.1}\">anomaly proofs</text>\
         <line x1=\"{PLOT_LEFT_PX}\" y1=\"{:.1}\" x2=\"{PLOT_RIGHT_PX}\" y2=\"{:.1}\" stroke=\"#eee\"/>",
        top + 12.0,
        top + PROOF_STRIP_HEIGHT_PX / 2.0,
        top + PROOF_STRIP_HEIGHT_PX / 2.0,
    );
    if timeline.proofs.is_empty() {
        return;
    }
    out.push_str("<g class=\"proofs\">\n");
    for proof in &timeline.proofs {
        let x = time.x(proof.time_ns);
        let _ = writeln!(
            out,
            "<a class=\"proof\" href=\"{}\"><title>{}</title>\
             <path d=\"M{x:.1} {:.1}l5 7l-5 7l-5 -7z\" fill=\"{ANOMALY_COLOUR}\" fill-opacity=\"0.8\"/></a>",
            proof_href(anchors, &proof.anomalies),
            escape(&proof_tooltip(report, anchors, proof.line, &proof.anomalies)),
            top + 2.0,
        );
    }
    out.push_str("</g>\n");
}

/// A round upper bound for an offset axis, at least `max`: 1, 2, 3, 4, 5, 6 or 8 times a power of
/// ten (so the axis wastes at most a third of the lane).
fn offset_axis_max(max: u64) -> u64 {
    let mut magnitude: u64 = 1;
    loop {
        for factor in [1, 2, 3, 4, 5, 6, 8] {
            let bound = magnitude.saturating_mul(factor);
            if bound >= max {
                return bound.max(1);
            }
        }
        if magnitude > u64::MAX / 10 {
            return u64::MAX;
        }
        magnitude *= 10;
    }
}

fn draw_lane(
    out: &mut String,
    key: &LaneKey,
    lane: &Lane,
    offsets: &OffsetScale,
    time: &TimeScale,
    consumer_colours: &BTreeMap<&str, &str>,
    anchors: &Anchors,
) {
    let (topic, partition) = key;
    let top = offsets.bottom_px - offsets.height_px;
    let _ = writeln!(
        out,
        "<g class=\"lane\" data-topic=\"{}\" data-partition=\"{partition}\">",
        escape(topic)
    );
    let _ = writeln!(
        out,
        "<text class=\"lane\" x=\"8\" y=\"{:.1}\">{} / partition {partition}</text>",
        top - 6.0,
        escape(topic)
    );
    let _ = writeln!(
        out,
        "<rect x=\"{PLOT_LEFT_PX}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#bbb\"/>",
        PLOT_RIGHT_PX - PLOT_LEFT_PX,
        offsets.height_px
    );
    // The offset axis: 0, the middle, the top.
    let middle = (offsets.offset_max >= 2).then_some(offsets.offset_max / 2);
    for offset in [Some(0), middle, Some(offsets.offset_max)]
        .into_iter()
        .flatten()
    {
        let y = offsets.y(offset);
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{offset}</text>",
            PLOT_LEFT_PX - 5.0,
            y + 3.5
        );
        if Some(offset) == middle {
            let _ = writeln!(
                out,
                "<line x1=\"{PLOT_LEFT_PX}\" y1=\"{y:.1}\" x2=\"{PLOT_RIGHT_PX}\" y2=\"{y:.1}\" stroke=\"#f0f0f0\"/>"
            );
        }
    }
    let _ = writeln!(
        out,
        "<text x=\"8\" y=\"{:.1}\" fill=\"#777\" style=\"fill:#777\">offsets</text>",
        top + offsets.height_px / 2.0 + 3.5
    );

    // The high watermark and the log start: step lines.
    let end_x = time.x(time.end_ns);
    if let Some(path) = step_path(&lane.high_watermark, time, offsets, None) {
        let _ = writeln!(
            out,
            "<path class=\"high-watermark\" d=\"{path}\" fill=\"none\" stroke=\"{HIGH_WATERMARK_COLOUR}\" \
             stroke-width=\"1.2\" stroke-dasharray=\"4 3\"/>"
        );
    }
    for (broker, points) in &lane.replica_log_starts {
        if let Some(path) = step_path(points, time, offsets, Some(end_x)) {
            let _ = writeln!(
                out,
                "<path class=\"replica-log-start\" d=\"{path}\" fill=\"none\" stroke=\"{LOG_START_COLOUR}\" \
                 stroke-width=\"1.2\" stroke-dasharray=\"1 3\"><title>broker {broker}'s log start</title></path>"
            );
        }
    }
    if let Some(path) = step_path(&lane.log_start, time, offsets, Some(end_x)) {
        let _ = writeln!(
            out,
            "<path class=\"log-start\" d=\"{path}\" fill=\"none\" stroke=\"{LOG_START_COLOUR}\" stroke-width=\"1.8\"/>"
        );
    }
    // Acknowledgements: dots, at most two per pixel column (the lowest and the highest).
    if !lane.acks.is_empty() {
        let mut path = String::new();
        for (x, y) in thin_dots(&lane.acks, time, offsets) {
            let _ = write!(path, "M{x:.1} {y:.1}h0");
        }
        let _ = writeln!(
            out,
            "<path class=\"acks\" d=\"{path}\" stroke=\"{ACK_COLOUR}\" stroke-opacity=\"0.55\" stroke-width=\"3\" stroke-linecap=\"round\"/>"
        );
    }
    // Consumer deliveries: one polyline per segment.
    for (process, series) in &lane.consumers {
        let colour = consumer_colours
            .get(process.as_str())
            .copied()
            .unwrap_or("#000");
        let mut path = String::new();
        for segment in &series.segments {
            let points = thin_line(segment, time, offsets);
            for (index, (x, y)) in points.iter().enumerate() {
                let command = if index == 0 { 'M' } else { 'L' };
                let _ = write!(path, "{command}{x:.1} {y:.1}");
            }
            if points.len() == 1 {
                path.push_str("h0.5");
            }
        }
        let _ = writeln!(
            out,
            "<path class=\"consumer\" d=\"{path}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.6\" \
             stroke-linejoin=\"round\" stroke-linecap=\"round\"><title>{} delivered offsets</title></path>",
            escape(process)
        );
    }
    // Leader changes: a triangle at the top of the lane, labelled with the new leader.
    for leader in &lane.leaders {
        let x = time.x(leader.time_ns);
        let _ = writeln!(
            out,
            "<g class=\"leader\"><title>leader of {} / {partition}: broker {}, epoch {} at {} (line {})</title>\
             <path d=\"M{:.1} {top:.1}h8l-4 7z\" fill=\"#222\"/><text x=\"{:.1}\" y=\"{:.1}\">b{}</text></g>",
            escape(topic),
            leader.broker,
            leader.epoch,
            facts::seconds_from_ns(leader.time_ns),
            leader.line,
            x - 4.0,
            x + 5.0,
            top + 8.0,
            leader.broker,
        );
    }
    // Proving events: red rings, or red bars over a range of offsets.
    for mark in &lane.marks {
        let x = time.x(mark.time_ns);
        let tooltip = format!(
            "{} / {partition}, offsets {}..={}: {}",
            topic,
            mark.offset_low,
            mark.offset_high,
            anomaly_labels(anchors, &mark.anomalies)
        );
        let shape = if mark.offset_low == mark.offset_high {
            format!(
                "<circle cx=\"{x:.1}\" cy=\"{:.1}\" r=\"5\" fill=\"none\" stroke=\"{ANOMALY_COLOUR}\" stroke-width=\"2\"/>",
                offsets.y(mark.offset_low)
            )
        } else {
            let y_high = offsets.y(mark.offset_high);
            let y_low = offsets.y(mark.offset_low);
            format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"5\" height=\"{:.1}\" fill=\"none\" stroke=\"{ANOMALY_COLOUR}\" stroke-width=\"2\"/>",
                x - 2.5,
                y_high - 3.0,
                (y_low - y_high) + 6.0
            )
        };
        let _ = writeln!(
            out,
            "<a class=\"proof\" href=\"{}\"><title>line {}: {}</title>{shape}</a>",
            proof_href(anchors, &mark.anomalies),
            mark.line,
            escape(&tooltip)
        );
    }
    out.push_str("</g>\n");
}

fn anomaly_labels(anchors: &Anchors, anomalies: &[usize]) -> String {
    let labels: Vec<&str> = anomalies
        .iter()
        .filter_map(|index| anchors.by_index.get(index).map(|(_, label)| label.as_str()))
        .take(8)
        .collect();
    let mut text = format!("proves {}", labels.join(", "));
    if anomalies.len() > 8 {
        text.push_str(&format!(" and {} more", anomalies.len() - 8));
    }
    text
}

/// A step line through `points` (sorted by time), ending at `end_x` when given.
fn step_path(
    points: &[Point],
    time: &TimeScale,
    offsets: &OffsetScale,
    end_x: Option<f64>,
) -> Option<String> {
    let thinned = thin_line(points, time, offsets);
    let (first_x, first_y) = *thinned.first()?;
    let mut path = format!("M{first_x:.1} {first_y:.1}");
    for &(x, y) in &thinned[1..] {
        let _ = write!(path, "H{x:.1}V{y:.1}");
    }
    if let Some(end_x) = end_x {
        let _ = write!(path, "H{end_x:.1}");
    }
    Some(path)
}

/// Points as pixels, thinned for dots: per pixel column, the lowest and the highest point.
fn thin_dots(points: &[Point], time: &TimeScale, offsets: &OffsetScale) -> Vec<(f64, f64)> {
    // Column -> (min y, max y) in pixels.
    let mut columns: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
    for point in points {
        let x = time.x(point.time_ns);
        let y = offsets.y(point.offset);
        let column = x.floor() as i64;
        let entry = columns.entry(column).or_insert((y, y));
        entry.0 = entry.0.min(y);
        entry.1 = entry.1.max(y);
    }
    let mut dots = Vec::with_capacity(columns.len() * 2);
    for (column, (y_min, y_max)) in columns {
        let x = column as f64 + 0.5;
        dots.push((x, y_min));
        if (y_max - y_min).abs() >= 1.0 {
            dots.push((x, y_max));
        }
    }
    dots
}

/// A line's points as pixels, thinned: within each pixel column only the first, the lowest, the
/// highest and the last point are kept, in their order. A line of a million points keeps at most
/// four per column, and still shows every jump.
fn thin_line(points: &[Point], time: &TimeScale, offsets: &OffsetScale) -> Vec<(f64, f64)> {
    let mut kept: Vec<(f64, f64)> = Vec::new();
    let mut start = 0;
    while start < points.len() {
        let column = time.x(points[start].time_ns).floor();
        let mut end = start;
        while end < points.len() && time.x(points[end].time_ns).floor() == column {
            end += 1;
        }
        let run = &points[start..end];
        let mut picks = [0, 0, 0, run.len() - 1];
        for (index, point) in run.iter().enumerate() {
            if point.offset < run[picks[1]].offset {
                picks[1] = index;
            }
            if point.offset > run[picks[2]].offset {
                picks[2] = index;
            }
        }
        let mut picks = picks.to_vec();
        picks.sort_unstable();
        picks.dedup();
        for pick in picks {
            let point = run[pick];
            kept.push((time.x(point.time_ns), offsets.y(point.offset)));
        }
        start = end;
    }
    kept
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_steps_are_round_and_few() {
        assert_eq!(time_step_ns(15_480_000_000, 12), 2_000_000_000);
        assert_eq!(time_step_ns(86_000_000_000, 12), 10_000_000_000);
        assert_eq!(time_step_ns(120_000_000_000, 4), 50_000_000_000);
        assert_eq!(time_step_ns(1, 12), 1_000);
        assert!(time_step_ns(u64::MAX, 12) > 0);
        assert!(time_step_ns(u64::MAX, 0) > 0);
        assert_eq!(seconds_label(4_000_000_000, 2_000_000_000), "4 s");
        assert_eq!(seconds_label(500_000_000, 500_000_000), "0.5 s");
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn a_long_liveness_phase_gets_the_smaller_part_of_a_broken_axis() {
        const S: u64 = 1_000_000_000;
        let time = TimeScale::new(140 * S, Some(20 * S));
        let axis_break = time
            .axis_break
            .expect("a 120 s liveness phase breaks the axis");
        let width = PLOT_RIGHT_PX - PLOT_LEFT_PX;
        assert_eq!(axis_break.at_ns, 20 * S);
        assert!(close(axis_break.x, PLOT_LEFT_PX + 0.78 * width));
        // Both pieces are linear and meet at the heal.
        assert!(close(time.x(0), PLOT_LEFT_PX));
        assert!(close(time.x(10 * S), PLOT_LEFT_PX + 0.39 * width));
        assert!(close(time.x(20 * S), axis_break.x));
        assert!(close(time.x(80 * S), (axis_break.x + PLOT_RIGHT_PX) / 2.0));
        assert!(close(time.x(140 * S), PLOT_RIGHT_PX));
        assert!(close(time.x(u64::MAX), PLOT_RIGHT_PX));
        // Later is never left of earlier.
        let xs: Vec<f64> = (0..=1_400).map(|tenth| time.x(tenth * S / 10)).collect();
        assert!(xs.windows(2).all(|pair| pair[0] < pair[1]));
        // (0.78 / 20 s) / (0.22 / 120 s)
        assert!(close(
            time.compression().unwrap(),
            0.78 * 120.0 / (0.22 * 20.0)
        ));
        assert_eq!(compression_label(time.compression().unwrap()), "21");
        // Each side has its own round ticks; the break is labelled with the heal's time.
        let ticks = time.ticks();
        let labels: Vec<&str> = ticks.iter().map(|(_, label, _)| label.as_str()).collect();
        assert_eq!(
            labels,
            vec![
                "0 s", "2 s", "4 s", "6 s", "8 s", "10 s", "12 s", "14 s", "16 s", "18 s",
                "20.0 s", "50 s", "100 s"
            ]
        );
        for (tick, label, is_break) in &ticks {
            assert_eq!(*is_break, *tick == 20 * S, "{label}");
            assert_eq!(
                label.trim_end_matches(" s").parse::<f64>().unwrap(),
                *tick as f64 / S as f64
            );
        }
    }

    #[test]
    fn a_short_liveness_phase_or_none_keeps_one_linear_scale() {
        const S: u64 = 1_000_000_000;
        // pid-loss: a heal at 32.5 s of 37.5 s.
        assert_eq!(
            TimeScale::new(37_500_000_000, Some(32_500_000_000)).axis_break,
            None
        );
        // Breaking at 64% would compress the liveness phase less than twice.
        assert_eq!(TimeScale::new(100 * S, Some(65 * S)).axis_break, None);
        assert!(TimeScale::new(100 * S, Some(63 * S)).axis_break.is_some());
        assert_eq!(TimeScale::new(100 * S, None).axis_break, None);
        assert_eq!(TimeScale::new(100 * S, Some(0)).axis_break, None);
        assert_eq!(TimeScale::new(100 * S, Some(100 * S)).axis_break, None);
        assert_eq!(TimeScale::new(0, Some(0)).axis_break, None);
        let time = TimeScale::new(100 * S, None);
        assert!(close(time.x(50 * S), (PLOT_LEFT_PX + PLOT_RIGHT_PX) / 2.0));
        let labels: Vec<String> = time
            .ticks()
            .into_iter()
            .map(|(_, label, _)| label)
            .collect();
        assert_eq!(labels.first().map(String::as_str), Some("0 s"));
        assert_eq!(labels.last().map(String::as_str), Some("100 s"));
        assert_eq!(labels.len(), 11);
        // Tiny and huge times do not panic.
        let tiny = TimeScale::new(10, Some(1));
        assert!(tiny.axis_break.is_some());
        assert!(!tiny.ticks().is_empty());
        let huge = TimeScale::new(u64::MAX, Some(u64::MAX / 100));
        assert!(!huge.ticks().is_empty());
    }

    #[test]
    fn offset_axis_rounds_up() {
        assert_eq!(offset_axis_max(0), 1);
        assert_eq!(offset_axis_max(258), 300);
        assert_eq!(offset_axis_max(7), 8);
        assert_eq!(offset_axis_max(1_000), 1_000);
        assert_eq!(offset_axis_max(u64::MAX), u64::MAX);
    }

    #[test]
    fn thinning_keeps_at_most_four_points_per_column_and_the_extremes() {
        let time = TimeScale::linear(1_000);
        let offsets = OffsetScale {
            bottom_px: 100.0,
            height_px: 90.0,
            offset_max: 1_000_000,
        };
        // A million points over ~1000 columns.
        let points: Vec<Point> = (0..1_000_000u64)
            .map(|index| Point {
                time_ns: index / 1_000,
                offset: if index == 500_123 { 0 } else { index },
            })
            .collect();
        let line = thin_line(&points, &time, &offsets);
        assert!(line.len() <= 4 * 1_100, "{} points", line.len());
        // The dip to 0 in the middle survives thinning (the first point is at 0 too).
        assert_eq!(line.iter().filter(|&&(_, y)| y == 100.0).count(), 2);
        let dots = thin_dots(&points, &time, &offsets);
        assert!(dots.len() <= 2 * 1_100, "{} dots", dots.len());
    }
}
