//! `netchan-bench`: the multipath benchmark harness (not yet implemented).
//!
//! It will run netchan and baseline transports over emulated network paths and print a
//! table of goodput, latency and failover figures (see the benchmark-harness issue).

fn main() {
    eprintln!(
        "netchan-bench: the benchmark harness is not implemented yet; \
         the channel API it measures comes first. Nothing was measured."
    );
    std::process::exit(2);
}
