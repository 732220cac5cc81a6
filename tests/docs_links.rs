//! The failure-mode catalogue and the runbook link to each other by anchor; a renamed
//! heading must not leave a link that lands nowhere. And nothing users read cites a
//! catalogue they cannot open (bracketed row numbers, or the research notes' path).

use std::collections::HashSet;
use std::path::Path;

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens
/// (the rule `scripts/validate/ship.py` uses for the runbook).
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown document's headings (outside code blocks), each once.
fn anchors(doc: &str, name: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut in_code = false;
    for line in doc.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if in_code {
            continue;
        }
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            let anchor = slug(&line[hashes..]);
            assert!(
                seen.insert(anchor.clone()),
                "{name}: duplicate anchor #{anchor}"
            );
        }
    }
    seen
}

/// Every `](target#anchor)` link in `doc` whose target is `file` (`""`: the same page).
fn links_to<'a>(doc: &'a str, file: &str) -> Vec<&'a str> {
    let prefix = format!("]({file}#");
    doc.match_indices(&prefix)
        .filter_map(|(i, _)| {
            let rest = &doc[i + prefix.len()..];
            rest.find(')').map(|end| &rest[..end])
        })
        .collect()
}

#[test]
fn runbook_and_catalogue_links_resolve() {
    let runbook = read("docs/runbook.md");
    let catalogue = read("docs/failure-modes.md");
    let runbook_anchors = anchors(&runbook, "docs/runbook.md");
    let catalogue_anchors = anchors(&catalogue, "docs/failure-modes.md");

    let into_catalogue = links_to(&runbook, "failure-modes.md");
    assert!(
        !into_catalogue.is_empty(),
        "the runbook links no failure mode"
    );
    let mut missing: Vec<String> = Vec::new();
    for a in &into_catalogue {
        if !catalogue_anchors.contains(*a) {
            missing.push(format!("docs/runbook.md -> failure-modes.md#{a}"));
        }
    }
    for a in links_to(&catalogue, "runbook.md") {
        if !runbook_anchors.contains(a) {
            missing.push(format!("docs/failure-modes.md -> runbook.md#{a}"));
        }
    }
    for a in links_to(&catalogue, "") {
        if !catalogue_anchors.contains(a) {
            missing.push(format!("docs/failure-modes.md -> #{a}"));
        }
    }
    assert!(
        missing.is_empty(),
        "links to headings that do not exist:\n{}",
        missing.join("\n")
    );
}

/// The mode names the runbook links are the catalogue's `### mode` headings, and every
/// mode in the index has its section.
#[test]
fn every_indexed_mode_has_a_section() {
    let catalogue = read("docs/failure-modes.md");
    let modes: HashSet<&str> = catalogue
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .collect();
    assert!(modes.len() >= 36, "only {} modes", modes.len());
    for mode in &modes {
        assert!(
            catalogue.contains(&format!("[{mode}](#{mode})")),
            "mode {mode} is missing from the index"
        );
    }
}

/// `[` + `r` or `f` + digits + `]`: row numbers of a catalogue outside the repository.
fn citations(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut found = Vec::new();
    for i in 0..b.len().saturating_sub(2) {
        if b[i] == b'[' && matches!(b[i + 1], b'r' | b'f') && b[i + 2].is_ascii_digit() {
            let digits = b[i + 2..].iter().take_while(|c| c.is_ascii_digit()).count();
            if b.get(i + 2 + digits) == Some(&b']') {
                found.push(String::from_utf8_lossy(&b[i..i + 3 + digits]).into_owned());
            }
        }
    }
    found
}

#[test]
fn nothing_users_read_cites_outside_the_repository() {
    // The README's sample output included: it is the golden text of a failing pod.
    for rel in [
        "README.md",
        "docs/runbook.md",
        "docs/failure-modes.md",
        "docs/reference.md",
    ] {
        let text = read(rel);
        assert!(
            citations(&text).is_empty(),
            "{rel} cites {:?}: link docs/failure-modes.md or a public URL instead",
            citations(&text)
        );
        assert!(
            !text.contains(concat!("shared", "/research")),
            "{rel} cites the research notes outside the repository"
        );
    }
    let (r, f) = (format!("[r{}]", 8), format!("[f{}]", 12));
    assert_eq!(
        citations(&format!("see {r}{f} and [fd00:ec2::23]")),
        [r.as_str(), f.as_str()]
    );
}
