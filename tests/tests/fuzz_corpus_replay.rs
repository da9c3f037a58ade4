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
use netchan_transport::fuzzing::replay_check::{check_seeds, check_target_list, replay_corpora};
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
    check_target_list(&fuzz_dir(), TARGETS, "netchan_tests::fuzz::");
}

/// Generates the seeds (which also checks that the sessions they come from work) and,
/// with `NETCHAN_WRITE_FUZZ_SEEDS=1`, writes them into `fuzz/corpus/<target>/`; they
/// include captured traffic for the transport's `header_decode` and `frames`.
#[test]
fn generated_seeds_cover_every_target() {
    let covered = TARGETS
        .iter()
        .map(|(t, _)| *t)
        .chain(["header_decode", "frames"]);
    check_seeds(&fuzz_dir(), corpus_seeds(), covered);
}
