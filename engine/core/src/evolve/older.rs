//! Decoding older records: a serde adapter over postcard's deserializer that ends every
//! struct (and struct variant) where the record's format ended it.

use super::fields_in;
use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess};
use serde::de::{VariantAccess, Visitor};
use std::cell::Cell;
use std::fmt;

pub(super) struct Older<D> {
    pub(super) d: D,
    pub(super) format: u8,
}

type EnumName = Option<(&'static str, &'static [&'static str])>;

/// A visitor whose nested values decode through [`Older`] too.
pub(super) struct Wrap<V> {
    v: V,
    format: u8,
    en: EnumName,
}

fn wrap<V>(v: V, format: u8) -> Wrap<V> {
    Wrap {
        v,
        format,
        en: None,
    }
}

macro_rules! forward_deserialize {
    ($($method:ident),*) => {$(
        fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
            self.d.$method(wrap(v, self.format))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Older<D> {
    type Error = D::Error;

    forward_deserialize!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_option,
        deserialize_unit,
        deserialize_seq,
        deserialize_map,
        deserialize_identifier,
        deserialize_ignored_any
    );

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, Self::Error> {
        self.d.deserialize_unit_struct(name, wrap(v, self.format))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, Self::Error> {
        self.d
            .deserialize_newtype_struct(name, wrap(v, self.format))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, Self::Error> {
        self.d.deserialize_tuple(len, wrap(v, self.format))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        v: V,
    ) -> Result<V::Value, Self::Error> {
        self.d
            .deserialize_tuple_struct(name, len, wrap(v, self.format))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Self::Error> {
        let fields = fields_in(self.format, name, "", fields);
        self.d
            .deserialize_struct(name, fields, wrap(v, self.format))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Self::Error> {
        let en = Some((name, variants));
        let format = self.format;
        self.d
            .deserialize_enum(name, variants, Wrap { v, format, en })
    }

    fn is_human_readable(&self) -> bool {
        self.d.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident: $t:ty),*) => {$(
        fn $method<E: de::Error>(self, x: $t) -> Result<V::Value, E> {
            self.v.$method(x)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.v.expecting(f)
    }

    forward_visit!(
        visit_bool: bool, visit_i8: i8, visit_i16: i16, visit_i32: i32, visit_i64: i64,
        visit_i128: i128, visit_u8: u8, visit_u16: u16, visit_u32: u32, visit_u64: u64,
        visit_u128: u128, visit_f32: f32, visit_f64: f64, visit_char: char, visit_str: &str,
        visit_borrowed_str: &'de str, visit_string: String, visit_bytes: &[u8],
        visit_borrowed_bytes: &'de [u8], visit_byte_buf: Vec<u8>
    );

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.v.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.v.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.v.visit_some(Older {
            d,
            format: self.format,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.v.visit_newtype_struct(Older {
            d,
            format: self.format,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, a: A) -> Result<V::Value, A::Error> {
        self.v.visit_seq(Older {
            d: a,
            format: self.format,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<V::Value, A::Error> {
        self.v.visit_map(Older {
            d: a,
            format: self.format,
        })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, a: A) -> Result<V::Value, A::Error> {
        self.v.visit_enum(OlderEnum {
            a,
            format: self.format,
            en: self.en,
        })
    }
}

/// A seed whose value decodes through [`Older`].
pub(super) struct Seed<S> {
    seed: S,
    format: u8,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        let format = self.format;
        self.seed.deserialize(Older { d, format })
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Older<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        let format = self.format;
        self.d.next_element_seed(Seed { seed, format })
    }

    fn size_hint(&self) -> Option<usize> {
        self.d.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Older<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let format = self.format;
        self.d.next_key_seed(Seed { seed, format })
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        let format = self.format;
        self.d.next_value_seed(Seed { seed, format })
    }

    fn size_hint(&self) -> Option<usize> {
        self.d.size_hint()
    }
}

pub(super) struct OlderEnum<A> {
    a: A,
    format: u8,
    en: EnumName,
}

/// Notes the index of the variant being decoded, so that its struct fields can be looked
/// up by name.
struct VariantIndex<'c, S> {
    seed: S,
    index: &'c Cell<Option<u64>>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for VariantIndex<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(IndexOf {
            d,
            index: self.index,
        })
    }
}

struct IndexOf<'c, D> {
    d: D,
    index: &'c Cell<Option<u64>>,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for IndexOf<'_, D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
        self.d.deserialize_any(NoteIndex {
            v,
            index: self.index,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

struct NoteIndex<'c, V> {
    v: V,
    index: &'c Cell<Option<u64>>,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for NoteIndex<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.v.expecting(f)
    }

    fn visit_u32<E: de::Error>(self, x: u32) -> Result<V::Value, E> {
        self.index.set(Some(u64::from(x)));
        self.v.visit_u32(x)
    }

    fn visit_u64<E: de::Error>(self, x: u64) -> Result<V::Value, E> {
        self.index.set(Some(x));
        self.v.visit_u64(x)
    }
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for OlderEnum<A> {
    type Error = A::Error;
    type Variant = OlderVariant<A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), A::Error> {
        let index = Cell::new(None);
        let (value, a) = self.a.variant_seed(VariantIndex {
            seed,
            index: &index,
        })?;
        let (container, variant) = match (self.en, index.get()) {
            (Some((name, variants)), Some(i)) => {
                (name, variants.get(i as usize).copied().unwrap_or(""))
            }
            _ => ("", ""),
        };
        let format = self.format;
        Ok((
            value,
            OlderVariant {
                a,
                format,
                container,
                variant,
            },
        ))
    }
}

pub(super) struct OlderVariant<A> {
    a: A,
    format: u8,
    container: &'static str,
    variant: &'static str,
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for OlderVariant<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.a.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        let format = self.format;
        self.a.newtype_variant_seed(Seed { seed, format })
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, A::Error> {
        self.a.tuple_variant(len, wrap(v, self.format))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, A::Error> {
        let fields = fields_in(self.format, self.container, self.variant, fields);
        self.a.struct_variant(fields, wrap(v, self.format))
    }
}
