//! The message codec: serde with postcard, a compact binary format (varint integers,
//! no field names). Decoding untrusted bytes is total and bounded by the input size.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Serializes a value.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    postcard::to_allocvec(value).map_err(|e| e.to_string())
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
