//! Work distribution: a coordinator hands jobs to a pool of workers and collects the
//! results. Self-contained: the coordinator and three workers are four nodes in one
//! process, talking over loopback (in real use each worker is its own program, on its
//! own machine).
//!
//! ```text
//! cargo run -p netchan --example worker_pool
//! ```
//!
//! * The coordinator opens `jobs` with **every** peer (`node.channel`): each `send`
//!   gives the job to exactly one worker that has room for it.
//! * Each worker dials the coordinator and opens `jobs` with it (`peer.channel`) with a
//!   capacity of 2: it holds at most two jobs, so busy workers get no more and idle
//!   ones take the rest.
//! * Results come back on `results`, which the coordinator receives from every worker.
//! * When the coordinator drops its job sender, each worker's receiver ends after the
//!   last job, and the workers stop.

use netchan::{Node, NodeConfig};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

/// One unit of work.
#[derive(Serialize, Deserialize, Debug)]
struct Job {
    id: u32,
    /// Sum the squares of 1..=n.
    n: u64,
}

/// A job's outcome and who computed it.
#[derive(Serialize, Deserialize, Debug)]
struct JobResult {
    id: u32,
    worker: String,
    sum_of_squares: u64,
}

const WORKERS: usize = 3;
const JOBS: u32 = 12;
/// Every wait in this example ends by then: it must terminate by itself.
const TIME_LIMIT: Duration = Duration::from_secs(30);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A worker: dial the coordinator, take jobs until the coordinator is done.
fn worker(name: String, coordinator: String, deadline: Instant) -> Result<usize, BoxError> {
    let node = Node::new(NodeConfig::new().bind("127.0.0.1:0".parse()?))?;
    let peer = node.dial(&coordinator)?;
    let (_job_tx, jobs) = peer.channel::<Job>("jobs", 2)?;
    let (results, _result_rx) = peer.channel::<JobResult>("results", 2)?;
    let mut done = 0;
    // `recv_deadline` fails once the coordinator's job sender is gone and every job
    // was taken (or, in a broken run, at the deadline).
    while let Ok(job) = jobs.recv_deadline(deadline) {
        thread::sleep(Duration::from_millis(20)); // pretend this is hard work
        let sum_of_squares = (1..=job.n).map(|k| k * k).sum();
        results.send(JobResult {
            id: job.id,
            worker: name.clone(),
            sum_of_squares,
        })?;
        done += 1;
    }
    // Keep the node up until the coordinator has taken our last result.
    while !results.is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    println!("{name} finished after {done} jobs");
    Ok(done)
}

/// Runs the whole demo; returns which worker did each job.
fn run() -> Result<BTreeMap<u32, String>, BoxError> {
    let deadline = Instant::now() + TIME_LIMIT;
    let coordinator = Node::new(NodeConfig::new().bind("127.0.0.1:0".parse()?))?;
    let (jobs, _jobs_rx) = coordinator.channel::<Job>("jobs", 8)?;
    // Up to 16 results buffered per worker.
    let (_results_tx, results) = coordinator.channel::<JobResult>("results", 16)?;
    println!("coordinator at {}", coordinator.address());

    let workers: Vec<_> = (1..=WORKERS)
        .map(|i| {
            let name = format!("worker-{i}");
            let address = coordinator.address();
            thread::spawn(move || worker(name, address, deadline))
        })
        .collect();

    // Wait for the whole pool, so the first jobs do not all go to the fastest starter.
    while jobs.ready_peers() < WORKERS {
        if Instant::now() >= deadline {
            return Err("the workers did not connect in time".into());
        }
        thread::sleep(Duration::from_millis(5));
    }

    for id in 1..=JOBS {
        let job = Job {
            id,
            n: u64::from(id) * 1000,
        };
        jobs.send_deadline(job, deadline)
            .map_err(|e| format!("sending job {id}: {e}"))?;
    }
    // No more work: the workers' receivers end once they took their last job.
    drop(jobs);

    let mut done_by = BTreeMap::new();
    while done_by.len() < JOBS as usize {
        let r = results
            .recv_deadline(deadline)
            .map_err(|e| format!("waiting for results: {e}"))?;
        let n = u64::from(r.id) * 1000;
        assert_eq!(
            r.sum_of_squares,
            n * (n + 1) * (2 * n + 1) / 6,
            "wrong result"
        );
        println!("job {:>2} done by {}", r.id, r.worker);
        if done_by.insert(r.id, r.worker).is_some() {
            return Err(format!("job {} was done twice", r.id).into());
        }
    }
    for w in workers {
        w.join().map_err(|_| "a worker panicked")??;
    }
    Ok(done_by)
}

// With `test = true` (Cargo.toml), `cargo test` builds this example as a test and runs
// `tests::runs` below instead of `main`.
#[cfg_attr(test, allow(dead_code))]
fn main() -> Result<(), BoxError> {
    let done_by = run()?;
    let mut per_worker = BTreeMap::<&str, usize>::new();
    for w in done_by.values() {
        *per_worker.entry(w.as_str()).or_default() += 1;
    }
    println!("all {JOBS} jobs done: {per_worker:?}");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs() {
        let done_by = super::run().expect("the demo runs");
        assert_eq!(done_by.len(), super::JOBS as usize);
        assert!(done_by.keys().copied().eq(1..=super::JOBS));
        // Each worker holds at most 2 jobs and all 3 were ready before the first send,
        // so the first 6 jobs alone went to every worker.
        for i in 1..=super::WORKERS {
            let name = format!("worker-{i}");
            assert!(
                done_by.values().any(|w| *w == name),
                "{name} did no job: {done_by:?}"
            );
        }
    }
}
