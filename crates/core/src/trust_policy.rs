//! The trust-policy evaluator under its original path: it lives in
//! [`crate::policy::trust`] now, beside the access evaluator it shares the
//! policy language with. Callers (the shell, the emulator's fake STS, the
//! fuzz target) keep using `trust_policy::{parse, evaluate, ...}`.

pub use crate::policy::trust::*;
