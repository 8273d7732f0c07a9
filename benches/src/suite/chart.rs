//! The runner's charts: one SVG per scenario, with a panel per row of the
//! table — a horizontal bar per system, Volley's on top and in its own
//! colour, each other bar labelled with its figure and Volley's ratio to it.
//!
//! Drawn with `plotters`' SVG backend and no font support compiled in: text
//! is laid out with plotters' built-in size estimate and rendered by
//! whatever shows the SVG, so no system fonts are needed to make a chart.

use std::fmt;
use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::report::{Cell, Report, Row};

/// Width of every chart, in pixels.
const WIDTH: u32 = 960;
/// Height of the heading above the panels.
const HEADING: u32 = 58;
/// Height of one system's bar band.
const BAND: u32 = 30;
/// Height of a panel beyond its bands: caption and axis.
const PANEL_EXTRA: u32 = 70;
/// Width of the system names left of the bars.
const NAMES: u32 = 96;
/// Share of the axis kept free right of the longest bar for its label.
const LABEL_ROOM: f64 = 0.55;
/// Reasons longer than this are cut in a chart (the table has them whole).
const REASON_CHARS: usize = 90;

const VOLLEY: RGBColor = RGBColor(216, 84, 32);
const OTHER: RGBColor = RGBColor(110, 130, 160);
const INK: RGBColor = RGBColor(30, 30, 30);
const MUTED: RGBColor = RGBColor(120, 120, 120);
const FONT: &str = "sans-serif";

/// Drawing a chart failed (plotters' error, as text).
#[derive(Debug)]
pub struct ChartError(String);

impl fmt::Display for ChartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "drawing a chart: {}", self.0)
    }
}

impl std::error::Error for ChartError {}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for ChartError {
    fn from(error: DrawingAreaErrorKind<E>) -> Self {
        Self(error.to_string())
    }
}

/// The scenarios of `report`, in order, each once.
pub fn scenario_names(report: &Report) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for row in &report.rows {
        if !names.contains(&row.scenario.as_str()) {
            names.push(&row.scenario);
        }
    }
    names
}

/// The chart of `scenario` (its rows of `report`) as an SVG document.
pub fn scenario_svg(report: &Report, scenario: &str) -> Result<String, ChartError> {
    let rows: Vec<&Row> = report.rows.iter().filter(|r| r.scenario == scenario).collect();
    let bands = u32::try_from(report.systems.len()).unwrap_or(u32::MAX);
    let panel = PANEL_EXTRA + BAND * bands;
    let height = HEADING + panel * u32::try_from(rows.len().max(1)).unwrap_or(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let (heading, body) = root.split_vertically(HEADING);
        let run = if report.quick { "quick run" } else { "full run" };
        heading.draw_text(
            &format!("Volley side by side: {scenario}"),
            &(FONT, 26).into_font().color(&INK),
            (12, 10),
        )?;
        heading.draw_text(
            &format!(
                "{run}, {} cores, Linux {}. After each other system's figure: Volley's as a multiple of it.",
                report.machine.cores, report.machine.kernel
            ),
            &(FONT, 17).into_font().color(&MUTED),
            (12, 36),
        )?;
        let panels = body.split_evenly((rows.len().max(1), 1));
        for (area, row) in panels.iter().zip(&rows) {
            draw_row(area, report, row)?;
        }
        root.present()?;
    }
    Ok(svg)
}

