//! ARCHITECTURE.md's invariants that the compiler does not hold, checked over the source:
//! no import circles between the files of a crate, and no decision in the core taking its
//! inputs from a view.
//!
//! A file's imports are the other files of its crate it names: `crate::a::b` paths, `super::`
//! paths (resolved), and its own child modules (`child::item`). A child naming its parent
//! (`use super::*` in a sibling `tests.rs` or a family file) is how Rust modules share the
//! parent's items and is no edge; everything else is.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One crate's files by module path (`findings::sts`), and what each imports.
struct Crate {
    files: BTreeMap<String, PathBuf>,
    imports: BTreeMap<String, BTreeSet<String>>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `src/findings/sts.rs` → `findings::sts`; `mod.rs` and `lib.rs` name their folder.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments (doc comments name modules they do not import)
/// and without its `#[cfg(test)]` tail (tests may reach anywhere).
fn code_of(text: &str) -> String {
    let body = text.split("#[cfg(test)]").next().unwrap_or(text);
    body.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `head::a::b` path in `code` (identifiers only), as its segments after `head`.
fn paths_after(code: &str, head: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let pat = format!("{head}::");
    let mut from = 0;
    while let Some(i) = code[from..].find(&pat) {
        let start = from + i;
        from = start + pat.len();
        let before = start.checked_sub(1).map(|b| bytes[b]);
        if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':' || b == b'$')
        {
            continue;
        }
        let mut segments = Vec::new();
        let mut grouped = false;
        let mut rest = &code[from..];
        loop {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if len == 0 {
                // `{a, b}` groups: every name in the braces.
                if let Some(group) = rest.strip_prefix('{') {
                    grouped = true;
                    let end = group.find('}').unwrap_or(group.len());
                    for name in group[..end].split(',') {
                        let name = name.trim().split("::").next().unwrap_or("").trim();
                        if !name.is_empty() {
                            let mut s = segments.clone();
                            s.push(name.to_owned());
                            out.push(s);
                        }
                    }
                }
                break;
            }
            segments.push(rest[..len].to_owned());
            rest = &rest[len..];
            match rest.strip_prefix("::") {
                Some(r) => rest = r,
                None => break,
            }
        }
        if !segments.is_empty() && !grouped {
            out.push(segments);
        }
    }
    out
}

/// The longest module among `files` that `segments` (from the crate root) starts with.
fn resolve(files: &BTreeMap<String, PathBuf>, segments: &[String]) -> Option<String> {
    (1..=segments.len())
        .rev()
        .map(|n| segments[..n].join("::"))
        .find(|m| files.contains_key(m))
}

fn load(src: &Path) -> Crate {
    let mut paths = Vec::new();
    rust_files(src, &mut paths);
    let files: BTreeMap<String, PathBuf> = paths
        .into_iter()
        .filter(|p| {
            p.file_name().is_some_and(|n| n != "tests.rs")
                && !p.components().any(|c| c.as_os_str() == "tests")
        })
        .map(|p| (module_of(src, &p), p))
        .collect();
    let mut imports = BTreeMap::new();
    for (module, path) in &files {
        let code = code_of(&std::fs::read_to_string(path).expect("a source file"));
        let here: Vec<String> = if module.is_empty() {
            Vec::new()
        } else {
            module.split("::").map(str::to_owned).collect()
        };
        let mut named = BTreeSet::new();
        for segments in paths_after(&code, "crate") {
            named.extend(resolve(&files, &segments));
        }
        for segments in paths_after(&code, "super") {
            let mut base = here.clone();
            base.pop();
            let mut rest = segments.as_slice();
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            named.extend(resolve(&files, &base));
        }
        // Its own children, named bare (`sts::CHECKS`) or through `self::`.
        for child in files.keys().filter(|m| is_child(module, m)) {
            let name = child.rsplit("::").next().unwrap_or(child);
            if !paths_after(&code, name).is_empty() {
                named.insert(child.clone());
            }
        }
        // A module naming one of its ancestors shares that parent's items: no edge.
        named.retain(|m| m != module && !is_ancestor(m, module));
        imports.insert(module.clone(), named);
    }
    Crate { files, imports }
}

fn is_child(parent: &str, m: &str) -> bool {
    match m.rsplit_once("::") {
        Some((p, _)) => p == parent,
        None => parent.is_empty() && !m.is_empty(),
    }
}

fn is_ancestor(a: &str, m: &str) -> bool {
    a.is_empty() || m.starts_with(&format!("{a}::"))
}

/// The import circles of a crate: each strongly connected set of two or more files.
fn circles(c: &Crate) -> Vec<Vec<String>> {
    // Kosaraju: order by finish time, then walk the reversed graph.
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        seen: &mut BTreeSet<String>,
        out: &mut Vec<String>,
    ) {
        if !seen.insert(n.to_owned()) {
            return;
        }
        for m in g.get(n).into_iter().flatten() {
            visit(m, g, seen, out);
        }
        out.push(n.to_owned());
    }
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    for n in c.files.keys() {
        visit(n, &c.imports, &mut seen, &mut order);
    }
    let mut reversed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, tos) in &c.imports {
        for to in tos {
            reversed.entry(to.clone()).or_default().insert(from.clone());
        }
    }
    let mut assigned = BTreeSet::new();
    let mut out = Vec::new();
    for n in order.iter().rev() {
        let mut component = Vec::new();
        visit(n, &reversed, &mut assigned, &mut component);
        if component.len() > 1 {
            component.sort();
            out.push(component);
        }
    }
    out
}

