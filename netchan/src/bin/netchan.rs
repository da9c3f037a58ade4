//! `netchan`: a command-line tool for netchan nodes.
//!
//! * `netchan keygen [FILE]` creates a key file and prints its public key.
//! * `netchan listen ADDR [ADDR...]` prints every line that dialers send.
//! * `netchan dial [--local IP[:PORT]]... [--mode MODE] KEY@HOST:PORT[,HOST:PORT...]`
//!   sends the lines of its standard input, over several paths when given several
//!   addresses (multipath).
//!
//! Lines travel as `String` messages on the channel named `lines`. Every failure ends
//! the program with a one-line message on stderr (`netchan: error: ...`) and a non-zero
//! exit status (1 for runtime errors, 2 for command-line usage errors).

use clap::{Args, Parser, Subcommand};
use netchan::identity::{self, KeyFileError, Keypair, Psk};
use netchan::{Node, NodeConfig, NodeEvent, PathMode};
use std::fmt::Display;
use std::io::{self, BufRead, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// The channel that `listen` and `dial` use.
const CHANNEL: &str = "lines";
/// How many lines `dial` buffers for its (unused) receiving side.
const CAPACITY: u32 = 1024;
/// How many lines the listener buffers per dialer before their `send` blocks.
const LISTEN_CAPACITY: u32 = 1024;
/// The key file `keygen` writes when no FILE is given.
const DEFAULT_KEY_FILE: &str = "netchan.key";

#[derive(Parser, Debug)]
#[command(
    name = "netchan",
    version,
    about = "Send lines of text between machines over netchan's encrypted UDP transport",
    long_about = "Send lines of text between machines over netchan's encrypted UDP transport.\n\n\
        Typical use:\n  \
        netchan keygen server.key                 # prints the server's public KEY\n  \
        netchan listen --key server.key 0.0.0.0:4000\n  \
        echo hello | netchan dial KEY@server.example:4000\n\n\
        Every failure ends with a one-line `netchan: error: ...` on stderr and a non-zero \
        exit status."
)]
struct Cli {
    /// Log what the node does on stderr: -v connections, peers and paths; -vv also
    /// handshakes, probes and redials; -vvv everything. `RUST_LOG` (e.g.
    /// `RUST_LOG=netchan=debug,netchan_transport=info`) takes precedence.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// Logs to stderr, filtered by `RUST_LOG` if set, else by the `-v` count (none by
/// default, so stderr keeps its one-line contract).
fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let level = match verbose {
        0 => "off",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&io::stderr()))
        .with_target(false)
        .try_init();
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate a new identity (keypair), save it to a key file and print its public key.
    ///
    /// The file holds the SECRET key (one line, base32) and is created with mode 0600;
    /// keep it private. The public key printed on stdout is what dialers put in front of
    /// the address: KEY@HOST:PORT.
    Keygen {
        /// Where to write the key file.
        #[arg(value_name = "FILE", default_value = DEFAULT_KEY_FILE)]
        file: PathBuf,
        /// Replace FILE if it already exists (the old identity is lost for good).
        #[arg(long)]
        force: bool,
    },
    /// Listen for dialers and print every line they send on stdout.
    ///
    /// Prints `listening on KEY@IP:PORT` on stderr once ready (give that address to
    /// `netchan dial`; for 0.0.0.0 it shows 127.0.0.1, so from other machines use this
    /// machine's address with the same KEY and PORT), then one stderr line per peer
    /// event (connected, disconnected). Anyone who knows KEY (and the --psk, if set) can
    /// send lines. Runs until killed.
    Listen {
        #[command(flatten)]
        identity: IdentityArgs,
        /// Local UDP addresses to listen on, IP:PORT (e.g. 0.0.0.0:4000; port 0 picks a
        /// free port, shown in the `listening on` line). Several addresses allow several
        /// paths per dialer (multipath).
        #[arg(value_name = "ADDR", required = true, num_args = 1..)]
        addrs: Vec<String>,
        /// Multipath mode of what this side sends (stripe, mirror, parity, hedged,
        /// backup); multipath is on with several addresses or with this option.
        #[arg(long, value_name = "MODE")]
        mode: Option<PathMode>,
    },
    /// Connect to a listener and send it the lines of stdin.
    ///
    /// Exits 0 once stdin is at its end and the listener has taken every line.
    Dial {
        #[command(flatten)]
        identity: IdentityArgs,
        /// How long to wait for the handshake, for the listener to open its channel, and
        /// at the end for the listener to take the last lines. A number with a unit:
        /// ms, s, m (e.g. 500ms, 10s, 1m); a plain number means seconds.
        #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
        timeout: Duration,
        /// A local address to send from, IP or IP:PORT (repeatable): a path opens from
        /// each to each of the listener's addresses (multipath). Loopback addresses
        /// 127.0.0.x make distinct paths on one machine.
        #[arg(long = "local", value_name = "IP[:PORT]")]
        locals: Vec<String>,
        /// How the lines are spread over the paths: stripe (bandwidth), mirror (every
        /// line on every path: a dead path costs nothing), parity, hedged or backup
        /// (the paths beyond the first only while it is down). Default stripe.
        #[arg(long, value_name = "MODE")]
        mode: Option<PathMode>,
        /// The listener's address, KEY@HOST:PORT, with KEY its public key (printed by its
        /// `keygen` or its `listening on` line); more of its addresses may follow,
        /// separated by commas (KEY@HOST:PORT,HOST2:PORT2). The connection fails unless
        /// the listener holds that key.
        #[arg(value_name = "KEY@HOST:PORT[,HOST:PORT...]")]
        addr: String,
    },
}

