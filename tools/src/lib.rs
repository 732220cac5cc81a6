//! What the bench and the soak share: the binary they drive (`--binary`) and how
//! they read its logs. Everything else they need is the emulator's harness.

use std::path::PathBuf;

use clap::Args;
use serde_json::Value;

/// The `--binary` flag: the irsa-doctor to drive, which must exist.
#[derive(Debug, Args)]
pub struct Binary {
    /// The irsa-doctor to drive (its script builds it first).
    #[arg(
        long = "binary",
        value_name = "PATH",
        default_value = "target/release/irsa-doctor",
        value_parser = existing_file
    )]
    pub path: PathBuf,
}

/// A path to a file that exists, or why not.
fn existing_file(path: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(path);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "no binary at {} (scripts/bench and scripts/soak build it)",
            path.display()
        ))
    }
}

/// How many of the daemon's JSON log lines are at WARN or ERROR.
pub fn warnings_and_errors(lines: &[String]) -> usize {
    lines
        .iter()
        .filter(|line| {
            serde_json::from_str::<Value>(line)
                .is_ok_and(|v| v["level"] == "WARN" || v["level"] == "ERROR")
        })
        .count()
}
