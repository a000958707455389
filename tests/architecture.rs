//! The shape of the source tree, checked: DPDK stays at the edge, and no module imports one that
//! imports it back (directly or around a circle).
//!
//! - Only `port`, `tap`, `telemetry` and `log` (and the crate root's test-only `internals`) name
//!   `dpdk_sys`; routing, configuration, errors and the command-line tool take what they need of a
//!   port from `nic`, which has no DPDK in it.
//! - The graph of `crate::<module>` references between the top-level modules has no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file below `dir`.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file belongs to (`src/port/eal_check.rs` -> `port`), or `None` for
/// the crate root and the binaries.
fn module_of(file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src()).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    match first.as_str() {
        "lib.rs" | "bin" => None,
        f => Some(f.trim_end_matches(".rs").to_owned()),
    }
}

/// The source without comments (a doc comment may name any module).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The library's sources, without the test-only files (the loom model drives the flusher
/// against the contexts it tests; unit-test files may reach anywhere).
fn sources() -> Vec<(PathBuf, String)> {
    let mut all = Vec::new();
    files(&src(), &mut all);
    all.sort();
    all.into_iter()
        .filter(|p| !["model.rs", "tests.rs"].contains(&p.file_name().unwrap().to_str().unwrap()))
        .map(|p| {
            let t = code(&std::fs::read_to_string(&p).unwrap());
            (p, t)
        })
        .collect()
}

#[test]
fn dpdk_is_named_only_at_the_edge() {
    const EDGE: [&str; 4] = ["port", "tap", "telemetry", "log"];
    let mut outside = Vec::new();
    for (path, text) in sources() {
        let Some(module) = module_of(&path) else { continue };
        if !EDGE.contains(&module.as_str()) && (text.contains("dpdk_sys") || text.contains("sys::rte_")) {
            outside.push(path.display().to_string());
        }
    }
    assert!(outside.is_empty(), "DPDK named outside the edge: {outside:?}");
    // And the modules the issue names as DPDK-free take nothing of `port` either.
    for (path, text) in sources() {
        let Some(module) = module_of(&path) else { continue };
        if ["router", "config", "error", "cli", "nic", "route", "settings"].contains(&module.as_str()) {
            assert!(
                !text.contains("crate::port"),
                "{} takes from port",
                path.display()
            );
        }
    }
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut modules = BTreeSet::new();
    for (path, _) in sources() {
        modules.extend(module_of(&path));
    }
    for (path, text) in sources() {
        let Some(from) = module_of(&path) else { continue };
        for m in &modules {
            if m != &from
                && (text.contains(&format!("crate::{m}::"))
                    || text.contains(&format!("crate::{m};"))
                    || text.contains(&format!("crate::{m}::{{"))
                    || text.contains(&format!("crate::{{{m}")))
            {
                edges.entry(from.clone()).or_default().insert(m.clone());
            }
        }
    }
    // Depth-first search for a cycle, reporting the first one found.
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(m) {
            Some(2) => return None,
            Some(1) => {
                let at = path.iter().position(|p| p == m).unwrap();
                let mut c = path[at..].to_vec();
                c.push(m.to_owned());
                return Some(c);
            }
            _ => {}
        }
        state.insert(m.to_owned(), 1);
        path.push(m.to_owned());
        for n in edges.get(m).into_iter().flatten() {
            if let Some(c) = visit(n, edges, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(m.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in &modules {
        if let Some(cycle) = visit(m, &edges, &mut state, &mut Vec::new()) {
            panic!("an import circle: {}\nall edges: {edges:#?}", cycle.join(" -> "));
        }
    }
}