#[derive(Args, Debug)]
struct IdentityArgs {
    /// Key file with this node's identity (made by `netchan keygen`; must not be
    /// readable by group or others). Default: a fresh identity for this run only.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// File with a 32-byte pre-shared key, as 32 raw bytes or 64 hexadecimal characters
    /// (plus an optional newline), readable by its owner only (mode 600). Both sides
    /// must use the same one; nodes without it cannot connect.
    #[arg(long, value_name = "FILE")]
    psk: Option<PathBuf>,
}

/// A failure, shown as `netchan: error: {0}`.
#[derive(Debug)]
struct Failure(String);

impl Failure {
    fn new(msg: impl Display) -> Self {
        Failure(msg.to_string())
    }
    fn context(what: impl Display) -> impl FnOnce(netchan::Error) -> Failure {
        move |e| Failure(format!("{what}: {e}"))
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Keygen { file, force } => keygen(&file, force),
        Command::Listen {
            identity,
            addrs,
            mode,
        } => listen(&identity, &addrs, mode),
        Command::Dial {
            identity,
            timeout,
            locals,
            mode,
            addr,
        } => dial(&identity, timeout, (&locals, mode), &addr),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(msg)) => {
            eprintln!("netchan: error: {}", one_line(&msg));
            ExitCode::FAILURE
        }
    }
}

/// Help and version go to stdout as usual; a usage error becomes one stderr line.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
    }
    let rendered = e.render().to_string();
    // Keep clap's message, drop its usage block (we point to --help instead).
    let msg: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let msg = msg.join(" ");
    let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
    eprintln!(
        "netchan: error: {}; see `netchan --help`",
        one_line(msg.trim_end_matches('.'))
    );
    ExitCode::from(2)
}

/// Error messages are one line, whatever an underlying error prints.
fn one_line(s: &str) -> String {
    let lines: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines.join(" ")
}

// ----- keygen ------------------------------------------------------------------------

fn keygen(file: &Path, force: bool) -> Result<(), Failure> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut seed[..])
        .map_err(|e| Failure::new(format!("no randomness from the OS: {e}")))?;
    let kp = identity::generate(*seed);
    let saved = if force {
        identity::overwrite_keypair(file, &kp)
    } else {
        identity::save_keypair(file, &kp)
    };
    saved.map_err(|e| match e {
        KeyFileError::AlreadyExists { .. } => {
            Failure::new(format!("{e}; use --force to replace it"))
        }
        e => Failure::new(e),
    })?;
    let mut out = io::stdout().lock();
    writeln!(out, "{}", kp.public())
        .and_then(|()| out.flush())
        .map_err(|e| Failure::new(format!("writing to stdout: {e}")))?;
    eprintln!("netchan: secret key saved to {}", file.display());
    Ok(())
}

// ----- listen ------------------------------------------------------------------------

