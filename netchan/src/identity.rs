//! Node identities and key files.
//!
//! A node is identified by the public half of a static X25519 [`Keypair`]; its printable
//! form ([`PublicKey`]'s `Display`) is 52 lowercase base32 characters, and a peer is
//! addressed as `KEY@host:port` ([`parse_peer_address`]). The pure types live in
//! [`netchan_transport::identity`]; this module adds the file handling.
//!
//! # Key file format
//!
//! A key file holds exactly one line: the **secret** key as 52 base32 characters
//! (RFC 4648 alphabet, no padding, either case; [`save_keypair`] writes lowercase), or
//! as 64 hexadecimal characters, followed by an optional newline (`\n` or `\r\n`).
//! Nothing else: no comments, no blank lines, no surrounding whitespace. The public key
//! is derived from the secret, so it is not stored.
//!
//! # Permissions (Unix)
//!
//! [`save_keypair`] creates the file with mode `0600` (owner read/write only; the
//! process umask can only remove bits). [`load_keypair`] refuses a file whose mode grants
//! any permission to group or others (`mode & 0o077 != 0`) with
//! [`KeyFileError::Permissions`]; fix it with `chmod 600 FILE`. The mode is read from
//! the opened file, so the check applies to the file actually read. On non-Unix targets
//! no permission check is made (this project targets Linux).
//!
//! # Embedded keys
//!
//! [`keypair_from_embedded`] parses a key compiled into the binary, e.g.
//! `keypair_from_embedded(include_bytes!("node.key"))`. **Embedding a key in a binary
//! does NOT make it secret**: anyone who can read the binary can extract the key. Use it
//! only for test fixtures or for binaries that are themselves protected as secrets.
#![forbid(unsafe_code)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

pub use netchan_transport::identity::{KeyError, Keypair, PublicKey, parse_peer_address};

/// Largest key file accepted: a key line is at most 66 bytes; anything much bigger is not
/// a key file and is not read into memory.
const MAX_KEY_FILE: u64 = 1024;

/// Errors of key files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file could not be opened, read, created or written.
    #[error("key file {}: {source}", path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The key file is readable or writable by group or others (Unix).
    #[error(
        "key file {} has mode {mode:03o}, which gives access to group or others; \
         restrict it with `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    Permissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits (`mode & 0o777`).
        mode: u32,
    },
    /// The file's contents are not a key in the documented format.
    #[error("key file {}: {reason}", path.display())]
    Format {
        /// The key file.
        path: PathBuf,
        /// What is wrong (never includes the key material).
        reason: String,
    },
    /// [`save_keypair`] refused to replace an existing file; use [`overwrite_keypair`]
    /// to replace it deliberately.
    #[error("key file {} already exists; refusing to overwrite it", path.display())]
    AlreadyExists {
        /// The key file.
        path: PathBuf,
    },
}

fn io_err(path: &Path, source: io::Error) -> KeyFileError {
    KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A deterministic keypair from a 32-byte seed ([`Keypair::from_seed`]). For a fresh
/// identity, take the seed from a CSPRNG (e.g. the OS's `getrandom`).
pub fn generate(seed: [u8; 32]) -> Keypair {
    Keypair::from_seed(seed)
}

/// The key file's contents for `kp`: the secret in base32 and a newline.
fn file_contents(kp: &Keypair) -> Zeroizing<Vec<u8>> {
    let text = kp.secret_text();
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() + 1));
    out.extend_from_slice(text.as_bytes());
    out.push(b'\n');
    out
}

/// Options for a new key file: create only, write only, mode 0600 on Unix.
fn new_file_options() -> OpenOptions {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts
}

/// Write `contents` to the freshly created `file` and flush it to disk.
fn write_all_sync(mut file: File, contents: &[u8]) -> io::Result<()> {
    file.write_all(contents)?;
    file.sync_all()
}

/// Save `kp` to a new key file at `path`, created with mode `0600` (see the [module
/// docs](self) for the format).
///
/// Refuses to replace an existing file (or symlink) with [`KeyFileError::AlreadyExists`]:
/// losing an identity by accident is hard to undo. Use [`overwrite_keypair`] to replace a
/// key deliberately. The file is created exclusively (`O_CREAT | O_EXCL`) with its final
/// mode, so it is never readable by others, not even briefly. If writing fails, the
/// partial file is removed.
pub fn save_keypair(path: &Path, kp: &Keypair) -> Result<(), KeyFileError> {
    let file = new_file_options().open(path).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            KeyFileError::AlreadyExists {
                path: path.to_path_buf(),
            }
        } else {
            io_err(path, e)
        }
    })?;
    let contents = file_contents(kp);
    if let Err(e) = write_all_sync(file, &contents) {
        let _ = fs::remove_file(path);
        return Err(io_err(path, e));
    }
    Ok(())
}

