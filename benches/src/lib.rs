//! The netchan benchmark harness (`netchan-bench`): netchan, kernel TCP and kernel MPTCP
//! over the same emulated links, measured end to end (serde, driver threads, sockets,
//! encryption).
//!
//! - [`emu`]: the real-time link emulator (UDP relays; TUN forwarding for TCP/MPTCP,
//!   [`netns`]: the namespaces, one TUN pair per path, MPTCP's path manager).
//! - [`spec`]: path specs (`rate=50mbit,delay=10ms,loss=1%`) and events
//!   (`blackhole=0@3s..6s`).
//! - [`conn`]: the connections under test (netchan channels, TCP and MPTCP streams).
//! - [`workload`]: `bulk`, `messages`, `pingpong`, `failover`.
//! - [`report`]: the JSON contract and the readable summary; [`plot`]: the SVG plot.
//! - [`suite`]: the default suite, [`sim`]: the virtual-time engine suite.
//!
//! The binary's `--help` explains every knob; the README shows a sample run.

pub mod conn;
pub mod emu;
#[cfg(target_os = "linux")]
pub mod netns;
pub mod plot;
pub mod report;
pub mod sim;
pub mod spec;
pub mod suite;
pub mod table;
pub mod workload;
