//! The bench's output: one `Row` per figure, the Markdown table the README's
//! `<!-- bench:start -->` block is pasted from, and the number formats every
//! concern shares. Progress goes to stderr so stdout keeps just the figures.

use std::time::Duration;

use irsa_doctor_emulator::harness::ProcSample;

pub const MIB: f64 = 1024.0 * 1024.0;

/// One line of the table.
pub struct Row {
    pub figure: String,
    pub value: String,
    pub target: &'static str,
    pub result: &'static str,
}

impl Row {
    /// A figure with a target: `pass` or `fail`.
    pub fn judged(figure: String, value: String, target: &'static str, pass: bool) -> Row {
        Row {
            figure,
            value,
            target,
            result: if pass { "pass" } else { "fail" },
        }
    }

    /// A figure without a target.
    pub fn info(figure: String, value: String) -> Row {
        Row {
            figure,
            value,
            target: "—",
            result: "info",
        }
    }
}

/// Machine facts as a list, the figures as a table, then the notes on the run.
pub fn print_report(facts: &[String], rows: &[Row], notes: &[String]) {
    for fact in facts {
        println!("- {fact}");
    }
    println!();
    println!("| figure | value | target | result |");
    println!("|---|---|---|---|");
    for row in rows {
        println!(
            "| {} | {} | {} | {} |",
            row.figure, row.value, row.target, row.result
        );
    }
    println!();
    for note in notes {
        println!("- {note}");
    }
}

/// Resident memory, and how much of it is anonymous (heap, stacks) versus file-backed
/// (mostly the pages of the binary itself).
pub fn describe_rss(sample: &ProcSample) -> String {
    format!(
        "{} (anon {:.1} + file-backed {:.1})",
        format_mib(sample.rss),
        sample.rss_anon as f64 / MIB,
        sample.rss_file as f64 / MIB
    )
}

/// The nearest-rank percentile `p` (0 < p ≤ 1) of sorted, non-empty `values`.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn format_ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

pub fn format_mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB)
}

/// The plural `s` of a count: "1 client", "50 clients".
pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub fn progress(message: &str) {
    eprintln!("bench: {message}");
}
