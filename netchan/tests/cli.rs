//! The `netchan` command-line tool, run as a new user would: `keygen`, `listen`, `dial`
//! as real processes talking over loopback.
//!
//! The binary needs the `cli` feature; this crate's dev-dependency on itself enables it
//! for every `cargo test -p netchan`, so these tests always run. Every wait has a
//! deadline, and every child process is killed if a test fails (see [`ChildGuard`]).

use netchan::PublicKey;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_netchan");

/// A child process that is killed and reaped when dropped (also when a test panics).
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What a finished command printed and how it ended.
struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} after {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.status, self.elapsed, self.stdout, self.stderr
        )
    }
}

fn netchan(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir);
    cmd
}

/// Reads a pipe to its end on a thread; the result arrives on the returned channel.
fn read_all(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
    });
    rx
}

/// Sends each line of a pipe on the returned channel, as it arrives.
fn read_lines(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Runs `cmd` with `input` on stdin; kills it and fails the test after `limit`.
fn run(mut cmd: Command, input: &str, limit: Duration) -> Output {
    let start = Instant::now();
    let mut child = ChildGuard(
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start netchan"),
    );
    let stdout = read_all(child.0.stdout.take().unwrap());
    let stderr = read_all(child.0.stderr.take().unwrap());
    let mut stdin: ChildStdin = child.0.stdin.take().unwrap();
    let input = input.to_owned();
    // A separate thread: the child may exit (or block) before reading everything.
    thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let deadline = start + limit;
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait for netchan") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "netchan {:?} did not finish within {limit:?}",
            cmd.get_args().collect::<Vec<_>>()
        );
        thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    let collect = |rx: mpsc::Receiver<String>| {
        rx.recv_timeout(Duration::from_secs(10))
            .expect("the child's output pipe did not close")
    };
    Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
        elapsed,
    }
}

/// Asserts the documented failure shape: non-zero exit, nothing on stdout, exactly one
/// stderr line `netchan: error: ...` that mentions `needle`.
fn assert_one_line_error(out: &Output, needle: &str) {
    assert!(!out.status.success(), "expected a failure: {out:?}");
    assert!(out.stdout.is_empty(), "nothing on stdout expected: {out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one stderr line: {out:?}");
    assert!(
        lines[0].starts_with("netchan: error: "),
        "unexpected error format: {out:?}"
    );
    assert!(
        lines[0].contains(needle),
        "error should mention {needle:?}: {out:?}"
    );
}

