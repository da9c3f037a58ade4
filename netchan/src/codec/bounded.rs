//! A serde deserializer wrapper that bounds the work a decode may do, whatever the input
//! claims: every element of a sequence or map costs one unit of a budget fixed by the
//! input's size, and nesting is limited in depth. postcard alone would loop once per
//! claimed element even when an element takes no input bytes (a `Vec` of a unit struct
//! or of `PhantomData` claiming 2^63 elements in ten bytes), and would recurse as deep as
//! a recursive type's input nests.
//!
//! The wrapper forwards every call to the inner deserializer and wraps what comes back
//! (visitors, sequence and map accesses, enum variants, seeds), so the budget follows
//! the decode into every nested value.

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use std::cell::Cell;
use std::fmt;

/// Deepest nesting of sequences, maps, options, newtypes and enums accepted.
pub(crate) const MAX_DEPTH: u32 = 128;

/// Elements a decode may take beyond one per input byte (so small collections of
/// zero-sized values still decode).
pub(crate) const ELEMENT_SLACK: u64 = 1024;

/// The error of a decode that claimed more elements than its size allows.
pub(crate) const ELEMENTS_EXCEEDED: &str =
    "more sequence or map elements than the message's size allows (a decode bomb?)";

/// The error of a decode nested deeper than [`MAX_DEPTH`].
pub(crate) const TOO_DEEP: &str = "nested deeper than 128 levels";

/// What a decode has left: elements, and how deep it is now.
pub(crate) struct Limits {
    elements: Cell<u64>,
    depth: Cell<u32>,
    /// Which limit stopped the decode (a deserializer's own error type may drop the
    /// message it was given, as postcard's does).
    tripped: Cell<Option<&'static str>>,
}

impl Limits {
    /// The limits for an input of `len` bytes.
    pub(crate) fn for_input(len: usize) -> Self {
        Self {
            elements: Cell::new(len as u64 + ELEMENT_SLACK),
            depth: Cell::new(0),
            tripped: Cell::new(None),
        }
    }

    /// The limit that stopped the decode, if one did.
    pub(crate) fn tripped(&self) -> Option<&'static str> {
        self.tripped.get()
    }

    fn trip<E: de::Error>(&self, what: &'static str) -> E {
        self.tripped.set(Some(what));
        E::custom(what)
    }

    fn take_element<E: de::Error>(&self) -> Result<(), E> {
        let left = self.elements.get();
        if left == 0 {
            return Err(self.trip(ELEMENTS_EXCEEDED));
        }
        self.elements.set(left - 1);
        Ok(())
    }

    /// Runs `f` one level deeper.
    fn nested<T, E: de::Error>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let d = self.depth.get();
        if d >= MAX_DEPTH {
            return Err(self.trip(TOO_DEEP));
        }
        self.depth.set(d + 1);
        let out = f();
        self.depth.set(d);
        out
    }
}

/// A deserializer under [`Limits`].
pub(crate) struct Bounded<'l, D> {
    pub(crate) inner: D,
    pub(crate) limits: &'l Limits,
}

/// A visitor whose nested accesses stay under the limits; `count` says whether the
/// elements of a sequence it visits are charged (a tuple's length comes from the type,
/// not from the input).
struct Wrap<'l, V> {
    inner: V,
    limits: &'l Limits,
    count: bool,
}

struct Seq<'l, A> {
    inner: A,
    limits: &'l Limits,
    count: bool,
}

struct Map<'l, A> {
    inner: A,
    limits: &'l Limits,
}

struct Enum<'l, A> {
    inner: A,
    limits: &'l Limits,
}

struct Variant<'l, A> {
    inner: A,
    limits: &'l Limits,
}

struct Seed<'l, S> {
    inner: S,
    limits: &'l Limits,
}

impl<'l, D> Bounded<'l, D> {
    fn wrap<V>(&self, inner: V, count: bool) -> Wrap<'l, V> {
        Wrap {
            inner,
            limits: self.limits,
            count,
        }
    }
}

