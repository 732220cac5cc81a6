//! The generated parts of `docs/reference.md`, the contract users read: every subcommand
//! and flag (from clap), every finding code (from `Code::ALL`) and every metric (from the
//! metrics table). A test compares them with the committed document, so a flag, code or
//! metric added without its documentation fails the build;
//! `UPDATE_REFERENCE=1 cargo test --lib reference` rewrites the generated blocks.
//!
//! A flag whose environment variable irsa-doctor reads itself (so that `check --pid` can
//! read the target's) names it in its help as `[env: NAME]`, and a computed default as
//! `[default: ...]`; everything else comes from clap's own `env` and `default_value`.

use clap::CommandFactory;
use clap::builder::{Arg, Command};

use crate::config::Cli;
use irsa_doctor_core::findings::Code;

/// The generated blocks, by the name of their markers in the document.
pub fn blocks() -> Vec<(&'static str, String)> {
    vec![
        ("commands", commands_markdown()),
        ("flags", flags_markdown()),
        ("findings", findings_markdown()),
        ("metrics", crate::metrics::reference_markdown()),
    ]
}

/// `| subcommand | what it does | its own flags |`.
fn commands_markdown() -> String {
    let cli = Cli::command();
    let mut out =
        String::from("| command | what it does | its own flags and arguments |\n|---|---|---|\n");
    for sub in cli.get_subcommands() {
        let own: Vec<String> = sub
            .get_arguments()
            .filter(|a| !a.is_hide_set() && !a.is_global_set() && !is_builtin(a))
            .map(|a| {
                let (env, default) = env_and_default(a);
                let mut line = format!("`{}`: {}", usage(a), clean(help(a)));
                if let Some(d) = default {
                    line.push_str(&format!(" (default `{d}`)"));
                }
                if let Some(e) = env {
                    line.push_str(&format!(" (env `{e}`)"));
                }
                line
            })
            .collect();
        out.push_str(&format!(
            "| `irsa-doctor {}` | {} | {} |\n",
            sub.get_name(),
            clean(about(sub)),
            if own.is_empty() {
                "-".into()
            } else {
                own.join("<br>")
            }
        ));
    }
    out
}

/// `| flag | env | default | meaning |` for every flag every subcommand takes.
fn flags_markdown() -> String {
    let cli = Cli::command();
    let mut out = String::from("| flag | env | default | meaning |\n|---|---|---|---|\n");
    for a in cli
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !is_builtin(a))
    {
        let (env, default) = env_and_default(a);
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            usage(a).replace('|', "\\|"),
            env.map_or("-".into(), |e| format!("`{e}`")),
            default.map_or("-".into(), |d| format!("`{d}`")),
            clean(help(a)).replace('|', "\\|")
        ));
    }
    out
}

/// `| code | severity | raised when |` for every code, in `Code::ALL` order.
fn findings_markdown() -> String {
    let mut out = String::from("| code | severity | raised when |\n|---|---|---|\n");
    for c in Code::ALL {
        out.push_str(&format!(
            "| [`{name}`](runbook.md#{anchor}) | {} | {} |\n",
            c.severity().as_str(),
            c.meaning().replace('|', "\\|"),
            name = c.as_str(),
            anchor = c.as_str().to_ascii_lowercase(),
        ));
    }
    out
}

/// `--help` and `--version` are clap's.
fn is_builtin(a: &Arg) -> bool {
    matches!(a.get_id().as_str(), "help" | "version")
}

/// The help line, with the accepted values of an enumerated flag.
fn help(a: &Arg) -> String {
    let text = a.get_help().map(ToString::to_string).unwrap_or_default();
    let values: Vec<String> = a
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| format!("`{}`", v.get_name()))
        .collect();
    // Switches and booleans list `true`/`false`: the usage already says so.
    let boolean =
        !a.get_action().takes_values() || a.get_num_args().is_some_and(|n| n.min_values() == 0);
    if values.is_empty() || boolean {
        text
    } else {
        format!("{text} (one of {})", values.join(", "))
    }
}

fn about(c: &Command) -> String {
    c.get_about().map(ToString::to_string).unwrap_or_default()
}