fn listen(id: &IdentityArgs, addrs: &[String], mode: Option<PathMode>) -> Result<(), Failure> {
    let mut config = node_config(id)?;
    for addr in addrs {
        config = config.bind(resolve_listen_addr(addr)?);
    }
    if addrs.len() > 1 || mode.is_some() {
        config = config.multipath(mode.unwrap_or_default());
    }
    let node = Node::new(config).map_err(Failure::context("starting the node"))?;
    let events = node.events();
    thread::spawn(move || {
        for event in events.iter() {
            eprintln!("{}", describe(&event));
        }
    });
    // Keep the sender: the channel stays open in both directions.
    let (_tx, rx) = node
        .channel::<String>(CHANNEL, LISTEN_CAPACITY)
        .map_err(Failure::context(format!("opening channel {CHANNEL:?}")))?;
    eprintln!("listening on {}", listen_address(&node));
    let mut out = io::stdout().lock();
    for line in rx.iter() {
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| Failure::new(format!("writing to stdout: {e}")))?;
    }
    Err(Failure::new(format!(
        "channel {CHANNEL:?} closed: {}",
        rx.try_recv()
            .err()
            .map_or("the node shut down".into(), |e| e.to_string())
    )))
}

/// `KEY@A,B,...`: every bound address, `0.0.0.0`/`::` shown as loopback.
fn listen_address(node: &Node) -> String {
    let addrs: Vec<String> = node
        .local_addrs()
        .iter()
        .map(|a| {
            let mut a = *a;
            if a.ip().is_unspecified() {
                a.set_ip(if a.is_ipv4() {
                    [127, 0, 0, 1].into()
                } else {
                    std::net::Ipv6Addr::LOCALHOST.into()
                });
            }
            a.to_string()
        })
        .collect();
    format!("{}@{}", node.public_key(), addrs.join(","))
}

/// `IP` or `IP:PORT` (port 0 when absent) for `--local`.
fn parse_local(s: &str) -> Result<SocketAddr, Failure> {
    s.parse::<SocketAddr>()
        .or_else(|_| {
            s.parse::<std::net::IpAddr>()
                .map(|ip| SocketAddr::new(ip, 0))
        })
        .map_err(|_| Failure::new(format!("bad --local address {s:?}: expected IP or IP:PORT")))
}

fn resolve_listen_addr(addr: &str) -> Result<SocketAddr, Failure> {
    let bad = |why: &str| Failure::new(format!("bad listen address {addr:?}: {why}"));
    if addr.contains('@') {
        return Err(bad(
            "expected IP:PORT without a key (the key comes from --key)",
        ));
    }
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return Ok(a);
    }
    match addr.to_socket_addrs() {
        Ok(mut it) => it.next().ok_or_else(|| bad("it resolves to nothing")),
        Err(_) => Err(bad("expected IP:PORT, e.g. 0.0.0.0:4000 or [::]:4000")),
    }
}

/// `HOST:PORT` to one socket address, with the resolver's reason on failure.
fn resolve_host(host: &str) -> Result<SocketAddr, Failure> {
    if let Ok(a) = host.parse::<SocketAddr>() {
        return Ok(a);
    }
    let fail = |why: String| Failure::new(format!("cannot resolve {host:?}: {why}"));
    if !host.contains(':') {
        return Err(fail("expected HOST:PORT (the port is missing)".into()));
    }
    host.to_socket_addrs()
        .map_err(|e| fail(e.to_string()))?
        .next()
        .ok_or_else(|| fail("no address found".into()))
}

fn describe(event: &NodeEvent) -> String {
    match event {
        NodeEvent::PeerConnected { peer, addr } => format!("peer {peer} connected from {addr}"),
        NodeEvent::PeerReconnected { peer, addr } => {
            format!("peer {peer} reconnected from {addr}")
        }
        NodeEvent::PeerDisconnected { peer, reason } => {
            format!("peer {peer} disconnected: {}", one_line(reason))
        }
        NodeEvent::PeerLost { peer } => {
            format!("peer {peer} lost: it did not come back within the reconnection lease")
        }
        NodeEvent::ChannelError {
            peer,
            channel,
            error,
        } => format!("peer {peer}: channel {channel:?} failed: {error}"),
        NodeEvent::PathUp {
            peer,
            path,
            local,
            remote,
        } => format!("peer {peer}: path {path} up ({local} -> {remote})"),
        NodeEvent::PathDown {
            peer,
            path,
            local,
            remote,
            abandoned,
        } => {
            let what = if *abandoned { "abandoned" } else { "down" };
            format!("peer {peer}: path {path} {what} ({local} -> {remote})")
        }
        other => format!("{other:?}"),
    }
}

// ----- dial --------------------------------------------------------------------------

