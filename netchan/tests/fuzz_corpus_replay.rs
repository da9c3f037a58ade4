//! Replays the committed corpora of netchan's fuzz targets (`fuzz/corpus/<target>/`)
//! through the same functions the fuzzers call, so regressions are caught by a plain
//! `cargo test`. `NETCHAN_WRITE_FUZZ_SEEDS=1` writes the generated seeds into the
//! corpora.

use netchan::fuzzing::{TARGETS, corpus_seeds};
use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

#[test]
fn committed_corpora_replay() {
    let mut total = 0;
    for &(name, f) in TARGETS {
        let dir = fuzz_dir().join("corpus").join(name);
        let entries =
            fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {} missing: {e}", dir.display()));
        let mut n = 0;
        for e in entries {
            let p = e.unwrap().path();
            f(&fs::read(&p).unwrap());
            n += 1;
        }
        assert!(n > 0, "empty corpus for {name}");
        total += n;
    }
    eprintln!(
        "replayed {total} corpus inputs of {} targets",
        TARGETS.len()
    );
}

#[test]
fn seeds_run_and_cover_every_target() {
    let seeds = corpus_seeds();
    let seeded: BTreeSet<&str> = seeds.iter().map(|(t, _, _)| *t).collect();
    for &(name, f) in TARGETS {
        assert!(seeded.contains(name), "no seeds for {name}");
        for (t, _, bytes) in &seeds {
            if *t == name {
                f(bytes);
            }
        }
    }
    if std::env::var_os("NETCHAN_WRITE_FUZZ_SEEDS").is_some() {
        for (target, name, bytes) in seeds {
            let dir = fuzz_dir().join("corpus").join(target);
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
        }
    }
}

#[test]
fn fuzz_targets_are_listed() {
    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for &(name, _) in TARGETS {
        let src = fs::read_to_string(fuzz_dir().join(format!("fuzz_targets/{name}.rs")))
            .unwrap_or_else(|e| panic!("fuzz target {name} missing: {e}"));
        assert!(src.contains(&format!("netchan::fuzzing::{name}(")));
        assert!(manifest.contains(&format!("name = \"{name}\"")));
    }
}
