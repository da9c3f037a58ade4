//! Replays the committed fuzz corpora of the kit's endpoint-level targets
//! (`fuzz/corpus/<target>/`) through the same functions the fuzz targets call, so that
//! every seed and every crash turned regression is checked by a plain `cargo test`.
//!
//! The `fuzz` feature is enabled for this crate's tests by its dev-dependency on itself
//! (see `tests/Cargo.toml`).
//!
//! `NETCHAN_WRITE_FUZZ_SEEDS=1 cargo test -p netchan-tests --test fuzz_corpus_replay
//! generated_seeds` (re)writes the generated seeds (`netchan_tests::fuzz::corpus_seeds`,
//! which also supplies captured traffic for two transport targets); files added by hand,
//! such as regressions, are left alone.

use netchan_tests::fuzz::{TARGETS, corpus_seeds};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Files of a target's corpus, sorted, skipping hidden files (libFuzzer temporaries).
fn corpus_files(target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join("corpus").join(target);
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

#[test]
fn every_corpus_input_replays_cleanly() {
    let mut total = 0;
    let mut failures = Vec::new();
    for &(target, run) in TARGETS {
        let files = corpus_files(target);
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
        TARGETS.len()
    );
    assert!(
        failures.is_empty(),
        "failing corpus inputs:\n{}",
        failures.join("\n")
    );
}

#[test]
fn fuzz_targets_and_replay_list_agree() {
    let dir = fuzz_dir().join("fuzz_targets");
    let on_disk: BTreeSet<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{} is missing: {e}", dir.display()))
        .filter_map(|e| {
            let path = e.expect("readable directory entry").path();
            (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        // Targets of the other crates are checked by their own replay tests.
        .filter(|name| {
            fs::read_to_string(dir.join(format!("{name}.rs")))
                .is_ok_and(|src| src.contains("netchan_tests::fuzz::"))
        })
        .collect();
    let listed: BTreeSet<String> = TARGETS.iter().map(|(n, _)| (*n).to_owned()).collect();
    assert_eq!(
        on_disk, listed,
        "fuzz/fuzz_targets/*.rs and netchan_tests::fuzz::TARGETS differ"
    );
    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for name in &listed {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] {name}"
        );
        let source = fs::read_to_string(dir.join(format!("{name}.rs"))).expect("target source");
        assert!(
            source.contains(&format!("fuzz::{name}(")),
            "fuzz target {name} does not call netchan_tests::fuzz::{name}"
        );
    }
}

/// Generates the seeds (which also checks that the sessions they come from work) and,
/// with `NETCHAN_WRITE_FUZZ_SEEDS=1`, writes them into `fuzz/corpus/<target>/`.
#[test]
fn generated_seeds_cover_every_target() {
    let seeds = corpus_seeds();
    let seeded: BTreeSet<&str> = seeds.iter().map(|(t, _, _)| *t).collect();
    for target in TARGETS
        .iter()
        .map(|(t, _)| *t)
        .chain(["header_decode", "frames"])
    {
        assert!(seeded.contains(target), "no generated seeds for {target}");
    }
    if std::env::var_os("NETCHAN_WRITE_FUZZ_SEEDS").is_some() {
        for (target, name, bytes) in seeds {
            let dir = fuzz_dir().join("corpus").join(target);
            fs::create_dir_all(&dir).expect("create corpus directory");
            fs::write(dir.join(format!("seed-{name}")), &bytes).expect("write seed");
        }
    }
}
