//! Cheap gates in front of the handshake, after WireGuard's `mac1`/`mac2` (§5.4.4 of the
//! WireGuard paper): keyed BLAKE3 MACs checked before any Diffie-Hellman.
//!
//! - **mac1** covers the Initial datagram up to the MACs. Its key derives from the PSK
//!   (if any) and the listener's public key (if the dialer knows it). A listener with a
//!   PSK drops, silently, every Initial whose mac1 does not verify: to a stranger the port
//!   looks closed.
//! - **mac2** covers the Initial up to mac2, keyed by a *cookie* the listener handed out
//!   in a Retry. A cookie is a MAC of the dialer's address under a secret that rotates
//!   every two minutes, so a listener under load can require proof of address without
//!   keeping any state.

use std::net::{IpAddr, SocketAddr};

/// Length of mac1, mac2, cookies and the Retry tag.
pub const MAC_LEN: usize = 16;

/// The mac1 key for Initials to a listener.
pub fn mac1_key(psk: Option<&[u8; 32]>, listener: Option<&[u8; 32]>) -> [u8; 32] {
    let mut material = [0u8; 64];
    if let Some(p) = psk {
        material[..32].copy_from_slice(p);
    }
    if let Some(l) = listener {
        material[32..].copy_from_slice(l);
    }
    blake3::derive_key("netchan v1 2026-11 initial mac1", &material)
}

/// A 16-byte keyed BLAKE3 MAC.
pub fn mac(key: &[u8; 32], data: &[u8]) -> [u8; MAC_LEN] {
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(&blake3::keyed_hash(key, data).as_bytes()[..MAC_LEN]);
    out
}

/// mac2 of an Initial (`covered`: the datagram up to mac2) under a cookie.
pub fn mac2(cookie: &[u8; MAC_LEN], covered: &[u8]) -> [u8; MAC_LEN] {
    let mut key = [0u8; 32];
    key[..MAC_LEN].copy_from_slice(cookie);
    mac(&key, covered)
}

/// Constant-time equality of two MACs.
pub fn mac_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// The cookie for `addr` under `secret`.
pub fn cookie(secret: &[u8; 32], addr: SocketAddr) -> [u8; MAC_LEN] {
    let mut material = Vec::with_capacity(19);
    match addr.ip() {
        IpAddr::V4(ip) => material.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => material.extend_from_slice(&ip.octets()),
    }
    material.extend_from_slice(&addr.port().to_be_bytes());
    mac(secret, &material)
}

/// The key of a Retry's tag: only someone who saw the Initial (its mac1) can forge it.
pub fn retry_key(initial_mac1: &[u8]) -> [u8; 32] {
    blake3::derive_key("netchan v1 2026-11 retry tag", initial_mac1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_cookies_separate_inputs() {
        let a = mac1_key(None, None);
        assert_ne!(a, mac1_key(Some(&[1; 32]), None));
        assert_ne!(a, mac1_key(None, Some(&[1; 32])));
        assert_ne!(
            mac1_key(Some(&[1; 32]), None),
            mac1_key(None, Some(&[1; 32]))
        );
        let s = [7u8; 32];
        let x: SocketAddr = "192.0.2.1:1000".parse().unwrap();
        let y: SocketAddr = "192.0.2.1:1001".parse().unwrap();
        assert_ne!(cookie(&s, x), cookie(&s, y));
        assert_ne!(cookie(&s, x), cookie(&[8; 32], x));
        assert!(mac_eq(&mac(&s, b"m"), &mac(&s, b"m")));
        assert!(!mac_eq(&mac(&s, b"m"), &mac(&s, b"n")));
        assert!(!mac_eq(&[0; 16], &[0; 15]));
    }
}