/// How the flag is written: `--name VALUE`, `--name[=BOOL]`, or a positional `[FILE]`.
fn usage(a: &Arg) -> String {
    let value = a
        .get_value_names()
        .and_then(|v| v.first())
        .map(ToString::to_string)
        .unwrap_or_else(|| a.get_id().as_str().to_ascii_uppercase());
    let Some(long) = a.get_long() else {
        return format!("[{value}]");
    };
    let takes_value = a.get_action().takes_values();
    let optional = a.get_num_args().is_some_and(|n| n.min_values() == 0);
    match (takes_value, optional) {
        (false, _) => format!("--{long}"),
        (true, true) => format!("--{long}[=BOOL]"),
        (true, false) => format!("--{long} {value}"),
    }
}

/// The env var and default: clap's own, else the `[env: ...]`/`[default: ...]` of the help.
fn env_and_default(a: &Arg) -> (Option<String>, Option<String>) {
    let text = help(a);
    let env = a
        .get_env()
        .map(|e| e.to_string_lossy().into_owned())
        .or_else(|| bracketed(&text, "env"));
    let defaults: Vec<String> = a
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    let default = if defaults.is_empty() {
        bracketed(&text, "default")
    } else {
        Some(defaults.join(","))
    };
    (env, default)
}

/// The value of `[key: value]` in `text`.
fn bracketed(text: &str, key: &str) -> Option<String> {
    let start = text.find(&format!("[{key}: "))? + key.len() + 3;
    let end = start + text[start..].find(']')?;
    Some(text[start..end].to_owned())
}

/// The help without its `[env: ...]`/`[default: ...]` annotations (the table has columns).
fn clean(text: String) -> String {
    let mut out = text;
    for key in ["env", "default"] {
        while let Some(start) = out.find(&format!(" [{key}: ")) {
            let Some(len) = out[start..].find(']') else {
                break;
            };
            out.replace_range(start..=start + len, "");
        }
    }
    out.trim().to_owned()
}

/// `document` with each generated block replaced by its fresh rendering; an error names a
/// block whose markers are missing.
pub fn regenerate(document: &str) -> Result<String, String> {
    let mut out = document.to_owned();
    for (name, body) in blocks() {
        let start = format!("<!-- generated:{name}:start -->\n");
        let end = format!("<!-- generated:{name}:end -->");
        let (Some(s), Some(e)) = (out.find(&start), out.find(&end)) else {
            return Err(format!(
                "docs/reference.md has no {start:?} ... {end:?} markers"
            ));
        };
        out.replace_range(s + start.len()..e, &body);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/reference.md");

    /// The committed reference carries exactly what the code holds.
    #[test]
    fn reference_is_generated_from_the_code() {
        let committed = std::fs::read_to_string(PATH).expect("docs/reference.md");
        let fresh = regenerate(&committed).expect("markers");
        #[allow(clippy::disallowed_methods)] // a developer's switch for regenerating the file
        let update = std::env::var_os("UPDATE_REFERENCE").is_some();
        if update {
            std::fs::write(PATH, &fresh).expect("rewrite docs/reference.md");
            return;
        }
        assert!(
            committed == fresh,
            "docs/reference.md is stale: a flag, finding code or metric changed without its \
             documentation. Regenerate: UPDATE_REFERENCE=1 cargo test --lib reference"
        );
    }

    #[test]
    fn annotations_become_columns() {
        assert_eq!(
            bracketed("A token [env: AWS_X] [default: /a/b].", "env").as_deref(),
            Some("AWS_X")
        );
        assert_eq!(
            bracketed("A token [env: AWS_X] [default: /a/b].", "default").as_deref(),
            Some("/a/b")
        );
        assert_eq!(
            clean("A token [env: AWS_X] [default: /a/b].".into()),
            "A token."
        );
        assert_eq!(bracketed("plain", "env"), None);
    }

    /// Every flag documents where its value may come from: an env var, or it is a switch.
    #[test]
    fn every_shared_flag_has_an_env_var() {
        let cli = Cli::command();
        let missing: Vec<String> = cli
            .get_arguments()
            .filter(|a| !a.is_hide_set() && !is_builtin(a) && a.get_long() != Some("no-imds-check"))
            .filter(|a| env_and_default(a).0.is_none())
            .map(usage)
            .collect();
        assert!(missing.is_empty(), "flags without an env var: {missing:?}");
    }
}
