//! What an SDK error says, as one bounded, redacted line: the STS and IAM probes
//! classify their failures here, so neither depends on the other for it.

use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use irsa_doctor_core::outcome::{AssumeFailure, StsFailure};

/// An error and its sources as one line (`dispatch failure: io error: ...: Connection refused`),
/// without the Debug dump `DisplayErrorContext` appends.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        // Some errors repeat their source in their own message; keep each fact once.
        if !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// `text` with every non-empty secret replaced by `<redacted>`.
pub fn redact(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(text.to_owned(), |acc, s| {
            acc.replace(s.as_str(), "<redacted>")
        })
}

/// Classifies an SDK error into the finding family, bounded code and message.
pub fn classify<E, R>(err: &SdkError<E, R>, secrets: &[String]) -> AssumeFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let detail = redact(&error_chain(err), secrets);
    let (kind, code, message) = match err {
        SdkError::TimeoutError(_) => (StsFailure::Unreachable, "Timeout".to_owned(), detail),
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            (StsFailure::Unreachable, "Timeout".to_owned(), detail)
        }
        SdkError::DispatchFailure(_) => (StsFailure::Unreachable, "Unreachable".to_owned(), detail),
        SdkError::ResponseError(_) => (StsFailure::Rejected, "InvalidResponse".to_owned(), detail),
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            // An answer without an error code is one the SDK could not parse (garbage, an HTML proxy page).
            let code = e.code().unwrap_or("InvalidResponse").to_owned();
            let message = e.message().map(|m| redact(m, secrets)).unwrap_or(detail);
            // One table decides the class, the metric label and the finding (core `failure`).
            let kind = irsa_doctor_core::failure::sts_class(&code);
            (kind, code, message)
        }
        _ => (StsFailure::Rejected, "InvalidRequest".to_owned(), detail),
    };
    AssumeFailure {
        kind,
        code,
        message,
        http_status: None,
    }
}
