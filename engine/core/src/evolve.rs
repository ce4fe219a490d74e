//! How stored shapes evolve. Records are postcard: compact and fast, but not
//! self-describing, so a decoder must know how many fields each struct had when the record
//! was written. The one rule: a field is only ever **appended** to a struct or to a struct
//! variant, marked `#[serde(default)]`, with a default that encodes as the single byte 0
//! (`None`, `0`, `false`, an empty list or string), and listed in [`APPENDED`] with the
//! record format that introduced it (a new kind of command or event is a new variant at the
//! end of its enum and needs no entry).
//!
//! - A record of an older format decodes through [`decode_older`], which ends every listed
//!   struct where that format ended it; serde fills in the defaults.
//! - A request's fingerprint ([`canonical`]) leaves out an appended field that is at its
//!   default, so an operation sent before an upgrade and resent after it has the same
//!   fingerprint, and a resend is a replay, not a conflict.

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess};
use serde::de::{VariantAccess, Visitor};
use serde::ser::{self, Serialize, Serializer};
use std::cell::Cell;
use std::fmt;

/// The format byte of every record written now.
pub const RECORD_FORMAT: u8 = 5;
/// The oldest record format still read.
pub const OLDEST_FORMAT: u8 = 4;

/// A field appended to a stored shape: `container` is the struct's name, or the enum's
/// name with `variant` for a struct variant (names as serde sees them: the Rust names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub format: u8,
    pub container: &'static str,
    pub variant: &'static str,
    pub field: &'static str,
}

const fn field(format: u8, container: &'static str, field: &'static str) -> Appended {
    Appended {
        format,
        container,
        variant: "",
        field,
    }
}

const fn variant_field(
    format: u8,
    container: &'static str,
    variant: &'static str,
    field: &'static str,
) -> Appended {
    Appended {
        format,
        container,
        variant,
        field,
    }
}

/// Every field appended since [`OLDEST_FORMAT`], oldest first.
pub const APPENDED: &[Appended] = &[
    // Refunds across the chain: the sale may be another cashbox's; a refund is named by
    // its cashbox and cheque.
    variant_field(5, "Command", "Refund", "sold_at"),
    variant_field(5, "Event", "RefundRecorded", "refunded_at"),
    variant_field(5, "Event", "RefundRecorded", "refunded_in"),
    field(5, "Purchase", "refund_keys"),
    // Every answer about a purchase names it.
    field(5, "Reply", "purchase"),
    // The customer's debt, and late completion.
    field(5, "Account", "debt"),
    field(5, "BalanceInfo", "debt"),
    field(5, "Purchase", "registered"),
    field(5, "Purchase", "messages"),
    // Per-line attributes from the till.
    field(5, "Line", "promotional"),
    field(5, "Line", "min_price"),
    // Offers limited by the card's status.
    field(5, "Conditions", "card_statuses"),
    // What a customer without a card would earn with one.
    field(5, "Totals", "potential_accrual"),
    // Accrual kept, the cap of a refund without the receipt.
    field(5, "Account", "earned"),
    // PIN protection: failures and locks, the PIN kept by a replacement card, the old PIN a
    // till gives to change it.
    field(5, "Card", "pin_failures"),
    field(5, "Card", "pin_locked_until"),
    field(5, "Card", "pin_locks"),
    field(5, "Card", "pin_of"),
    variant_field(5, "Event", "CardReplaced", "pin_hash"),
    variant_field(5, "Event", "CardReplaced", "pin_of"),
    variant_field(5, "Command", "SetCardPin", "old_pin"),
];

fn is_appended(format: u8, container: &str, variant: &str, name: &str) -> bool {
    APPENDED.iter().any(|a| {
        a.format > format && a.container == container && a.variant == variant && a.field == name
    })
}

/// The fields a struct had in `format`: those before its first field appended later.
fn fields_in(
    format: u8,
    container: &str,
    variant: &str,
    fields: &'static [&'static str],
) -> &'static [&'static str] {
    let end = fields
        .iter()
        .position(|f| is_appended(format, container, variant, f))
        .unwrap_or(fields.len());
    &fields[..end]
}

/// Decodes the body of a record written in `format` (older than [`RECORD_FORMAT`]).
pub fn decode_older<T: de::DeserializeOwned>(format: u8, body: &[u8]) -> postcard::Result<T> {
    let mut d = postcard::Deserializer::from_bytes(body);
    T::deserialize(Older { d: &mut d, format })
}

/// The canonical encoding of a request's content: postcard, without appended fields that
/// are at their default.
pub fn canonical<T: Serialize + ?Sized>(value: &T, out: Vec<u8>) -> Vec<u8> {
    let mut s = postcard::Serializer {
        output: postcard::ser_flavors::ExtendFlavor::new(out),
    };
    value
        .serialize(Canonical(&mut s))
        .expect("requests always encode");
    postcard::ser_flavors::Flavor::finalize(s.output).expect("a vector never fills")
}

// ---- Decoding older records: every struct ends where the record's format ended it. ----

struct Older<D> {
    d: D,
    format: u8,
}

