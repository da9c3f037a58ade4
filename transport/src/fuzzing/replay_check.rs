//! The checks every corpus replay test runs (the transport's, the test kit's): the
//! committed corpora replay cleanly, the fuzz target files and a crate's target list
//! agree, and generated seeds cover the targets (and are written on request).

use super::Target;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Files of a target's corpus, sorted, skipping hidden files (libFuzzer temporaries).
fn corpus_files(fuzz_dir: &Path, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir.join("corpus").join(target);
    let entries = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus directory {} is missing: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// Runs every committed corpus input of `targets`; panics listing the inputs that failed.
pub fn replay_corpora(fuzz_dir: &Path, targets: &[(&str, Target)]) {
    let mut total = 0;
    let mut failures = Vec::new();
    for &(target, run) in targets {
        let files = corpus_files(fuzz_dir, target);
        assert!(!files.is_empty(), "corpus of {target} is empty");
        for file in files {
            let data = fs::read(&file).expect("readable corpus file");
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                failures.push(format!(
                    "{target}: {} (reproduce: cd fuzz && cargo +nightly fuzz run {target} {})",
                    file.display(),
                    file.display()
                ));
            }
            total += 1;
        }
    }
    eprintln!(
        "replayed {total} corpus inputs of {} targets",
        targets.len()
    );
    assert!(
        failures.is_empty(),
        "failing corpus inputs:\n{}",
        failures.join("\n")
    );
}

/// The fuzz target files that call into `module` (e.g. `"netchan_transport::fuzzing::"`)
/// are exactly `targets`, each has a `[[bin]]` in `fuzz/Cargo.toml` and calls its function.
pub fn check_target_list(fuzz_dir: &Path, targets: &[(&str, Target)], module: &str) {
    let dir = fuzz_dir.join("fuzz_targets");
    let on_disk: BTreeSet<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{} is missing: {e}", dir.display()))
        .filter_map(|e| {
            let path = e.expect("readable directory entry").path();
            (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        // Targets of other crates are checked by their own replay tests.
        .filter(|name| {
            fs::read_to_string(dir.join(format!("{name}.rs"))).is_ok_and(|src| src.contains(module))
        })
        .collect();
    let listed: BTreeSet<String> = targets.iter().map(|(n, _)| (*n).to_owned()).collect();
    assert_eq!(
        on_disk, listed,
        "fuzz/fuzz_targets/*.rs and the {module} targets differ"
    );
    let manifest = fs::read_to_string(fuzz_dir.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for name in &listed {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] {name}"
        );
        let source = fs::read_to_string(dir.join(format!("{name}.rs"))).expect("target source");
        assert!(
            source.contains(&format!("{module}{name}(")),
            "fuzz target {name} does not call {module}{name}"
        );
    }
}

/// Every name of `covered` has generated seeds; with `NETCHAN_WRITE_FUZZ_SEEDS` set the
/// seeds are written to `fuzz/corpus/<target>/seed-<name>`.
pub fn check_seeds<'a>(
    fuzz_dir: &Path,
    seeds: Vec<(&'static str, String, Vec<u8>)>,
    covered: impl IntoIterator<Item = &'a str>,
) {
    let seeded: BTreeSet<&str> = seeds.iter().map(|(t, _, _)| *t).collect();
    for target in covered {
        assert!(seeded.contains(target), "no generated seeds for {target}");
    }
    if std::env::var_os("NETCHAN_WRITE_FUZZ_SEEDS").is_some() {
        for (target, name, bytes) in seeds {
            let dir = fuzz_dir.join("corpus").join(target);
            fs::create_dir_all(&dir).expect("create corpus directory");
            fs::write(dir.join(format!("seed-{name}")), &bytes).expect("write seed");
        }
    }
}
