//! How local times are stored: the calendar text for readable formats (JSON history
//! details), and seconds plus nanoseconds for binary records, where formatting and parsing
//! text on every record cost more than the rest of the encoding.

use chrono::NaiveDateTime;
use serde::{de::Error, Deserialize, Deserializer, Serialize, Serializer};

pub fn serialize<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        t.serialize(s)
    } else {
        let utc = t.and_utc();
        (utc.timestamp(), utc.timestamp_subsec_nanos()).serialize(s)
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
    if d.is_human_readable() {
        NaiveDateTime::deserialize(d)
    } else {
        let (secs, nanos) = <(i64, u32)>::deserialize(d)?;
        chrono::DateTime::from_timestamp(secs, nanos)
            .map(|t| t.naive_utc())
            .ok_or_else(|| D::Error::custom("local time out of range"))
    }
}