/// One row of the table as a bar panel on `area`.
fn draw_row<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    report: &Report,
    row: &Row,
) -> Result<(), ChartError>
where
    DB::ErrorType: 'static,
{
    let systems = i32::try_from(report.systems.len()).unwrap_or(i32::MAX);
    // Volley's band on top: system `i` sits in segment `systems - 1 - i`.
    let band = |i: usize| systems - 1 - i32::try_from(i).unwrap_or(0);
    let largest = row
        .cells
        .iter()
        .filter_map(|c| if let Cell::Value(v) = c { Some(*v) } else { None })
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let axis_end = if largest > 0.0 { largest / (1.0 - LABEL_ROOM) } else { 1.0 };
    let better = if row.unit.higher_is_better() { "higher is better" } else { "lower is better" };
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{} ({better})", row.label), (FONT, 20).into_font().color(&INK))
        .margin(10)
        .x_label_area_size(26)
        .y_label_area_size(NAMES)
        .build_cartesian_2d(0.0..axis_end, (0..systems).into_segmented())?;
    let unit = row.unit;
    let names = &report.systems;
    let name_of = |value: &SegmentValue<i32>| match value {
        SegmentValue::CenterOf(segment) | SegmentValue::Exact(segment) => {
            usize::try_from(systems - 1 - segment)
                .ok()
                .and_then(|i| names.get(i))
                .map_or_else(String::new, |name| (*name).to_owned())
        }
        SegmentValue::Last => String::new(),
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .x_labels(5)
        .x_label_formatter(&|v| unit.format(*v))
        .y_labels(report.systems.len())
        .y_label_formatter(&name_of)
        .label_style((FONT, 16).into_font().color(&INK))
        .axis_style(MUTED)
        .draw()?;

    let label_style = (FONT, 16).into_font().color(&INK).pos(Pos::new(HPos::Left, VPos::Center));
    let note_style = (FONT, 16)
        .into_font()
        .style(FontStyle::Italic)
        .color(&MUTED)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, cell) in row.cells.iter().enumerate() {
        let segment = band(i);
        match cell {
            Cell::Value(value) if value.is_finite() => {
                let colour = if i == 0 { VOLLEY } else { OTHER };
                let mut bar = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(segment)),
                        (*value, SegmentValue::Exact(segment + 1)),
                    ],
                    colour.filled(),
                );
                bar.set_margin(5, 5, 0, 0);
                chart.plotting_area().draw(&bar)?;
                let label = match Report::ratio(row, i).filter(|_| i > 0) {
                    Some(ratio) => format!("{} (Volley = {ratio:.2}× this)", unit.format(*value)),
                    None => unit.format(*value),
                };
                chart.plotting_area().draw(&Text::new(
                    label,
                    (*value + axis_end * 0.01, SegmentValue::CenterOf(segment)),
                    label_style.clone(),
                ))?;
            }
            other => {
                let note = match other {
                    Cell::NotApplicable(why) => format!("n/a: {why}"),
                    Cell::Failed(why) => format!("FAILED: {why}"),
                    Cell::Skipped(why) => format!("skipped: {why}"),
                    Cell::Value(_) => "not a finite figure".to_owned(),
                };
                chart.plotting_area().draw(&Text::new(
                    shorten(&note),
                    (axis_end * 0.01, SegmentValue::CenterOf(segment)),
                    note_style.clone(),
                ))?;
            }
        }
    }
    Ok(())
}

/// `text` cut to [`REASON_CHARS`] characters.
fn shorten(text: &str) -> String {
    if text.chars().count() <= REASON_CHARS {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(REASON_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// Writes one `<scenario>.svg` per scenario of `report` into `dir` (made
/// if missing); returns the files written.
pub fn write_charts(report: &Report, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for scenario in scenario_names(report) {
        let svg = scenario_svg(report, scenario).map_err(std::io::Error::other)?;
        let path = dir.join(format!("{scenario}.svg"));
        std::fs::write(&path, svg)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::{scenario_names, scenario_svg, shorten};
    use crate::suite::report::{Cell, Machine, Report, Row, Unit};

    fn report() -> Report {
        let row = |scenario: &str, label: &str, unit, cells| Row {
            scenario: scenario.into(),
            label: label.into(),
            unit,
            cells,
        };
        Report {
            systems: vec!["Volley", "ENet C", "raw UDP"],
            versions: vec!["1", "2", "3"],
            rows: vec![
                row(
                    "reliable-64",
                    "reliable 64 B",
                    Unit::MessagesPerSecond,
                    vec![Cell::Value(2.5e6), Cell::Value(2.0e6), Cell::NotApplicable("x".into())],
                ),
                row(
                    "pingpong-busy",
                    "ping-pong median",
                    Unit::Micros,
                    vec![Cell::Value(8.0), Cell::Failed("timed out".into()), Cell::Value(6.0)],
                ),
                row(
                    "pingpong-busy",
                    "ping-pong p99",
                    Unit::Micros,
                    vec![Cell::Value(12.0), Cell::Value(20.0), Cell::Value(0.0)],
                ),
            ],
            machine: Machine { cores: 2, kernel: "k".into(), cpu: "c".into() },
            quick: true,
        }
    }

    #[test]
    fn one_chart_per_scenario_with_figures_ratios_and_reasons() {
        let report = report();
        assert_eq!(scenario_names(&report), ["reliable-64", "pingpong-busy"]);
        let svg = scenario_svg(&report, "reliable-64").expect("drawn");
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("reliable 64 B (higher is better)"), "{svg}");
        assert!(svg.contains("(Volley = 1.25× this)"), "{svg}");
        assert!(svg.contains("n/a: x"), "{svg}");
        assert!(svg.contains("\nENet C\n"), "{svg}");
        // Two rows of the same scenario make two panels of one chart.
        let svg = scenario_svg(&report, "pingpong-busy").expect("drawn");
        assert!(svg.contains("ping-pong median (lower is better)"), "{svg}");
        assert!(svg.contains("ping-pong p99 (lower is better)"), "{svg}");
        assert!(svg.contains("FAILED: timed out"), "{svg}");
        assert!(svg.contains("(Volley = 0.60× this)"), "{svg}");
    }

    #[test]
    fn long_reasons_are_cut() {
        let long = "y".repeat(200);
        assert_eq!(shorten(&long).chars().count(), super::REASON_CHARS);
        assert_eq!(shorten("short"), "short");
    }
}
