//! The message codec: serde with postcard, a compact binary format (varint integers,
//! no field names). Decoding untrusted bytes is total and bounded by the input size.

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
    let (v, rest) = postcard::take_from_bytes::<T>(bytes).map_err(|e| e.to_string())?;
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
