//! The message codec: serde with postcard, a compact binary format (varint integers,
//! no field names). Decoding untrusted bytes is total and its work is bounded by the
//! input size: at most one sequence or map element per input byte (plus
//! [`bounded::ELEMENT_SLACK`]) and [`bounded::MAX_DEPTH`] levels of nesting, whatever
//! the input claims (see `bounded`).

mod bounded;

use bounded::{Bounded, Limits};
use serde::Serialize;
use serde::de::DeserializeOwned;

thread_local! {
    /// Serialization scratch space, so a message costs one exact-size allocation
    /// instead of a growing vector's reallocations.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Serializes a value.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    SCRATCH.with(|cell| {
        let Ok(mut scratch) = cell.try_borrow_mut() else {
            // Re-entrant use (a Serialize impl that sends): no scratch.
            return postcard::to_allocvec(value).map_err(|e| e.to_string());
        };
        let mut buf = std::mem::take(&mut *scratch);
        buf.clear();
        let buf = postcard::to_extend(value, buf).map_err(|e| e.to_string())?;
        let out = buf.clone(); // exact size
        // Keep a moderate scratch buffer, not the largest message ever sent.
        if buf.capacity() <= 1 << 16 {
            *scratch = buf;
        }
        Ok(out)
    })
}

/// Deserializes a value; every byte must be used.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let limits = Limits::for_input(bytes.len());
    let mut de = postcard::Deserializer::from_bytes(bytes);
    let v = T::deserialize(Bounded {
        inner: &mut de,
        limits: &limits,
    })
    .map_err(|e| {
        limits
            .tripped()
            .map_or_else(|| e.to_string(), str::to_string)
    })?;
    let rest = de.finalize().map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} trailing bytes", rest.len()));
    }
    Ok(v)
}

/// The name a channel's message type is checked by: `std::any::type_name`, which names
/// the type with its module path (`alloc::string::String`, `my_crate::Job`). Both ends
/// must use the same type from the same crate (put shared message types in a crate both
/// programs depend on).
pub(crate) fn type_id<T: ?Sized>() -> (&'static str, u64) {
    let name = std::any::type_name::<T>();
    let h = blake3::hash(name.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.as_bytes()[..8]);
    (name, u64::from_be_bytes(b))
}

/// Decodes untrusted bytes as `T` (for fuzzing the codec).
#[doc(hidden)]
pub fn decode_untrusted<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    decode(bytes)
}

#[cfg(test)]
mod tests {
    use super::bounded::{ELEMENT_SLACK, MAX_DEPTH, is_limit_error};
    use super::*;
    use serde::Deserialize;
    use std::collections::HashMap;
    use std::marker::PhantomData;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Marker;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    enum Tree {
        Leaf,
        Node(Box<Tree>),
    }

    /// A postcard sequence length (LEB128 varint) followed by `rest`.
    fn claiming(len: u64, rest: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut v = len;
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
        out.extend_from_slice(rest);
        out
    }

    fn refused<T: DeserializeOwned + std::fmt::Debug>(bytes: &[u8]) {
        let e = decode::<T>(bytes).expect_err("a decode bomb must be refused");
        assert!(
            is_limit_error(&e),
            "refused by the limits, not by luck: {e}"
        );
    }

    #[test]
    fn zero_sized_elements_claiming_2_pow_63_are_refused() {
        let bomb = claiming(1 << 63, &[]);
        assert_eq!(bomb.len(), 10);
        refused::<Vec<Marker>>(&bomb);
        refused::<Vec<PhantomData<u64>>>(&bomb);
        refused::<Vec<()>>(&bomb);
        refused::<Vec<[u8; 0]>>(&bomb);
        // Nested: one outer element whose inner sequence claims 2^63, and a map.
        refused::<Vec<Vec<Marker>>>(&claiming(1, &claiming(1 << 63, &[])));
        refused::<HashMap<(), ()>>(&bomb);
        refused::<Option<Vec<Marker>>>(&[&[1u8][..], &bomb].concat());
    }

    #[test]
    fn nesting_is_limited_in_depth() {
        let depth = |n: usize| [vec![1u8; n], vec![0]].concat();
        let ok: Tree = decode(&depth(MAX_DEPTH as usize - 1)).expect("shallow enough");
        let mut levels = 0;
        let mut t = &ok;
        while let Tree::Node(inner) = t {
            levels += 1;
            t = inner;
        }
        assert_eq!(levels, MAX_DEPTH as usize - 1);
        refused::<Tree>(&depth(100_000));
        assert!(super::bounded::TOO_DEEP.contains(&MAX_DEPTH.to_string()));
    }

    #[test]
    fn legitimate_values_still_decode() {
        let small: Vec<()> = vec![(); ELEMENT_SLACK as usize];
        assert_eq!(decode::<Vec<()>>(&encode(&small).unwrap()).unwrap(), small);
        let bytes = vec![7u8; 1 << 20];
        assert_eq!(decode::<Vec<u8>>(&encode(&bytes).unwrap()).unwrap(), bytes);
        let mut map = HashMap::new();
        map.insert("k".to_string(), (1u32, [9u8; 32], Some(Marker)));
        let enc = encode(&map).unwrap();
        assert_eq!(
            decode::<HashMap<String, (u32, [u8; 32], Option<Marker>)>>(&enc).unwrap(),
            map
        );
        let tree = Tree::Node(Box::new(Tree::Node(Box::new(Tree::Leaf))));
        assert_eq!(decode::<Tree>(&encode(&tree).unwrap()).unwrap(), tree);
        assert!(decode::<u8>(&[1, 2]).unwrap_err().contains("trailing"));
    }
}
