//! The runner's output: one table (figure per system, and Volley's figure
//! divided by the other's), or the same as JSON.

use std::fmt::Write as _;

/// What a figure counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Messages per second.
    MessagesPerSecond,
    /// Payload bytes per second.
    BytesPerSecond,
    /// Connections per second.
    ConnectsPerSecond,
    /// Microseconds.
    Micros,
    /// Nanoseconds per message.
    NanosPerMessage,
    /// Percent.
    Percent,
    /// Bytes (of memory).
    Bytes,
}

impl Unit {
    /// Short name, as in the JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Self::MessagesPerSecond => "msg/s",
            Self::BytesPerSecond => "B/s",
            Self::ConnectsPerSecond => "conn/s",
            Self::Micros => "us",
            Self::NanosPerMessage => "ns/msg",
            Self::Percent => "%",
            Self::Bytes => "B",
        }
    }

    /// Whether a larger figure is better.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Self::MessagesPerSecond | Self::BytesPerSecond | Self::ConnectsPerSecond)
    }

    /// `value` in this unit, for people.
    pub fn format(self, value: f64) -> String {
        match self {
            Self::MessagesPerSecond => format!("{} msg/s", si(value)),
            Self::BytesPerSecond => format!("{}B/s", si(value)),
            Self::ConnectsPerSecond => format!("{} conn/s", si(value)),
            Self::Micros => format!("{value:.1} µs"),
            Self::NanosPerMessage => format!("{value:.0} ns/msg"),
            Self::Percent => format!("{value:.2} %"),
            Self::Bytes => format!("{value:.0} B"),
        }
    }
}

/// `value` with an SI prefix and three significant digits.
fn si(value: f64) -> String {
    let (scaled, prefix) = if value >= 1e9 {
        (value / 1e9, " G")
    } else if value >= 1e6 {
        (value / 1e6, " M")
    } else if value >= 1e3 {
        (value / 1e3, " k")
    } else {
        (value, " ")
    };
    let digits = if scaled >= 100.0 {
        0
    } else if scaled >= 10.0 {
        1
    } else {
        2
    };
    format!("{scaled:.digits$}{prefix}")
}

/// One system's figure in a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// The figure.
    Value(f64),
    /// The library cannot express the scenario; why.
    NotApplicable(String),
    /// The run failed; how.
    Failed(String),
    /// Not run; why.
    Skipped(String),
}

/// One line of the table: a figure of one scenario for every system.
#[derive(Debug, Clone)]
pub struct Row {
    /// Scenario name (as `--scenario` takes it).
    pub scenario: String,
    /// What the figure is.
    pub label: String,
    /// Its unit.
    pub unit: Unit,
    /// One cell per system, in the report's system order.
    pub cells: Vec<Cell>,
}

/// The machine a run happened on.
#[derive(Debug, Clone)]
pub struct Machine {
    /// Logical CPUs available.
    pub cores: usize,
    /// Kernel release.
    pub kernel: String,
    /// CPU model.
    pub cpu: String,
}

impl Machine {
    /// The machine this process runs on.
    pub fn this() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".into(), |s| s.trim().to_owned());
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|s| s.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        Self { cores, kernel, cpu }
    }
}

/// A whole run: systems, rows, machine.
#[derive(Debug, Clone)]
pub struct Report {
    /// System names, Volley first.
    pub systems: Vec<&'static str>,
    /// Library versions, same order.
    pub versions: Vec<&'static str>,
    /// The rows.
    pub rows: Vec<Row>,
    /// Where it ran.
    pub machine: Machine,
    /// Quick (CI-sized) run or full.
    pub quick: bool,
}

impl Report {
    /// Volley's figure divided by system `index`'s in `row`, if both exist.
    pub fn ratio(row: &Row, index: usize) -> Option<f64> {
        match (row.cells.first(), row.cells.get(index)) {
            (Some(Cell::Value(volley)), Some(Cell::Value(other))) if *other > 0.0 => {
                Some(volley / other)
            }
            _ => None,
        }
    }

