//! The benchmark report `cargo xtask bench` writes: `docs/BENCHMARKS.md`
//! (the machine, then every comparison as ratios next to the times) and
//! `docs/benchmarks.svg` (the ratios as a chart).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// One operation timed with ivm and with a peer.
pub(crate) struct Comparison {
    /// Which comparison it belongs to ("Node v24.1.0: ivm vs isolated-vm 7.0.1").
    pub(crate) section: String,
    pub(crate) operation: String,
    pub(crate) ivm_ns: f64,
    pub(crate) peer_ns: f64,
    /// The most ivm's time may be of the peer's, where there is a goal.
    pub(crate) goal: Option<f64>,
}

impl Comparison {
    /// ivm's time divided by the peer's: below 1, ivm is faster.
    fn ratio(&self) -> f64 {
        self.ivm_ns / self.peer_ns
    }

    fn verdict(&self) -> &'static str {
        match self.goal {
            Some(goal) if self.ratio() <= goal => "met",
            Some(_) => "not met",
            None => "-",
        }
    }
}

/// A figure measured against a goal of its own, with no peer.
pub(crate) struct Target {
    pub(crate) what: String,
    pub(crate) result: String,
    pub(crate) goal: String,
    pub(crate) met: Option<bool>,
}

impl Target {
    pub(crate) fn verdict(&self) -> &'static str {
        match self.met {
            Some(true) => "met",
            Some(false) => "not met",
            None => "-",
        }
    }
}

/// Reads the rows the comparison scripts appended to `path` (tab-separated:
/// section, operation, ivm's ns, the peer's ns, the goal).
pub(crate) fn read_comparisons(path: &Path) -> Vec<Comparison> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let [section, operation, ivm_ns, peer_ns, goal] = fields[..] else { return None };
            Some(Comparison {
                section: section.to_owned(),
                operation: operation.to_owned(),
                ivm_ns: ivm_ns.parse().ok()?,
                peer_ns: peer_ns.parse().ok()?,
                goal: goal.parse().ok(),
            })
        })
        .collect()
}