type EnumName = Option<(&'static str, &'static [&'static str])>;

/// A visitor whose nested values decode through [`Older`] too.
struct Wrap<V> {
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
struct Seed<S> {
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

struct OlderEnum<A> {
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

struct OlderVariant<A> {
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

// ---- The canonical encoding: appended fields at their default are left out. ----

struct Canonical<S>(S);

/// A value serialized through [`Canonical`].
struct Nested<'a, T: ?Sized>(&'a T);

impl<T: Serialize + ?Sized> Serialize for Nested<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(Canonical(s))
    }
}

/// An appended field's default encodes as the single byte 0.
fn at_default<T: Serialize + ?Sized>(value: &T) -> bool {
    postcard::to_allocvec(value).is_ok_and(|b| b == [0])
}

macro_rules! forward_serialize {
    ($($method:ident: $t:ty),*) => {$(
        fn $method(self, x: $t) -> Result<S::Ok, S::Error> {
            self.0.$method(x)
        }
    )*};
}

impl<S: Serializer> Serializer for Canonical<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Canonical<S::SerializeSeq>;
    type SerializeTuple = Canonical<S::SerializeTuple>;
    type SerializeTupleStruct = Canonical<S::SerializeTupleStruct>;
    type SerializeTupleVariant = Canonical<S::SerializeTupleVariant>;
    type SerializeMap = Canonical<S::SerializeMap>;
    type SerializeStruct = CanonicalStruct<S::SerializeStruct>;
    type SerializeStructVariant = CanonicalStruct<S::SerializeStructVariant>;

    forward_serialize!(
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_f32: f32,
        serialize_f64: f64, serialize_char: char, serialize_str: &str,
        serialize_bytes: &[u8], serialize_unit_struct: &'static str
    );

    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.0.serialize_none()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<S::Ok, S::Error> {
        self.0.serialize_some(&Nested(v))
    }

    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.0.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        self.0.serialize_unit_variant(name, index, variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        v: &T,
    ) -> Result<S::Ok, S::Error> {
        self.0.serialize_newtype_struct(name, &Nested(v))
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<S::Ok, S::Error> {
        self.0
            .serialize_newtype_variant(name, index, variant, &Nested(v))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        Ok(Canonical(self.0.serialize_seq(len)?))
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        Ok(Canonical(self.0.serialize_tuple(len)?))
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        Ok(Canonical(self.0.serialize_tuple_struct(name, len)?))
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        Ok(Canonical(
            self.0.serialize_tuple_variant(name, index, variant, len)?,
        ))
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        Ok(Canonical(self.0.serialize_map(len)?))
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        Ok(CanonicalStruct {
            s: self.0.serialize_struct(name, len)?,
            container: name,
            variant: "",
        })
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        Ok(CanonicalStruct {
            s: self.0.serialize_struct_variant(name, index, variant, len)?,
            container: name,
            variant,
        })
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

macro_rules! canonical_compound {
    ($($trait:ident: $method:ident),*) => {$(
        impl<S: ser::$trait> ser::$trait for Canonical<S> {
            type Ok = S::Ok;
            type Error = S::Error;

            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), S::Error> {
                self.0.$method(&Nested(v))
            }

            fn end(self) -> Result<S::Ok, S::Error> {
                self.0.end()
            }
        }
    )*};
}

canonical_compound!(
    SerializeSeq: serialize_element,
    SerializeTuple: serialize_element,
    SerializeTupleStruct: serialize_field,
    SerializeTupleVariant: serialize_field
);

impl<S: ser::SerializeMap> ser::SerializeMap for Canonical<S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), S::Error> {
        self.0.serialize_key(&Nested(k))
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), S::Error> {
        self.0.serialize_value(&Nested(v))
    }

    fn end(self) -> Result<S::Ok, S::Error> {
        self.0.end()
    }
}

struct CanonicalStruct<S> {
    s: S,
    container: &'static str,
    variant: &'static str,
}

impl<S> CanonicalStruct<S> {
    /// An appended field at its default is not part of the content.
    fn left_out<T: Serialize + ?Sized>(&self, key: &str, v: &T) -> bool {
        is_appended(0, self.container, self.variant, key) && at_default(v)
    }
}

macro_rules! canonical_struct {
    ($($trait:ident),*) => {$(
        impl<S: ser::$trait> ser::$trait for CanonicalStruct<S> {
            type Ok = S::Ok;
            type Error = S::Error;

            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                v: &T,
            ) -> Result<(), S::Error> {
                if self.left_out(key, v) {
                    return self.s.skip_field(key);
                }
                self.s.serialize_field(key, &Nested(v))
            }

            fn end(self) -> Result<S::Ok, S::Error> {
                self.s.end()
            }
        }
    )*};
}

canonical_struct!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[test]
    fn the_table_lists_fields_in_format_order_with_one_byte_defaults() {
        assert!(APPENDED.windows(2).all(|w| w[0].format <= w[1].format));
        assert!(APPENDED
            .iter()
            .all(|a| a.format > OLDEST_FORMAT && a.format <= RECORD_FORMAT));
    }

    #[test]
    fn a_struct_ends_where_its_format_ended_it() {
        let cut =
            |format, container, variant, fields| fields_in(format, container, variant, fields);
        // The module's table: Purchase gained `refund_keys` in format 5.
        const F: &[&str] = &["key", "refunds", "refund_keys"];
        assert_eq!(cut(4, "Purchase", "", F), &F[..2]);
        assert_eq!(cut(5, "Purchase", "", F), F);
        // Same field name elsewhere is not cut.
        assert_eq!(cut(4, "Order", "", F), F);
        assert_eq!(
            cut(4, "Event", "RefundRecorded", &["refund", "refunded_at"]),
            &["refund"]
        );
        assert_eq!(
            cut(4, "Event", "PurchaseRegistered", &["refunded_at"]),
            &["refunded_at"]
        );
    }

    #[test]
    fn an_older_record_decodes_with_defaults_for_appended_fields() {
        // Shapes checked through the real table: a Purchase-like struct named `Purchase`.
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Purchase {
            key: u32,
            refunds: Vec<u32>,
            #[serde(default)]
            refund_keys: Vec<(u32, u32)>,
        }
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        #[serde(rename = "Purchase")]
        struct PurchaseBefore {
            key: u32,
            refunds: Vec<u32>,
        }
        // Nested in a list, an option and a tuple, next to a field after it.
        let before = (
            vec![PurchaseBefore {
                key: 7,
                refunds: vec![1, 2],
            }],
            Some(PurchaseBefore {
                key: 8,
                refunds: vec![],
            }),
            99u8,
        );
        let bytes = postcard::to_allocvec(&before).unwrap();
        let now: (Vec<Purchase>, Option<Purchase>, u8) = decode_older(4, &bytes).unwrap();
        assert_eq!(
            now,
            (
                vec![Purchase {
                    key: 7,
                    refunds: vec![1, 2],
                    refund_keys: vec![]
                }],
                Some(Purchase {
                    key: 8,
                    refunds: vec![],
                    refund_keys: vec![]
                }),
                99
            )
        );
        // A record of the current format has the field.
        let full = Purchase {
            key: 1,
            refunds: vec![3],
            refund_keys: vec![(3, 4)],
        };
        let bytes = postcard::to_allocvec(&full).unwrap();
        assert_eq!(decode_older::<Purchase>(5, &bytes).unwrap(), full);
    }

    #[test]
    fn struct_variants_are_cut_by_enum_and_variant() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        enum Event {
            Other {
                refunded_at: u8,
            },
            RefundRecorded {
                refund: u32,
                #[serde(default)]
                refunded_at: Option<u32>,
            },
        }
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        #[serde(rename = "Event")]
        enum EventBefore {
            Other { refunded_at: u8 },
            RefundRecorded { refund: u32 },
        }
        let bytes = postcard::to_allocvec(&vec![
            EventBefore::RefundRecorded { refund: 5 },
            EventBefore::Other { refunded_at: 3 },
        ])
        .unwrap();
        let now: Vec<Event> = decode_older(4, &bytes).unwrap();
        assert_eq!(
            now,
            vec![
                Event::RefundRecorded {
                    refund: 5,
                    refunded_at: None
                },
                Event::Other { refunded_at: 3 }
            ]
        );
    }

    #[test]
    fn shapes_without_appended_fields_decode_unchanged() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        enum Shape {
            Unit,
            Newtype(String),
            Tuple(u8, i64),
            Struct {
                a: Option<u16>,
                b: Vec<(String, bool)>,
            },
        }
        let all = vec![
            Shape::Unit,
            Shape::Newtype("x".into()),
            Shape::Tuple(1, -2),
            Shape::Struct {
                a: Some(3),
                b: vec![("y".into(), true)],
            },
        ];
        let bytes = postcard::to_allocvec(&all).unwrap();
        assert_eq!(decode_older::<Vec<Shape>>(4, &bytes).unwrap(), all);
        assert_eq!(canonical(&all, Vec::new()), bytes);
    }

    #[test]
    fn the_canonical_encoding_leaves_out_appended_fields_at_their_default() {
        #[derive(Serialize)]
        enum Command {
            Refund { refund: u32, sold_at: Option<u32> },
        }
        #[derive(Serialize)]
        #[serde(rename = "Command")]
        enum CommandBefore {
            Refund { refund: u32 },
        }
        let before = postcard::to_allocvec(&(1u8, CommandBefore::Refund { refund: 9 })).unwrap();
        let now = canonical(
            &(
                1u8,
                Command::Refund {
                    refund: 9,
                    sold_at: None,
                },
            ),
            Vec::new(),
        );
        assert_eq!(now, before);
        let other = canonical(
            &(
                1u8,
                Command::Refund {
                    refund: 9,
                    sold_at: Some(4),
                },
            ),
            Vec::new(),
        );
        assert_ne!(other, before);
        assert_eq!(
            other,
            postcard::to_allocvec(&(
                1u8,
                Command::Refund {
                    refund: 9,
                    sold_at: Some(4)
                }
            ))
            .unwrap()
        );
    }
}