    /// The table, for people.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Volley side by side ({} run) on {} cores, Linux {}, {}",
            if self.quick { "quick" } else { "full" },
            self.machine.cores,
            self.machine.kernel,
            self.machine.cpu
        );
        let versions: Vec<_> =
            self.systems.iter().zip(&self.versions).map(|(s, v)| format!("{s}: {v}")).collect();
        let _ = writeln!(out, "{}", versions.join("; "));
        let _ = writeln!(
            out,
            "Each other system's cell: its figure (Volley / it). ↑ higher is better, ↓ lower is better.\n"
        );
        let mut lines = vec![{
            let mut header = vec!["scenario".to_owned()];
            header.extend(self.systems.iter().map(|s| (*s).to_owned()));
            header
        }];
        for row in &self.rows {
            let arrow = if row.unit.higher_is_better() { "↑" } else { "↓" };
            let mut line = vec![format!("{} {arrow}", row.label)];
            for (i, cell) in row.cells.iter().enumerate() {
                line.push(match cell {
                    Cell::Value(v) => match (i, Self::ratio(row, i)) {
                        (0, _) | (_, None) => row.unit.format(*v),
                        (_, Some(r)) => format!("{} ({r:.2}×)", row.unit.format(*v)),
                    },
                    Cell::NotApplicable(why) => format!("n/a: {why}"),
                    Cell::Failed(why) => format!("FAILED: {why}"),
                    Cell::Skipped(why) => format!("skipped: {why}"),
                });
            }
            lines.push(line);
        }
        let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                lines.iter().filter_map(|l| l.get(c)).map(|s| s.chars().count()).max().unwrap_or(0)
            })
            .collect();
        for (n, line) in lines.iter().enumerate() {
            let cells: Vec<String> =
                line.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
            if n == 0 {
                let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
                let _ = writeln!(out, "|-{}-|", rule.join("-|-"));
            }
        }
        out
    }

    /// The same, as JSON.
    pub fn json(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "{{\"quick\":{},\"machine\":{{\"cores\":{},\"kernel\":{},\"cpu\":{}}},\"systems\":[",
            self.quick,
            self.machine.cores,
            quote(&self.machine.kernel),
            quote(&self.machine.cpu)
        );
        for (i, (name, version)) in self.systems.iter().zip(&self.versions).enumerate() {
            let comma = if i > 0 { "," } else { "" };
            let _ =
                write!(out, "{comma}{{\"name\":{},\"version\":{}}}", quote(name), quote(version));
        }
        out.push_str("],\"rows\":[");
        for (r, row) in self.rows.iter().enumerate() {
            let comma = if r > 0 { "," } else { "" };
            let _ = write!(
                out,
                "{comma}{{\"scenario\":{},\"label\":{},\"unit\":{},\"higher_is_better\":{},\"results\":{{",
                quote(&row.scenario),
                quote(&row.label),
                quote(row.unit.name()),
                row.unit.higher_is_better()
            );
            for (i, (cell, system)) in row.cells.iter().zip(&self.systems).enumerate() {
                let comma = if i > 0 { "," } else { "" };
                let value = match cell {
                    Cell::Value(v) if v.is_finite() => {
                        let ratio = Self::ratio(row, i)
                            .filter(|_| i > 0)
                            .map_or_else(|| "null".to_owned(), |r| format!("{r:.4}"));
                        format!("{{\"value\":{v},\"volley_ratio\":{ratio}}}")
                    }
                    Cell::Value(_) => "{\"failed\":\"not finite\"}".to_owned(),
                    Cell::NotApplicable(why) => format!("{{\"not_applicable\":{}}}", quote(why)),
                    Cell::Failed(why) => format!("{{\"failed\":{}}}", quote(why)),
                    Cell::Skipped(why) => format!("{{\"skipped\":{}}}", quote(why)),
                };
                let _ = write!(out, "{comma}{}:{value}", quote(system));
            }
            out.push_str("}}");
        }
        out.push_str("]}");
        out
    }
}

/// `text` as a JSON string.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::{Cell, Machine, Report, Row, Unit, quote, si};

    #[test]
    fn prefixes_keep_three_digits() {
        assert_eq!(si(5_123_000.0), "5.12 M");
        assert_eq!(si(45_600.0), "45.6 k");
        assert_eq!(si(812.0), "812 ");
    }

    #[test]
    fn json_escapes_text() {
        assert_eq!(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
    }

    #[test]
    fn ratio_is_volley_over_other() {
        let row = Row {
            scenario: "s".into(),
            label: "l".into(),
            unit: Unit::MessagesPerSecond,
            cells: vec![Cell::Value(300.0), Cell::Value(100.0), Cell::NotApplicable("x".into())],
        };
        assert_eq!(Report::ratio(&row, 1), Some(3.0));
        assert_eq!(Report::ratio(&row, 2), None);
        let report = Report {
            systems: vec!["Volley", "A", "B"],
            versions: vec!["1", "2", "3"],
            rows: vec![row],
            machine: Machine { cores: 2, kernel: "k".into(), cpu: "c".into() },
            quick: true,
        };
        assert!(report.table().contains("(3.00×)"));
        assert!(report.json().contains("\"volley_ratio\":3.0000"));
    }
}