/// Forwards `deserialize_*` methods that take only a visitor.
macro_rules! forward_plain {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            let v = self.wrap(visitor, false);
            self.inner.$method(v)
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Bounded<'_, D> {
    type Error = D::Error;

    forward_plain! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
        deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_option deserialize_unit deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        let v = self.wrap(visitor, true);
        self.inner.deserialize_seq(v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        let v = self.wrap(visitor, true);
        self.inner.deserialize_map(v)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let v = self.wrap(visitor, false);
        self.inner.deserialize_tuple(len, v)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let v = self.wrap(visitor, false);
        self.inner.deserialize_unit_struct(name, v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let v = self.wrap(visitor, false);
        self.inner.deserialize_newtype_struct(name, v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let v = self.wrap(visitor, false);
        self.inner.deserialize_tuple_struct(name, len, v)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let v = self.wrap(visitor, false);
        self.inner.deserialize_struct(name, fields, v)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let v = self.wrap(visitor, false);
        self.inner.deserialize_enum(name, variants, v)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// Forwards `visit_*` methods of plain values.
macro_rules! forward_visit {
    ($($method:ident($ty:ty))*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.inner.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit! {
        visit_bool(bool) visit_i8(i8) visit_i16(i16) visit_i32(i32) visit_i64(i64)
        visit_i128(i128) visit_u8(u8) visit_u16(u16) visit_u32(u32) visit_u64(u64)
        visit_u128(u128) visit_f32(f32) visit_f64(f64) visit_char(char) visit_str(&str)
        visit_borrowed_str(&'de str) visit_string(String) visit_bytes(&[u8])
        visit_borrowed_bytes(&'de [u8]) visit_byte_buf(Vec<u8>)
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        let limits = self.limits;
        limits.nested(|| self.inner.visit_some(Bounded { inner: d, limits }))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        let limits = self.limits;
        limits.nested(|| {
            self.inner
                .visit_newtype_struct(Bounded { inner: d, limits })
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        let (limits, count) = (self.limits, self.count);
        limits.nested(|| {
            self.inner.visit_seq(Seq {
                inner: seq,
                limits,
                count,
            })
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        let limits = self.limits;
        limits.nested(|| self.inner.visit_map(Map { inner: map, limits }))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        let limits = self.limits;
        limits.nested(|| {
            self.inner.visit_enum(Enum {
                inner: data,
                limits,
            })
        })
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Seq<'_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        // The inner access knows when the sequence ends: charge only for an element that
        // exists (a claimed length beyond the budget fails at the first element over).
        if self.count && self.inner.size_hint() != Some(0) {
            self.limits.take_element()?;
        }
        let limits = self.limits;
        self.inner.next_element_seed(Seed {
            inner: seed,
            limits,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        // Never let a claimed length size an allocation beyond what the budget allows.
        let left = usize::try_from(self.limits.elements.get()).unwrap_or(usize::MAX);
        self.inner.size_hint().map(|n| n.min(left))
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Map<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        if self.inner.size_hint() != Some(0) {
            self.limits.take_element()?;
        }
        let limits = self.limits;
        self.inner.next_key_seed(Seed {
            inner: seed,
            limits,
        })
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        let limits = self.limits;
        self.inner.next_value_seed(Seed {
            inner: seed,
            limits,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        let left = usize::try_from(self.limits.elements.get()).unwrap_or(usize::MAX);
        self.inner.size_hint().map(|n| n.min(left))
    }
}

impl<'de, 'l, A: EnumAccess<'de>> EnumAccess<'de> for Enum<'l, A> {
    type Error = A::Error;
    type Variant = Variant<'l, A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), A::Error> {
        let limits = self.limits;
        let (value, variant) = self.inner.variant_seed(Seed {
            inner: seed,
            limits,
        })?;
        Ok((
            value,
            Variant {
                inner: variant,
                limits,
            },
        ))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Variant<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        let limits = self.limits;
        self.inner.newtype_variant_seed(Seed {
            inner: seed,
            limits,
        })
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        let v = Wrap {
            inner: visitor,
            limits: self.limits,
            count: false,
        };
        self.inner.tuple_variant(len, v)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        let v = Wrap {
            inner: visitor,
            limits: self.limits,
            count: false,
        };
        self.inner.struct_variant(fields, v)
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        let limits = self.limits;
        self.inner.deserialize(Bounded { inner: d, limits })
    }
}

/// Whether `e` is the error of a decode the limits stopped (for tests).
#[cfg(test)]
pub(crate) fn is_limit_error(e: &str) -> bool {
    e == ELEMENTS_EXCEEDED || e == TOO_DEEP
}