#[test]
fn no_import_circles() {
    let mut found = Vec::new();
    for src in ["src", "crates/core/src", "crates/emulator/src"] {
        let c = load(&root().join(src));
        for circle in circles(&c) {
            let detail: Vec<String> = circle
                .iter()
                .map(|m| {
                    let to: Vec<&String> =
                        c.imports[m].iter().filter(|t| circle.contains(t)).collect();
                    format!("{src}: {m} -> {to:?}")
                })
                .collect();
            found.push(detail.join("\n"));
        }
    }
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n\n"));
}

/// The core's data modules take nothing from the modules that judge or show them.
#[test]
fn data_never_imports_decisions_or_views() {
    let c = load(&root().join("crates/core/src"));
    let data = [
        "config",
        "environment",
        "outcome",
        "snapshot",
        "token",
        "time",
        "arn",
        "partition",
        "pod",
    ];
    let decisions = ["findings", "assessment", "report"];
    let mut wrong = Vec::new();
    for (module, imports) in &c.imports {
        if data.contains(&module.split("::").next().unwrap_or("")) {
            for i in imports {
                if decisions.contains(&i.split("::").next().unwrap_or("")) {
                    wrong.push(format!("{module} -> {i}"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "data modules importing decisions: {wrong:?}"
    );
}

/// The checker itself: a circle through a child and a `crate::` path is found; a child
/// sharing its parent's items is not one.
#[test]
fn the_checker_sees_a_circle() {
    let files: BTreeMap<String, PathBuf> = ["a", "b", "b::c"]
        .into_iter()
        .map(|m| (m.to_owned(), PathBuf::new()))
        .collect();
    let imports = BTreeMap::from([
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["b::c".to_owned()])),
        ("b::c".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]);
    assert_eq!(
        circles(&Crate {
            files: files.clone(),
            imports
        }),
        vec![vec!["a", "b", "b::c"]]
    );
    let fine = BTreeMap::from([
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["b::c".to_owned()])),
        ("b::c".to_owned(), BTreeSet::new()),
    ]);
    assert!(
        circles(&Crate {
            files,
            imports: fine
        })
        .is_empty()
    );
    assert_eq!(
        paths_after(
            "use crate::findings::{Code, sts::CHECKS}; x::crate::no",
            "crate"
        ),
        vec![
            vec!["findings".to_owned(), "Code".to_owned()],
            vec!["findings".to_owned(), "sts".to_owned()]
        ]
    );
}
