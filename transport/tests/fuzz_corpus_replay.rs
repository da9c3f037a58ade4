//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) through the same
//! functions the fuzz targets call, so that every seed and every crash turned regression
//! is checked by a plain `cargo test`, without a fuzzer.
//!
//! The `fuzzing` feature is enabled for this crate's tests by its dev-dependency on
//! itself (see `transport/Cargo.toml`).
//!
//! `NETCHAN_WRITE_FUZZ_SEEDS=1 cargo test -p netchan-transport --test fuzz_corpus_replay
//! generated_seeds` (re)writes the generated seeds
//! (`netchan_transport::fuzzing::corpus_seeds`); files added by hand, such as
//! regressions, are left alone.

use netchan_transport::fuzzing::replay_check::{check_seeds, check_target_list, replay_corpora};
use netchan_transport::fuzzing::{TARGETS, corpus_seeds};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

#[test]
fn every_corpus_input_replays_cleanly() {
    replay_corpora(&fuzz_dir(), TARGETS);
}

#[test]
fn fuzz_targets_and_replay_list_agree() {
    check_target_list(&fuzz_dir(), TARGETS, "netchan_transport::fuzzing::");
}

/// Generates the seeds (which also checks that the sessions they come from work) and,
/// with `NETCHAN_WRITE_FUZZ_SEEDS=1`, writes them into `fuzz/corpus/<target>/`.
#[test]
fn generated_seeds_cover_every_target() {
    check_seeds(&fuzz_dir(), corpus_seeds(), TARGETS.iter().map(|(t, _)| *t));
}