/// `netchan keygen FILE` in `dir`: returns the printed public key.
fn keygen(dir: &Path, file: &str) -> PublicKey {
    let mut cmd = netchan(dir);
    cmd.args(["keygen", file]);
    let out = run(cmd, "", Duration::from_secs(30));
    assert!(out.status.success(), "keygen failed: {out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "keygen prints exactly the key: {out:?}");
    lines[0]
        .parse::<PublicKey>()
        .unwrap_or_else(|e| panic!("keygen printed {:?}, not a public key: {e}", lines[0]))
}

/// A running `netchan listen`, with its output lines arriving on channels.
struct Listener {
    _child: ChildGuard,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    /// `KEY@127.0.0.1:PORT` from the `listening on` line.
    address: String,
}

impl Listener {
    fn start(dir: &Path, key_file: &str) -> Listener {
        Self::start_with(dir, key_file, &[])
    }

    /// Like `start`, with extra arguments before the subcommand (such as `-v`).
    fn start_with(dir: &Path, key_file: &str, global: &[&str]) -> Listener {
        Self::start_on(dir, key_file, global, &["127.0.0.1:0"])
    }

    /// Like `start_with`, listening on `addrs`.
    fn start_on(dir: &Path, key_file: &str, global: &[&str], addrs: &[&str]) -> Listener {
        let mut child = ChildGuard(
            netchan(dir)
                .args(global)
                .args(["listen", "--key", key_file])
                .args(addrs)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start netchan listen"),
        );
        let stdout = read_lines(child.0.stdout.take().unwrap());
        let stderr = read_lines(child.0.stderr.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(30);
        let first = stderr
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|e| panic!("no `listening on` line from netchan listen: {e}"));
        let address = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first stderr line of listen: {first:?}"))
            .to_owned();
        Listener {
            _child: child,
            stdout,
            stderr,
            address,
        }
    }

    fn port(&self) -> &str {
        self.address.rsplit_once(':').expect("address has a port").1
    }

    /// Waits (until `deadline`) for a stderr line containing `needle`.
    fn wait_stderr(&self, needle: &str, deadline: Instant) -> String {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("listener stderr: no line with {needle:?}: {e}"),
            }
        }
    }
}

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn keygen_listen_dial_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "server.key");
    #[cfg(unix)]
    assert_eq!(mode_of(&dir.path().join("server.key")), 0o600);

    let listener = Listener::start(dir.path(), "server.key");
    let (printed_key, host) = listener
        .address
        .split_once('@')
        .expect("KEY@HOST:PORT in the listening line");
    assert_eq!(printed_key, key.to_string(), "listen uses the key file");
    assert_eq!(host, format!("127.0.0.1:{}", listener.port()));

    let mut dial = netchan(dir.path());
    dial.args(["dial", &format!("{key}@127.0.0.1:{}", listener.port())]);
    let out = run(dial, "hello\nworld\n", Duration::from_secs(30));
    assert!(out.status.success(), "dial failed: {out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");

    // The lines arrived, in order, exactly once. `dial` exits only after the listener
    // took them, so they are printed (or about to be) by now.
    let deadline = Instant::now() + Duration::from_secs(10);
    for expected in ["hello", "world"] {
        let line = listener
            .stdout
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|e| panic!("listener did not print {expected:?}: {e}"));
        assert_eq!(line, expected);
    }
    assert!(
        listener
            .stdout
            .recv_timeout(Duration::from_millis(300))
            .is_err(),
        "listener printed more than the two lines"
    );

    // Peer events on the listener's stderr.
    let deadline = Instant::now() + Duration::from_secs(10);
    let connected = listener.wait_stderr("connected from 127.0.0.1:", deadline);
    assert!(connected.starts_with("peer "), "{connected}");
}

#[test]
fn verbose_listen_logs_the_peer_and_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "server.key");
    let listener = Listener::start_with(dir.path(), "server.key", &["-v"]);
    let mut dial = netchan(dir.path());
    dial.args(["dial", &format!("{key}@127.0.0.1:{}", listener.port())]);
    let out = run(dial, "hello\n", Duration::from_secs(30));
    assert!(out.status.success(), "dial failed: {out:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    // The transport logs the connection and its path, then the node the peer.
    let established = listener.wait_stderr("connection established", deadline);
    let line = listener.wait_stderr("peer connected", deadline);
    println!("netchan -v listen:\n{established}\n{line}");
    let local = format!("127.0.0.1:{}", listener.port());
    assert!(
        established.contains(&format!("local={local}")) && established.contains("path=0"),
        "no path of the connection in {established:?}"
    );
    assert!(line.contains("path=0"), "no path id in {line:?}");
    assert!(
        line.contains("remote=127.0.0.1:"),
        "no peer address in {line:?}"
    );
    assert!(line.contains("INFO"), "{line:?}");
    assert_eq!(
        listener
            .stdout
            .recv_timeout(Duration::from_secs(30))
            .unwrap(),
        "hello"
    );
}

#[test]
fn dial_with_the_wrong_key_fails_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    keygen(dir.path(), "server.key");
    let other = keygen(dir.path(), "other.key");
    let listener = Listener::start(dir.path(), "server.key");

    let mut dial = netchan(dir.path());
    dial.args([
        "dial",
        "--timeout",
        "2s",
        &format!("{other}@127.0.0.1:{}", listener.port()),
    ]);
    let out = run(dial, "secret\n", Duration::from_secs(30));
    assert_one_line_error(&out, "could not connect");
    assert!(
        out.elapsed < Duration::from_secs(15),
        "the handshake timeout was not honoured: {out:?}"
    );
    // Nothing reached the listener.
    assert!(
        listener
            .stdout
            .recv_timeout(Duration::from_millis(200))
            .is_err()
    );
}