fn dial(
    id: &IdentityArgs,
    timeout: Duration,
    (locals, mode): (&[String], Option<PathMode>),
    addr: &str,
) -> Result<(), Failure> {
    // Require the pinned form: dialing a bare HOST:PORT would trust whoever answers.
    let (key, host) = identity::parse_peer_address(addr).map_err(|e| {
        Failure::new(format!(
            "bad address {addr:?}: {e} (expected KEY@HOST:PORT, with KEY the listener's \
             public key)"
        ))
    })?;
    let remotes = host
        .split(',')
        .map(resolve_host)
        .collect::<Result<Vec<_>, _>>()?;
    let mut config = node_config(id)?;
    config.transport.handshake_timeout = timeout;
    for local in locals {
        config = config.bind(parse_local(local)?);
    }
    if locals.len() > 1 || remotes.len() > 1 || mode.is_some() {
        config = config.multipath(mode.unwrap_or_default());
    }
    let node = Node::new(config).map_err(Failure::context("starting the node"))?;
    let remote: Vec<String> = remotes.iter().map(|r| r.to_string()).collect();
    let peer = node
        .dial(&format!("{key}@{}", remote.join(",")))
        .map_err(|e| match e {
            netchan::Error::Connect { .. } => Failure::new(format!(
                "{e} (is `netchan listen` running there, with that key and the same --psk?)"
            )),
            e => Failure::new(e),
        })?;
    let (tx, _rx) = peer
        .channel::<String>(CHANNEL, CAPACITY)
        .map_err(Failure::context(format!("opening channel {CHANNEL:?}")))?;

    // The listener opens its channel at start-up; anything else at that address would
    // leave `send` waiting forever.
    let deadline = Instant::now() + timeout;
    while tx.ready_peers() == 0 {
        if Instant::now() >= deadline {
            return Err(Failure::new(format!(
                "connected to {addr}, but it did not open channel {CHANNEL:?} within {} \
                 (is it a `netchan listen`?)",
                show_duration(timeout)
            )));
        }
        thread::sleep(Duration::from_millis(5));
    }

    let stdin = io::stdin().lock();
    for (n, line) in stdin.lines().enumerate() {
        let line = line.map_err(|e| Failure::new(format!("reading stdin line {}: {e}", n + 1)))?;
        tx.send(line)
            .map_err(|e| Failure::new(format!("sending line {}: {}", n + 1, e.reason())))?;
    }

    // Stdin is done: wait until the listener has taken every line, so none is lost.
    let deadline = Instant::now() + timeout;
    while !tx.is_empty() {
        if Instant::now() >= deadline {
            return Err(Failure::new(format!(
                "{} line(s) were not confirmed by the listener within {}",
                tx.len(),
                show_duration(timeout)
            )));
        }
        thread::sleep(Duration::from_millis(5));
    }
    drop(tx);
    // Dropping the node closes the connection gracefully.
    drop(node);
    Ok(())
}

// ----- shared ------------------------------------------------------------------------

fn node_config(id: &IdentityArgs) -> Result<NodeConfig, Failure> {
    let mut config = NodeConfig::new();
    if let Some(path) = &id.key {
        config = config.keypair(load_key(path)?);
    }
    if let Some(path) = &id.psk {
        config = config.psk(load_psk(path)?);
    }
    Ok(config)
}

fn load_key(path: &Path) -> Result<Keypair, Failure> {
    identity::load_keypair(path).map_err(Failure::new)
}

fn load_psk(path: &Path) -> Result<Psk, Failure> {
    identity::load_psk(path)
        .map_err(|e| Failure::new(e.to_string().replacen("key file", "psk file", 1)))
}

/// Parses `500ms`, `10s`, `2m` or a plain number of seconds (`1.5` allowed).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let value: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 500ms, 10s, 1m)"))?;
    let secs = value * scale;
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
        return Err(format!(
            "{s:?}: the duration must be above 0 and at most one day"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn show_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        for bad in ["", "s", "0", "-1s", "abc", "1h", "nan", "inf", "1e9"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(show_duration(Duration::from_secs(10)), "10s");
        assert_eq!(show_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn errors_are_one_line() {
        assert_eq!(one_line("a\n  b\r\n\nc  d "), "a b c  d");
        assert_eq!(one_line(""), "");
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(
            resolve_listen_addr("127.0.0.1:0").unwrap(),
            "127.0.0.1:0".parse::<SocketAddr>().unwrap()
        );
        for bad in ["", "nonsense", "1.2.3.4", "KEY@1.2.3.4:5", "1.2.3.4:99999"] {
            let Failure(msg) = resolve_listen_addr(bad).unwrap_err();
            assert!(msg.starts_with("bad listen address"), "{msg}");
        }
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
