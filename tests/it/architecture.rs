//! The source tree keeps its map: no two modules import each other, directly or round a loop, at
//! any level (the parts of `src/`, the files of one part, the commands of `src/cli/`).
//! docs/architecture.md draws the order this keeps.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module: its path below `src/` as names, e.g. `["store", "outbox"]`.
type Module = Vec<String>;

/// Every module of `src/` and the file that holds it (`mod.rs` for a folder).
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(src.to_path_buf(), Vec::new())];
    while let Some((dir, prefix)) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let mut module = prefix.clone();
            if path.is_dir() {
                module.push(name);
                out.insert(module.clone(), path.join("mod.rs"));
                stack.push((path, module));
            } else if path.extension().is_some_and(|e| e == "rs") && !matches!(name.as_str(), "mod" | "lib" | "main") {
                module.push(name);
                out.insert(module, path);
            }
        }
    }
    out
}

/// The sibling each `super::NAME` and `crate::A::B` in `module`'s file leads to, as the pair of
/// modules under their nearest common parent: the edge a loop would be made of.
fn edges(module: &Module, file: &Path, known: &BTreeMap<Module, PathBuf>) -> BTreeSet<(Module, Module)> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut out = BTreeSet::new();
    for (at, _) in text.match_indices("crate::").chain(text.match_indices("super::")) {
        // A name in a longer path (`rollcall::x::crate::`) or in a comment line still counts:
        // a loop in a doc example is worth a look too.
        let rest = &text[at..];
        let mut words = rest.split("::").map(|w| {
            w.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        });
        let mut target: Module = match words.next().as_deref() {
            Some("crate") => Vec::new(),
            _ => module[..module.len() - 1].to_vec(),
        };
        for word in words {
            let mut deeper = target.clone();
            deeper.push(word);
            if !known.contains_key(&deeper) {
                break;
            }
            target = deeper;
        }
        if target.is_empty() {
            continue;
        }
        let common = module.iter().zip(&target).take_while(|(a, b)| a == b).count();
        // A module reaching into its own children, or up to an item of its parent, is no edge
        // between siblings.
        if common >= module.len() || common >= target.len() {
            continue;
        }
        out.insert((module[..=common].to_vec(), target[..=common].to_vec()));
    }
    out
}

/// A loop in `graph`, as the modules round it, if there is one.
fn find_loop(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        node: &Module,
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        path: &mut Vec<Module>,
        done: &mut BTreeSet<Module>,
    ) -> Option<Vec<Module>> {
        if let Some(start) = path.iter().position(|m| m == node) {
            return Some(path[start..].to_vec());
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|start| visit(start, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_imports_another_that_imports_it_back() {
    let src = testkit::root().join("src");
    let known = modules(&src);
    assert!(
        known.contains_key(&vec!["store".to_string(), "outbox".to_string()]),
        "{known:?}"
    );
    let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, file) in &known {
        for (from, to) in edges(module, file, &known) {
            graph.entry(from).or_default().insert(to);
        }
    }
    // The binary's commands are modules of src/cli, not of the library: the same rule holds.
    assert!(
        graph.keys().any(|m| m.first().is_some_and(|p| p == "cli")),
        "no edge among the commands was read: {graph:?}"
    );
    let found = find_loop(&graph).map(|l| l.iter().map(|m| m.join("::")).collect::<Vec<_>>());
    assert_eq!(found, None, "an import loop");
}

#[test]
fn the_loop_finder_finds_a_loop_and_passes_a_chain() {
    let m = |s: &str| s.split("::").map(String::from).collect::<Module>();
    let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    graph
        .entry(m("store::attendance"))
        .or_default()
        .insert(m("store::queue"));
    graph.entry(m("store::outbox")).or_default().insert(m("store::queue"));
    graph.entry(m("store::outbox")).or_default().insert(m("store::alerts"));
    assert_eq!(find_loop(&graph), None);
    graph.entry(m("store::queue")).or_default().insert(m("store::outbox"));
    let found: BTreeSet<Module> = find_loop(&graph).unwrap_or_default().into_iter().collect();
    assert_eq!(found, BTreeSet::from([m("store::outbox"), m("store::queue")]));
}
