//! The canonical encoding of requests: postcard through a serializer adapter that leaves
//! out appended fields at their default.

use super::APPENDED;
use serde::ser::{self, Serialize, Serializer};
use std::collections::HashMap;
use std::sync::OnceLock;

pub(super) struct Canonical<S>(pub(super) S);

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
        Ok(CanonicalStruct::new(
            self.0.serialize_struct(name, len)?,
            name,
            "",
        ))
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        Ok(CanonicalStruct::new(
            self.0.serialize_struct_variant(name, index, variant, len)?,
            name,
            variant,
        ))
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

pub(super) struct CanonicalStruct<S> {
    s: S,
    /// The shape's appended fields: looked up once per struct, not per field
    /// (fingerprints are computed for every request).
    appended: &'static [&'static str],
}

/// The appended fields of every shape (container and variant), from [`APPENDED`].
fn appended_of(container: &'static str, variant: &'static str) -> &'static [&'static str] {
    type ByShape = HashMap<(&'static str, &'static str), Vec<&'static str>>;
    static BY_SHAPE: OnceLock<ByShape> = OnceLock::new();
    BY_SHAPE
        .get_or_init(|| {
            let mut m = ByShape::new();
            for a in APPENDED {
                m.entry((a.container, a.variant)).or_default().push(a.field);
            }
            m
        })
        .get(&(container, variant))
        .map_or(&[], Vec::as_slice)
}

impl<S> CanonicalStruct<S> {
    fn new(s: S, container: &'static str, variant: &'static str) -> Self {
        CanonicalStruct {
            s,
            appended: appended_of(container, variant),
        }
    }

    /// An appended field at its default is not part of the content.
    fn left_out<T: Serialize + ?Sized>(&self, key: &str, v: &T) -> bool {
        !self.appended.is_empty() && self.appended.contains(&key) && at_default(v)
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