#[test]
fn dial_with_a_missing_key_file_fails() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "server.key");
    let mut dial = netchan(dir.path());
    dial.args([
        "dial",
        "--key",
        "missing.key",
        &format!("{key}@127.0.0.1:9"),
    ]);
    let out = run(dial, "x\n", Duration::from_secs(30));
    assert_one_line_error(&out, "missing.key");

    let mut listen = netchan(dir.path());
    listen.args(["listen", "--key", "missing.key", "127.0.0.1:0"]);
    let out = run(listen, "", Duration::from_secs(30));
    assert_one_line_error(&out, "missing.key");
}

#[test]
fn bad_arguments_give_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "k.key");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["dial".into(), "127.0.0.1:9".into()], "bad address"),
        (
            vec!["dial".into(), "nonsense@127.0.0.1:9".into()],
            "bad address",
        ),
        (vec!["dial".into(), format!("{key}@127.0.0.1")], "port"),
        (
            vec!["listen".into(), "not-an-address".into()],
            "bad listen address",
        ),
        (
            vec![
                "listen".into(),
                "--psk".into(),
                "k.key".into(),
                "127.0.0.1:0".into(),
            ],
            "psk file",
        ),
        (vec!["listen".into()], "ADDR"),
        (vec!["frobnicate".into()], "frobnicate"),
        (
            vec!["dial".into(), "--timeout".into(), "soon".into(), "x".into()],
            "timeout",
        ),
    ];
    for (args, needle) in cases {
        let mut cmd = netchan(dir.path());
        cmd.args(&args);
        let out = run(cmd, "", Duration::from_secs(30));
        assert_one_line_error(&out, needle);
    }
}

#[test]
fn keygen_default_path_and_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = netchan(dir.path());
    cmd.arg("keygen");
    let out = run(cmd, "", Duration::from_secs(30));
    assert!(out.status.success(), "{out:?}");
    let first: PublicKey = out.stdout.trim_end().parse().expect("a public key");
    let path = dir.path().join("netchan.key");
    let loaded = netchan::identity::load_keypair(&path).expect("a valid key file");
    assert_eq!(loaded.public(), first);

    // An existing key file is never replaced by accident.
    let mut cmd = netchan(dir.path());
    cmd.arg("keygen");
    let out = run(cmd, "", Duration::from_secs(30));
    assert_one_line_error(&out, "--force");
    assert_eq!(
        netchan::identity::load_keypair(&path).unwrap().public(),
        first
    );

    // ... only with --force.
    let mut cmd = netchan(dir.path());
    cmd.args(["keygen", "--force"]);
    let out = run(cmd, "", Duration::from_secs(30));
    assert!(out.status.success(), "{out:?}");
    let second: PublicKey = out.stdout.trim_end().parse().expect("a public key");
    assert_ne!(second, first);
    assert_eq!(
        netchan::identity::load_keypair(&path).unwrap().public(),
        second
    );
    #[cfg(unix)]
    assert_eq!(mode_of(&path), 0o600);
}