/// Writes the Markdown report and the chart under `docs/`.
pub(crate) fn write(
    root: &Path,
    comparisons: &[Comparison],
    targets: &[Target],
    notes: &[String],
) -> Result<(), String> {
    let mut markdown = String::new();
    let _ = writeln!(markdown, "# Benchmarks\n");
    let _ = writeln!(
        markdown,
        "Written by `cargo xtask bench` from its last run ({}); do not edit by hand. \
         Each comparison runs ivm and its peer in the same process, alternating, \
         so they share the machine's state. **Ratio** is ivm's time divided by the \
         peer's: below 1, ivm is faster.\n",
        shell(&["date", "-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|| "date unknown".into())
    );
    let _ = writeln!(markdown, "## Machine\n\n{}\n", machine());
    let _ = writeln!(markdown, "![ivm's time relative to each peer's](benchmarks.svg)\n");
    let mut sections: Vec<&str> = comparisons.iter().map(|c| c.section.as_str()).collect();
    sections.dedup();
    for section in sections {
        let _ = writeln!(markdown, "## {section}\n");
        let _ = writeln!(markdown, "| operation | ivm | peer | ratio | goal | |");
        let _ = writeln!(markdown, "|---|---:|---:|---:|---:|---|");
        for c in comparisons.iter().filter(|c| c.section == section) {
            let goal = c.goal.map_or_else(|| "-".to_owned(), |goal| format!("≤ {goal:.3}"));
            let _ = writeln!(
                markdown,
                "| {} | {} | {} | {:.3} | {goal} | {} |",
                c.operation,
                format_ns(c.ivm_ns),
                format_ns(c.peer_ns),
                c.ratio(),
                c.verdict()
            );
        }
        let _ = writeln!(markdown);
    }
    if !targets.is_empty() {
        let _ = writeln!(markdown, "## Goals without a peer\n");
        let _ = writeln!(markdown, "| measurement | result | goal | |");
        let _ = writeln!(markdown, "|---|---|---|---|");
        for t in targets {
            let _ = writeln!(markdown, "| {} | {} | {} | {} |", t.what, t.result, t.goal, t.verdict());
        }
        let _ = writeln!(markdown);
    }
    if !notes.is_empty() {
        let _ = writeln!(markdown, "## Also measured\n");
        for note in notes {
            let _ = writeln!(markdown, "- {note}");
        }
    }
    let docs = root.join("docs");
    std::fs::write(docs.join("BENCHMARKS.md"), markdown).map_err(|e| format!("writing docs/BENCHMARKS.md: {e}"))?;
    std::fs::write(docs.join("benchmarks.svg"), chart(comparisons))
        .map_err(|e| format!("writing docs/benchmarks.svg: {e}"))?;
    println!("\nxtask: wrote docs/BENCHMARKS.md and docs/benchmarks.svg");
    Ok(())
}

/// The ratios as horizontal bars from the line of parity, on a logarithmic
/// axis (ivm is 100x faster than mini-racer and near isolated-vm's speed,
/// so a linear one would show only one of the two).
fn chart(comparisons: &[Comparison]) -> String {
    const PLOT: f64 = 420.0;
    let label = |c: &Comparison| format!("{} · {}", short_section(&c.section), c.operation);
    // Room for the longest label, at about 6.6 px a character of 12 px text.
    let longest = comparisons.iter().map(|c| label(c).chars().count()).max().unwrap_or(0);
    let label_width = longest as f64 * 6.6 + 20.0;
    const ROW: f64 = 22.0;
    const TOP: f64 = 40.0;
    let (low, high) = comparisons
        .iter()
        .map(Comparison::ratio)
        .fold((0.1_f64, 2.0_f64), |(low, high), ratio| (low.min(ratio / 1.5), high.max(ratio * 1.5)));
    let (log_low, log_high) = (low.log10().floor(), high.log10().ceil());
    let x = |ratio: f64| label_width + (ratio.log10() - log_low) / (log_high - log_low) * PLOT;
    let height = TOP + ROW * comparisons.len() as f64 + 40.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" font-family="sans-serif" font-size="12">"#,
        label_width + PLOT + 20.0
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">ivm's time ÷ the peer's (log scale; left of 1 = ivm faster; ticks: goals)</text>"#
    );
    let axis_y = TOP + ROW * comparisons.len() as f64 + 5.0;
    let mut decade = log_low;
    while decade <= log_high {
        let at = x(10f64.powf(decade));
        let _ = writeln!(svg, r##"<line x1="{at}" y1="{TOP}" x2="{at}" y2="{axis_y}" stroke="#ddd"/>"##);
        let _ = writeln!(
            svg,
            r#"<text x="{at}" y="{}" text-anchor="middle">{}</text>"#,
            axis_y + 15.0,
            format_ratio(10f64.powf(decade))
        );
        decade += 1.0;
    }
    let parity = x(1.0);
    for (i, c) in comparisons.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let ratio = c.ratio();
        let (from, to) = if ratio < 1.0 { (x(ratio), parity) } else { (parity, x(ratio)) };
        let color = match c.verdict() {
            "not met" => "#d9534f",
            _ if ratio <= 1.0 => "#5cb85c",
            _ => "#f0ad4e",
        };
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            label_width - 8.0,
            y + 15.0,
            escape(&label(c))
        );
        let _ = writeln!(
            svg,
            r#"<rect x="{from}" y="{}" width="{}" height="{}" fill="{color}"><title>{:.3}</title></rect>"#,
            y + 4.0,
            (to - from).max(1.0),
            ROW - 8.0,
            ratio
        );
        if let Some(goal) = c.goal {
            let at = x(goal);
            let _ = writeln!(
                svg,
                r#"<line x1="{at}" y1="{}" x2="{at}" y2="{}" stroke="black" stroke-width="2"/>"#,
                y + 2.0,
                y + ROW - 2.0
            );
        }
    }
    let _ = writeln!(svg, r#"<line x1="{parity}" y1="{TOP}" x2="{parity}" y2="{axis_y}" stroke="black"/>"#);
    let _ = writeln!(svg, "</svg>");
    svg
}

fn short_section(section: &str) -> &str {
    section.split(':').next().unwrap_or(section)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn format_ratio(ratio: f64) -> String {
    if ratio >= 1.0 { format!("{ratio:.0}") } else { format!("{ratio}") }
}

/// The machine, as far as the report's readers need it to compare numbers.
pub(crate) fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name").and_then(|rest| rest.split(':').nth(1)))
        .map_or("unknown CPU", str::trim)
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or_else(|| "unknown".to_owned(), |kb| format!("{:.0} GiB", kb / 1024.0 / 1024.0));
    let kernel = shell(&["uname", "-sr"]).unwrap_or_default();
    let rustc = shell(&["rustc", "--version"]).unwrap_or_default();
    let node = shell(&["node", "--version"]).unwrap_or_default();
    format!(
        "- CPU: {cores} × {model}\n- memory: {memory_gib}\n- system: {kernel}\n- toolchain: {rustc}; the machine's Node {node}"
    )
}

pub(crate) fn shell(command: &[&str]) -> Option<String> {
    let output = Command::new(command[0]).args(&command[1..]).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

pub(crate) fn format_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}
