//! The OS's random number generator as the engine's [`Entropy`].

use netchan_transport::Entropy;

/// The operating system's generator (`getrandom`), asked afresh for every connection ID,
/// ephemeral key and cookie secret: the endpoint keeps no seed, so a later disclosure of
/// its memory does not recompute earlier ephemeral keys. Every [`Node`](crate::Node)
/// uses it; it is public for programs driving a raw
/// [`Endpoint`](netchan_transport::Endpoint).
///
/// ```
/// use netchan::OsEntropy;
/// use netchan::transport::{EndpointConfig, NoiseConfig};
/// use std::sync::Arc;
///
/// let identity = NoiseConfig::new(netchan::identity::generate([3; 32]));
/// let config = EndpointConfig::new(Arc::new(identity), Arc::new(OsEntropy));
/// assert!(config.accept_incoming);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    /// # Panics
    ///
    /// If the OS has no randomness to give (on Linux: before the kernel's generator is
    /// initialised, and `getrandom` then blocks rather than fails). Nothing secure can be
    /// done without it.
    fn fill(&self, out: &mut [u8]) {
        if let Err(e) = getrandom::fill(out) {
            panic!("the OS's random number generator failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netchan_transport::{Endpoint, EndpointConfig, NoiseConfig};
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn draws_differ() {
        let e: Arc<dyn Entropy> = Arc::new(OsEntropy);
        assert_ne!(e.bytes32(), e.bytes32());
    }

    /// The first Initial an endpoint sends for `config`, dialing the same listener at the
    /// same instant.
    fn first_initial(config: EndpointConfig, now: Instant) -> Vec<u8> {
        let mut ep = Endpoint::new(config, now);
        let (local, remote) = ("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap());
        let listener = crate::identity::generate([9; 32]).public().0;
        ep.connect_with(now, local, remote, Some(listener))
            .expect("dial");
        let mut buf = Vec::new();
        let t = ep.poll_transmit(now, &mut buf).expect("an Initial");
        buf.truncate(t.size);
        buf
    }

    /// Issue 14, item 7: nothing in an endpoint's configuration determines its keys. Two
    /// endpoints built from one configuration (OsEntropy, as every `Node` uses), dialing
    /// the same listener at the same instant, send different Initials (fresh connection
    /// IDs and ephemeral keys); with a seeded source, as before, they were identical.
    #[test]
    fn no_seed_in_the_configuration() {
        let now = Instant::now();
        let identity = Arc::new(NoiseConfig::new(crate::identity::generate([3; 32])));
        let os = EndpointConfig::new(identity.clone(), Arc::new(OsEntropy));
        assert_ne!(
            first_initial(os.clone(), now),
            first_initial(os.clone(), now)
        );
        assert!(format!("{os:?}").contains("OsEntropy"));
        let seeded = |_| EndpointConfig::seeded_for_tests(identity.clone(), 5);
        assert_eq!(
            first_initial(seeded(0), now),
            first_initial(seeded(1), now),
            "the comparison detects keys fixed by a seed"
        );
    }
}