#[test]
fn psk_must_match() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "server.key");
    std::fs::write(dir.path().join("a.psk"), format!("{}\n", "ab".repeat(32))).unwrap();
    std::fs::write(dir.path().join("b.psk"), [0xcd; 32]).unwrap();
    // PSK files are secrets: like key files, readable by their owner only.
    use std::os::unix::fs::PermissionsExt;
    for f in ["a.psk", "b.psk"] {
        let perms = std::fs::Permissions::from_mode(0o600);
        std::fs::set_permissions(dir.path().join(f), perms).unwrap();
    }

    let mut child = ChildGuard(
        netchan(dir.path())
            .args([
                "listen",
                "--key",
                "server.key",
                "--psk",
                "a.psk",
                "127.0.0.1:0",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = read_lines(child.0.stdout.take().unwrap());
    let stderr = read_lines(child.0.stderr.take().unwrap());
    let first = stderr.recv_timeout(Duration::from_secs(30)).unwrap();
    let address = first.strip_prefix("listening on ").unwrap().to_owned();
    assert!(address.starts_with(&key.to_string()));

    // A different PSK: the listener stays silent, the handshake times out.
    let mut dial = netchan(dir.path());
    dial.args(["dial", "--psk", "b.psk", "--timeout", "1s", &address]);
    let out = run(dial, "nope\n", Duration::from_secs(30));
    assert_one_line_error(&out, "could not connect");

    // The same PSK: delivered.
    let mut dial = netchan(dir.path());
    dial.args(["dial", "--psk", "a.psk", &address]);
    let out = run(dial, "with psk\n", Duration::from_secs(30));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        stdout.recv_timeout(Duration::from_secs(10)).unwrap(),
        "with psk"
    );
}

/// A drop rule for every packet from or to one address, removed on drop.
struct Cut(&'static str);

impl Cut {
    fn apply(addr: &str) -> Cut {
        let table = "netchan_cli_cut";
        let nft = |args: &[&str]| {
            let st = Command::new("nft").args(args).status().expect("run nft");
            assert!(st.success(), "nft {args:?} failed");
        };
        nft(&["add", "table", "ip", table]);
        nft(&[
            "add",
            "chain",
            "ip",
            table,
            "out",
            "{ type filter hook output priority 0 ; }",
        ]);
        nft(&[
            "add", "rule", "ip", table, "out", "ip", "saddr", addr, "drop",
        ]);
        nft(&[
            "add", "rule", "ip", table, "out", "ip", "daddr", addr, "drop",
        ]);
        Cut(table)
    }
}

impl Drop for Cut {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", self.0])
            .status();
    }
}

/// `dial --local A --local B --mode mirror` to a listener on two addresses: four paths
/// over loopback; 100,000 lines arrive exactly once and in order while every path of one
/// of the dialer's addresses is cut (an nftables drop rule) from the 20,000th line on.
#[test]
fn multipath_dial_survives_a_cut_path() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "server.key");
    let listener = Listener::start_on(
        dir.path(),
        "server.key",
        &[],
        &["127.0.9.1:0", "127.0.9.2:0"],
    );
    let (printed_key, hosts) = listener.address.split_once('@').expect("KEY@ADDRS");
    assert_eq!(printed_key, key.to_string());
    assert_eq!(
        hosts.split(',').count(),
        2,
        "both addresses listed: {hosts}"
    );

    let mut dial = ChildGuard(
        netchan(dir.path())
            .args(["dial", "--timeout", "60s", "--mode", "mirror"])
            .args(["--local", "127.0.9.3", "--local", "127.0.9.4"])
            .arg(&listener.address)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start netchan dial"),
    );
    let dial_err = read_all(dial.0.stderr.take().unwrap());
    let mut stdin = dial.0.stdin.take().unwrap();
    const LINES: usize = 100_000;
    let writer = thread::spawn(move || {
        let mut w = std::io::BufWriter::new(&mut stdin);
        for i in 0..LINES {
            writeln!(w, "line {i}").expect("write to dial");
            if i % 100 == 99 {
                // About 1.5 s in all, so the cut comes mid-transfer.
                w.flush().expect("flush");
                thread::sleep(Duration::from_micros(1500));
            }
        }
        drop(w);
        drop(stdin);
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut cut = None;
    for i in 0..LINES {
        let line = listener
            .stdout
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|e| panic!("line {i} did not arrive: {e}"));
        assert_eq!(line, format!("line {i}"), "exactly once, in order");
        if i == 20_000 {
            cut = Some(Cut::apply("127.0.9.4"));
        }
    }
    writer.join().expect("writer");
    let status = dial.0.wait().expect("dial exits");
    let err = dial_err
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_default();
    assert!(status.success(), "dial failed: {err}");
    assert!(
        listener
            .stdout
            .recv_timeout(Duration::from_millis(500))
            .is_err(),
        "a line arrived twice"
    );
    drop(cut);
    // The listener saw the dialer's further paths come up.
    let (mut ups, mut downs) = (0, 0);
    while let Ok(l) = listener.stderr.recv_timeout(Duration::from_millis(200)) {
        eprintln!("listener: {l}");
        ups += usize::from(l.contains(" up ("));
        downs += usize::from(l.contains(" down ("));
    }
    eprintln!(
        "multipath_dial_survives_a_cut_path: {LINES} lines exactly once; the listener reported {ups} paths up, {downs} down"
    );
    assert!(ups >= 2, "the listener reported {ups} paths up");
}