/// Save `kp` at `path`, atomically replacing any existing file.
///
/// Writes a temporary file with mode `0600` in the same directory, flushes it, and
/// renames it over `path`, so `path` always holds either the old or the new key. The
/// old key is lost.
pub fn overwrite_keypair(path: &Path, kp: &Keypair) -> Result<(), KeyFileError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| KeyFileError::Format {
        path: path.to_path_buf(),
        reason: "path has no file name".into(),
    })?;
    let contents = file_contents(kp);
    let mut last_err = None;
    for attempt in 0..16u32 {
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp.{}.{attempt}", std::process::id()));
        let tmp = dir.join(tmp_name);
        let file = match new_file_options().open(&tmp) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                last_err = Some(e);
                continue;
            }
            Err(e) => return Err(io_err(&tmp, e)),
        };
        let result = write_all_sync(file, &contents).and_then(|()| fs::rename(&tmp, path));
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(path, e));
        }
        // Make the rename durable; best effort (not all filesystems allow syncing a
        // directory).
        #[cfg(unix)]
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        return Ok(());
    }
    Err(io_err(
        path,
        last_err.unwrap_or_else(|| io::Error::other("no free temporary file name")),
    ))
}

/// Opens a secret file for reading: without blocking (a FIFO or device path is refused
/// at once instead of hanging until someone writes to it), a regular file only, and on
/// Unix only if it grants no permission to group or others. The checks apply to the
/// file actually opened.
fn open_secret_file(path: &Path) -> Result<File, KeyFileError> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(nix::libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| io_err(path, e))?;
    let meta = file.metadata().map_err(|e| io_err(path, e))?;
    if !meta.is_file() {
        return Err(KeyFileError::Format {
            path: path.to_path_buf(),
            reason: "not a regular file".into(),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::Permissions {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    Ok(file)
}

/// Load a keypair from the key file at `path` (format in the [module docs](self)).
///
/// On Unix, refuses a file that grants any permission to group or others with
/// [`KeyFileError::Permissions`] (mode `0600` and `0400` are fine), and anything but a
/// regular file (a FIFO is refused at once, without waiting for a writer).
pub fn load_keypair(path: &Path) -> Result<Keypair, KeyFileError> {
    let file = open_secret_file(path)?;
    let mut contents = Zeroizing::new(Vec::with_capacity(128));
    file.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut contents)
        .map_err(|e| io_err(path, e))?;
    if contents.len() as u64 > MAX_KEY_FILE {
        return Err(KeyFileError::Format {
            path: path.to_path_buf(),
            reason: format!("file is too large to be a key file (over {MAX_KEY_FILE} bytes)"),
        });
    }
    parse_key_text(&contents).map_err(|e| KeyFileError::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Largest PSK file read: 64 hex characters and a line ending, with room to spare.
const MAX_PSK_FILE: u64 = 256;

/// A 32-byte pre-shared key ([`NodeConfig::psk`](crate::NodeConfig::psk)): zeroized when
/// dropped (every clone too), and `Debug` shows no key material.
#[derive(Clone, PartialEq, Eq)]
pub struct Psk(Zeroizing<[u8; 32]>);

impl Psk {
    /// A PSK from its bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A PSK from a file's contents: exactly 32 raw bytes, or 64 hexadecimal characters
    /// (either case) with an optional `\n` or `\r\n`. Never panics; the error never
    /// contains key material.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        parse_psk(bytes).map(Self::new)
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<[u8; 32]> for Psk {
    fn from(bytes: [u8; 32]) -> Self {
        Self::new(bytes)
    }
}

impl std::fmt::Debug for Psk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Psk(<redacted>)")
    }
}

/// Loads a pre-shared key from the file at `path` (format: [`Psk::parse`]), with the
/// checks of [`load_keypair`]: a regular file (a FIFO is refused at once), and on Unix
/// no permission for group or others.
pub fn load_psk(path: &Path) -> Result<Psk, KeyFileError> {
    let file = open_secret_file(path)?;
    let mut contents = Zeroizing::new(Vec::new());
    file.take(MAX_PSK_FILE + 1)
        .read_to_end(&mut contents)
        .map_err(|e| io_err(path, e))?;
    Psk::parse(&contents).map_err(|reason| KeyFileError::Format {
        path: path.to_path_buf(),
        reason,
    })
}

/// A pre-shared key from a file's contents: exactly 32 raw bytes, or 64 hexadecimal
/// characters (either case) with an optional `\n` or `\r\n`. Never panics; the error
/// never contains key material.
fn parse_psk(bytes: &[u8]) -> Result<[u8; 32], String> {
    if let Ok(raw) = <[u8; 32]>::try_from(bytes) {
        return Ok(raw);
    }
    let text = bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .unwrap_or(bytes);
    if text.len() != 64 {
        return Err(format!(
            "expected 32 raw bytes or 64 hexadecimal characters, found {} bytes{}",
            bytes.len(),
            if bytes.len() as u64 > MAX_PSK_FILE {
                " or more"
            } else {
                ""
            }
        ));
    }
    let mut psk = [0u8; 32];
    for (i, pair) in text.chunks_exact(2).enumerate() {
        let hi = hex_digit(pair[0]);
        let lo = hex_digit(pair[1]);
        match (hi, lo) {
            (Some(h), Some(l)) => psk[i] = h << 4 | l,
            _ => {
                let pos = if hi.is_none() { 2 * i } else { 2 * i + 1 };
                return Err(format!(
                    "64 characters but not hexadecimal (invalid character at position {})",
                    pos + 1
                ));
            }
        }
    }
    Ok(psk)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Parse the key file format: one line, optional trailing `\n` or `\r\n`.
fn parse_key_text(bytes: &[u8]) -> Result<Keypair, KeyError> {
    let line = bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .unwrap_or(bytes);
    let text = std::str::from_utf8(line).map_err(|e| KeyError::InvalidCharacter {
        position: e.valid_up_to(),
    })?;
    Keypair::from_secret_text(text)
}

/// A keypair from bytes embedded in the program, e.g. with `include_bytes!`: either the
/// key file format (see the [module docs](self)) or exactly 32 raw secret bytes.
///
/// Embedding a key in a binary does NOT make it secret: anyone with the binary can
/// extract it.
pub fn keypair_from_embedded(bytes: &[u8]) -> Result<Keypair, KeyError> {
    // No text form is 32 bytes long (52–54 or 64–66), so raw bytes are unambiguous.
    if bytes.len() == 32 {
        return Keypair::from_bytes(bytes);
    }
    parse_key_text(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psk_formats() {
        let raw: [u8; 32] = std::array::from_fn(|i| i as u8 * 7);
        assert_eq!(parse_psk(&raw).unwrap(), raw);
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_psk(hex.as_bytes()).unwrap(), raw);
        assert_eq!(parse_psk(format!("{hex}\n").as_bytes()).unwrap(), raw);
        assert_eq!(parse_psk(format!("{hex}\r\n").as_bytes()).unwrap(), raw);
        assert_eq!(parse_psk(hex.to_uppercase().as_bytes()).unwrap(), raw);
        // A raw key that happens to end in a newline byte is still 32 raw bytes.
        let mut nl = raw;
        nl[31] = b'\n';
        assert_eq!(parse_psk(&nl).unwrap(), nl);
    }

    #[test]
    fn psk_rejects_everything_else() {
        let hex = "ab".repeat(32);
        let bad: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"\n".to_vec(),
            vec![0; 31],
            vec![0; 33],
            hex.as_bytes()[..63].to_vec(),
            format!("{hex}\n\n").into_bytes(),
            format!(" {hex}").into_bytes(),
            format!("{}zz", &hex[..62]).into_bytes(),
            "é".repeat(32).into_bytes(),
            vec![b'a'; 10_000],
        ];
        for b in bad {
            let e = parse_psk(&b).unwrap_err();
            assert!(!e.contains("abab"), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[cfg(unix)]
    fn set_mode(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[cfg(unix)]
    fn mode_of(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn same(a: &Keypair, b: &Keypair) -> bool {
        a.public() == b.public() && a.secret_bytes() == b.secret_bytes()
    }

    #[test]
    fn save_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        let kp = generate([42; 32]);
        save_keypair(&path, &kp).unwrap();
        #[cfg(unix)]
        assert_eq!(mode_of(&path), 0o600);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.len(), 53);
        assert!(text.ends_with('\n'));
        assert_eq!(text.trim_end(), text.trim_end().to_lowercase());
        let back = load_keypair(&path).unwrap();
        assert!(same(&kp, &back));
    }

    #[test]
    fn save_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        let a = generate([1; 32]);
        let b = generate([2; 32]);
        save_keypair(&path, &a).unwrap();
        let err = save_keypair(&path, &b).unwrap_err();
        assert!(
            matches!(&err, KeyFileError::AlreadyExists { path: p } if p == &path),
            "{err:?}"
        );
        assert!(same(&load_keypair(&path).unwrap(), &a));
        // Deliberate replacement.
        overwrite_keypair(&path, &b).unwrap();
        #[cfg(unix)]
        assert_eq!(mode_of(&path), 0o600);
        assert!(same(&load_keypair(&path).unwrap(), &b));
        // Overwrite also creates a missing file; no temporary files are left behind.
        let other = dir.path().join("other.key");
        overwrite_keypair(&other, &a).unwrap();
        assert!(same(&load_keypair(&other).unwrap(), &a));
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["node.key", "other.key"]);
    }

    #[cfg(unix)]
    #[test]
    fn load_refuses_group_or_other_access() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        save_keypair(&path, &generate([3; 32])).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660, 0o601, 0o610, 0o666] {
            set_mode(&path, mode);
            let err = load_keypair(&path).unwrap_err();
            match &err {
                KeyFileError::Permissions { path: p, mode: m } => {
                    assert_eq!(p, &path);
                    assert_eq!(*m, mode);
                }
                other => panic!("mode {mode:o}: expected Permissions, got {other:?}"),
            }
            let msg = err.to_string();
            assert!(msg.contains("chmod 600"), "{msg}");
            assert!(msg.contains(&format!("{mode:o}")), "{msg}");
        }
        for mode in [0o600, 0o400] {
            set_mode(&path, mode);
            load_keypair(&path).unwrap();
        }
    }

    /// Issue 14 item 8: a PSK file gets the checks of a key file (a group-readable one is
    /// refused with the `chmod` hint), and a FIFO given as a key or PSK file is refused
    /// at once instead of blocking until someone writes to it; `Debug` of a PSK shows no
    /// key material.
    #[cfg(unix)]
    #[test]
    fn secrets_hygiene() {
        let dir = tempfile::tempdir().unwrap();
        let psk_path = dir.path().join("net.psk");
        fs::write(&psk_path, "ab".repeat(32)).unwrap();
        set_mode(&psk_path, 0o640);
        let err = load_psk(&psk_path).unwrap_err();
        assert!(
            matches!(err, KeyFileError::Permissions { mode: 0o640, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("chmod 600"), "{err}");
        set_mode(&psk_path, 0o600);
        let psk = load_psk(&psk_path).unwrap();
        assert_eq!(psk.as_bytes(), &[0xab; 32]);
        assert_eq!(format!("{psk:?}"), "Psk(<redacted>)");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo (coreutils) runs");
        assert!(made.success());
        set_mode(&fifo, 0o600);
        // A thread, so a regression hangs only it and the test fails on the deadline.
        let (tx, rx) = std::sync::mpsc::channel();
        let f = fifo.clone();
        std::thread::spawn(move || {
            let key = load_keypair(&f).map(|_| ()).map_err(|e| e.to_string());
            let psk = load_psk(&f).map(|_| ()).map_err(|e| e.to_string());
            let _ = tx.send((key, psk));
        });
        let (key, psk) = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("a FIFO is refused at once, not read until a writer comes");
        for r in [key, psk] {
            let e = r.expect_err("a FIFO is not a key file");
            assert!(e.contains("not a regular file"), "{e}");
        }
    }

    #[test]
    fn load_missing_file_is_io_with_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.key");
        let err = load_keypair(&path).unwrap_err();
        match &err {
            KeyFileError::Io { path: p, source } => {
                assert_eq!(p, &path);
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("expected Io, got {other:?}"),
        }
        assert!(err.to_string().contains("missing.key"));
    }

    fn write_key_file(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, contents).unwrap();
        #[cfg(unix)]
        set_mode(&path, 0o600);
        path
    }

    #[test]
    fn load_accepts_documented_formats() {
        let dir = tempfile::tempdir().unwrap();
        let kp = generate([4; 32]);
        let b32 = kp.secret_text().to_string();
        let hex: String = kp
            .secret_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let variants = [
            b32.clone(),
            format!("{b32}\n"),
            format!("{b32}\r\n"),
            b32.to_uppercase(),
            hex.clone(),
            format!("{hex}\n"),
            hex.to_uppercase(),
        ];
        for (i, v) in variants.iter().enumerate() {
            let path = write_key_file(dir.path(), &format!("k{i}"), v.as_bytes());
            let back = load_keypair(&path).unwrap_or_else(|e| panic!("{v:?}: {e}"));
            assert!(same(&back, &kp), "{v:?}");
        }
    }

    #[test]
    fn load_rejects_bad_contents() {
        let dir = tempfile::tempdir().unwrap();
        let b32 = generate([5; 32]).secret_text().to_string();
        let bad: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"\n".to_vec(),
            format!("{b32}\n\n").into_bytes(),
            format!(" {b32}").into_bytes(),
            format!("{b32} ").into_bytes(),
            format!("# my key\n{b32}\n").into_bytes(),
            b32.as_bytes()[..51].to_vec(),
            [b32.as_bytes(), &[0xff]].concat(),
            vec![0u8; 32],
            vec![b'a'; 5000],
        ];
        for (i, contents) in bad.iter().enumerate() {
            let path = write_key_file(dir.path(), &format!("bad{i}"), contents);
            match load_keypair(&path) {
                Err(KeyFileError::Format { path: p, reason }) => {
                    assert_eq!(p, path);
                    assert!(!reason.is_empty());
                    assert!(!reason.contains(&b32[..20]), "reason leaks key: {reason}");
                }
                other => panic!("case {i}: expected Format, got {other:?}"),
            }
        }
        // A directory is not a key file.
        assert!(load_keypair(dir.path()).is_err());
    }

    #[test]
    fn embedded_keys() {
        let kp = generate([6; 32]);
        let line = format!("{}\n", kp.secret_text().as_str());
        assert!(same(&keypair_from_embedded(line.as_bytes()).unwrap(), &kp));
        assert!(same(
            &keypair_from_embedded(kp.secret_bytes()).unwrap(),
            &kp
        ));
        assert!(same(
            &keypair_from_embedded(&line.as_bytes()[..52]).unwrap(),
            &kp
        ));
        assert!(matches!(
            keypair_from_embedded(b"not a key"),
            Err(KeyError::SecretTextLength { found: 9 })
        ));
        assert!(keypair_from_embedded(&[0u8; 31]).is_err());
        assert!(keypair_from_embedded(&[0xffu8; 52]).is_err());
    }

    #[test]
    fn rfc7748_vector_through_files() {
        // RFC 7748 §6.1, Alice.
        let dir = tempfile::tempdir().unwrap();
        let path = write_key_file(
            dir.path(),
            "alice.key",
            b"77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a\n",
        );
        let kp = load_keypair(&path).unwrap();
        let expected: Vec<u8> = (0..32)
            .map(|i| {
                u8::from_str_radix(
                    &"8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
                        [2 * i..2 * i + 2],
                    16,
                )
                .unwrap()
            })
            .collect();
        assert_eq!(kp.public().0.as_slice(), expected.as_slice());
    }

    #[test]
    fn public_key_display_round_trip() {
        let pk = generate([7; 32]).public();
        let s = pk.to_string();
        assert_eq!(s.len(), 52);
        assert_eq!(s, s.to_lowercase());
        assert_eq!(s.parse::<PublicKey>().unwrap(), pk);
        let peer = format!("{s}@10.0.0.1:7000");
        let (k, addr) = parse_peer_address(&peer).unwrap();
        assert_eq!((k, addr), (pk, "10.0.0.1:7000"));
        assert_eq!(
            parse_peer_address("10.0.0.1:7000").unwrap_err(),
            KeyError::MissingAt
        );
    }

    #[test]
    fn debug_does_not_leak_secret() {
        let kp = generate([8; 32]);
        let d = format!("{kp:?} {kp:#?}");
        let b32 = kp.secret_text();
        let hex: String = kp
            .secret_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(!d.contains(b32.as_str()));
        assert!(!d.to_lowercase().contains(&hex));
        let err = KeyFileError::Format {
            path: "x".into(),
            reason: "r".into(),
        };
        assert!(!format!("{err:?}").is_empty());
    }
}
