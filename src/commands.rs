//! The one-shot subcommands: `check` and `decode`.

use std::io::Read;
use std::path::Path;

use crate::config::Format;
use crate::probes::LiveProbe;
use crate::state::State;
use crate::watch;
use irsa_doctor_core::token::{self, MAX_TOKEN_BYTES, MalformedToken};

/// Runs every check once and prints the report; returns the exit code (0 ok, 1 warning, 2 critical).
pub async fn check(state: &State, probe: &LiveProbe, format: Format) -> i32 {
    watch::read_all(state);
    if let Some(path) = &state.config.trust_policy_file {
        state.reload_trust_policy(path);
    }
    // The pod's spec beside the probe; an API that does not answer costs at most its timeout.
    let pod_spec = async {
        if crate::kubernetes::configured() {
            crate::kubernetes::Reader::new().read_once(state).await;
        }
    };
    tokio::join!(probe.run_once(), pod_spec);
    let report = state.report(crate::host::now());
    match format {
        Format::Json => println!("{}", report.to_json()),
        Format::Text => print!("{}", report.to_text()),
    }
    report.status.exit_code()
}

/// Errors of `decode`, each a single line for the terminal.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(transparent)]
    Read(#[from] token::ReadError),
    #[error("cannot read standard input: {0}")]
    Stdin(std::io::Error),
    #[error("standard input is not a JWT: {0}")]
    Malformed(#[from] MalformedToken),
}

/// `decode`: header and claims as pretty JSON, never the signature. `-` reads standard input.
pub fn decode(source: &str) -> Result<String, DecodeError> {
    let decoded = if source == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .take(MAX_TOKEN_BYTES + 1)
            .read_to_end(&mut buf)
            .map_err(DecodeError::Stdin)?;
        if buf.len() as u64 > MAX_TOKEN_BYTES {
            return Err(MalformedToken::TooLarge {
                size: buf.len() as u64,
            }
            .into());
        }
        let text = String::from_utf8(buf).map_err(|_| MalformedToken::NotText)?;
        token::decode(&text)?
    } else {
        crate::files::load(Path::new(source))?.0
    };
    let doc = serde_json::json!({"header": decoded.header, "claims": decoded.raw_claims});
    Ok(serde_json::to_string_pretty(&doc).unwrap_or_default())
}
