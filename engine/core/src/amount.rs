//! Exact amounts. Points and money are integer minor units (hundredths); rates are
//! `rust_decimal` values. There is one rounding rule for every derived amount:
//! [`round_minor`] rounds half away from zero to the minor unit, and proportional splits
//! use [`allocate`] (largest remainder) so that parts always sum exactly to the whole.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Largest absolute amount the engine accepts, in minor units (one hundred billion units).
pub const AMOUNT_MINOR_MAX: i64 = 10_000_000_000_000;
/// Largest quantity on one line, in thousandths (one million units).
pub const QTY_MILLI_MAX: i64 = 1_000_000_000;

/// Why a decimal string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("not a decimal number: {0:?}")]
    NotDecimal(String),
    #[error("more than {max_places} decimal places: {value:?}")]
    TooPrecise { value: String, max_places: u32 },
    #[error("negative amount: {0:?}")]
    Negative(String),
    #[error("amount out of range: {0:?}")]
    OutOfRange(String),
}

fn parse_scaled(s: &str, places: u32, max: i64) -> Result<i64, AmountError> {
    let trimmed = s.trim();
    let digits = trimmed.strip_prefix('-').unwrap_or(trimmed);
    let mut parts = digits.split('.');
    let plain = parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && digits.matches('.').count() <= 1;
    if !plain || trimmed.len() > 40 {
        return Err(AmountError::NotDecimal(s.to_owned()));
    }
    let d: Decimal = trimmed
        .parse()
        .map_err(|_| AmountError::NotDecimal(s.to_owned()))?;
    if d.is_sign_negative() && !d.is_zero() {
        return Err(AmountError::Negative(s.to_owned()));
    }
    let d = d.normalize();
    if d.scale() > places {
        return Err(AmountError::TooPrecise {
            value: s.to_owned(),
            max_places: places,
        });
    }
    let scaled = d
        .checked_mul(Decimal::from(10i64.pow(places)))
        .and_then(|v| v.to_i64())
        .ok_or_else(|| AmountError::OutOfRange(s.to_owned()))?;
    if scaled > max {
        return Err(AmountError::OutOfRange(s.to_owned()));
    }
    Ok(scaled)
}

/// `v` in units of 10^-places, with exactly `places` decimals ("12.30", "-0.05", "1.000").
/// Digits are laid right to left into a stack buffer and written once: replies carry
/// dozens of amounts, and `write!` with width arguments costs several times as much.
fn write_scaled(f: &mut fmt::Formatter<'_>, v: i64, places: u32) -> fmt::Result {
    f.write_str(scaled(v, places, &mut [0u8; 24]))
}

/// `v` laid out as [`write_scaled`] writes it, in `buf`. `to_string` goes through the
/// formatting machinery and grows its string; answers convert dozens of amounts each, so
/// `text` makes the string from this at its exact size.
fn scaled(v: i64, places: u32, buf: &mut [u8; 24]) -> &str {
    // i64::MIN has 19 digits; with the point, a leading zero and the sign: at most 22.
    let mut at = buf.len();
    let mut rest = v.unsigned_abs();
    let mut digits = 0;
    loop {
        if places > 0 && digits == places {
            at -= 1;
            buf[at] = b'.';
        }
        at -= 1;
        buf[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        digits += 1;
        if rest == 0 && digits > places {
            break;
        }
    }
    if v < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    std::str::from_utf8(&buf[at..]).expect("ASCII digits")
}

macro_rules! minor_amount {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(pub i64);

        impl $name {
            pub const ZERO: $name = $name(0);

            /// Parses a non-negative decimal string with at most two places ("10", "10.5", "10.50").
            pub fn parse(s: &str) -> Result<Self, AmountError> {
                parse_scaled(s, 2, AMOUNT_MINOR_MAX).map($name)
            }
            pub fn minor(self) -> i64 {
                self.0
            }
            pub fn to_decimal(self) -> Decimal {
                Decimal::new(self.0, 2)
            }
            pub fn checked_add(self, o: Self) -> Option<Self> {
                self.0.checked_add(o.0).map($name)
            }
            pub fn checked_sub(self, o: Self) -> Option<Self> {
                self.0.checked_sub(o.0).map($name)
            }
            /// Addition that treats overflow as a broken invariant: amounts are bounded by
            /// [`AMOUNT_MINOR_MAX`] at the edge, so sums of them cannot reach `i64::MAX`.
            pub fn plus(self, o: Self) -> Self {
                self.checked_add(o).expect("amount overflow")
            }
            pub fn minus(self, o: Self) -> Self {
                self.checked_sub(o).expect("amount overflow")
            }
            pub fn is_zero(self) -> bool {
                self.0 == 0
            }
            /// As `to_string`, made at its exact size without the formatting machinery.
            pub fn text(self) -> String {
                scaled(self.0, 2, &mut [0u8; 24]).to_owned()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_scaled(f, self.0, 2)
            }
        }
    };
}

minor_amount!(
    /// Bonus points in hundredths of a point.
    Points
);
minor_amount!(
    /// Money in minor currency units (kopecks).
    Money
);

/// A quantity in thousandths of a unit (weighed goods have fractional quantities).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Qty(pub i64);

impl Qty {
    pub fn parse(s: &str) -> Result<Self, AmountError> {
        parse_scaled(s, 3, QTY_MILLI_MAX).map(Qty)
    }
    pub fn milli(self) -> i64 {
        self.0
    }
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, 3)
    }
    /// As `to_string`, made at its exact size without the formatting machinery.
    pub fn text(self) -> String {
        scaled(self.0, 3, &mut [0u8; 24]).to_owned()
    }
}

impl fmt::Display for Qty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_scaled(f, self.0, 3)
    }
}

/// A percentage in (0, 100], e.g. `5` or `7.5`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Percent(#[serde(with = "rust_decimal::serde::str")] pub Decimal);

impl Percent {
    pub fn parse(s: &str) -> Result<Self, AmountError> {
        let d: Decimal = s
            .trim()
            .parse()
            .map_err(|_| AmountError::NotDecimal(s.to_owned()))?;
        if d.is_sign_negative() || d.is_zero() || d > Decimal::ONE_HUNDRED {
            return Err(AmountError::OutOfRange(s.to_owned()));
        }
        if d.normalize().scale() > 4 {
            return Err(AmountError::TooPrecise {
                value: s.to_owned(),
                max_places: 4,
            });
        }
        Ok(Percent(d.normalize()))
    }
    pub fn decimal(self) -> Decimal {
        self.0
    }

    /// Above zero and at most 100, as `parse` makes them.
    pub fn is_share(self) -> bool {
        !self.0.is_sign_negative() && !self.0.is_zero() && self.0 <= Decimal::ONE_HUNDRED
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The engine's one rounding rule: half away from zero, to the minor unit.
pub fn round_minor(value_in_units: Decimal) -> i64 {
    value_in_units
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
        .checked_mul(Decimal::ONE_HUNDRED)
        .and_then(|v| v.to_i64())
        .expect("rounded amount fits in i64")
}

/// `num / den` rounded by the one rule (half away from zero), in exact integers.
fn div_round(num: i128, den: i128) -> i128 {
    assert!(den > 0, "division by {den}");
    let q = num / den;
    let r = num % den;
    if 2 * r.abs() >= den {
        q + num.signum()
    } else {
        q
    }
}

/// `percent` of `base` minor units, rounded by the one rule. Computed on the decimal's
/// integer mantissa, so it is exact and agrees with [`round_minor`] of the decimal product.
pub fn percent_of(base_minor: i64, percent: Percent) -> i64 {
    let scale = 10i128.pow(percent.0.scale());
    let v = div_round(i128::from(base_minor) * percent.0.mantissa(), 100 * scale);
    i64::try_from(v).expect("percent of a bounded amount fits")
}

/// Price times quantity, if it stays within [`AMOUNT_MINOR_MAX`]: what a cheque or an
/// order line may amount to (price and quantity are each bounded, their product is not).
pub fn line_amount(price_minor: i64, qty: Qty) -> Option<i64> {
    let v = div_round(i128::from(price_minor) * i128::from(qty.0), 1000);
    i64::try_from(v)
        .ok()
        .filter(|v| (0..=AMOUNT_MINOR_MAX).contains(v))
}

/// Price (minor units per unit) times quantity (thousandths), rounded by the one rule.
/// For lines already checked with [`line_amount`].
pub fn extend(price_minor: i64, qty: Qty) -> i64 {
    let v = div_round(i128::from(price_minor) * i128::from(qty.0), 1000);
    i64::try_from(v).expect("a bounded price times a bounded quantity fits")
}

/// The part of `whole` that corresponds to `num / den`, rounded by the one rule.
/// `prorate(w, d, d) == w` and it is non-decreasing in `num`, so cumulative differences
/// never exceed the whole.
pub fn prorate(whole_minor: i64, num: i64, den: i64) -> i64 {
    assert!(den > 0 && (0..=den).contains(&num), "prorate {num}/{den}");
    let v = div_round(i128::from(whole_minor) * i128::from(num), i128::from(den));
    i64::try_from(v).expect("a part of a bounded amount fits")
}

/// Splits `total` into parts proportional to `weights` by largest remainder; ties go to the
/// earlier index. The parts sum exactly to `total`, and no part exceeds its weight when
/// `total <= sum(weights)`.
pub fn allocate(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|&w| i128::from(w.max(0))).sum();
    if sum == 0 || total == 0 {
        return vec![0; weights.len()];
    }
    let mut parts = Vec::with_capacity(weights.len());
    let mut rems = Vec::with_capacity(weights.len());
    let mut given: i128 = 0;
    for (i, &w) in weights.iter().enumerate() {
        let exact = i128::from(total) * i128::from(w.max(0));
        let part = exact / sum;
        given += part;
        parts.push(part as i64);
        rems.push((exact % sum, i));
    }
    rems.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut left = i128::from(total) - given;
    for (_, i) in rems {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_normalises() {
        assert_eq!(Points::parse("10").unwrap(), Points(1000));
        assert_eq!(Points::parse("10.5").unwrap(), Points(1050));
        assert_eq!(Points::parse("10.50").unwrap(), Points(1050));
        assert_eq!(Points(1050).to_string(), "10.50");
        assert_eq!(Money(-5).to_string(), "-0.05");
        assert_eq!(Money(0).to_string(), "0.00");
        assert_eq!(Qty(1000).to_string(), "1.000");
        assert_eq!(Money(i64::MIN).to_string(), "-92233720368547758.08");
        // `text` is the same string, made directly.
        for v in [0, 5, -5, 1050, 99, -100_000, i64::MIN, i64::MAX] {
            assert_eq!(Money(v).text(), Money(v).to_string());
            assert_eq!(Points(v).text(), Points(v).to_string());
            assert_eq!(Qty(v).text(), Qty(v).to_string());
        }
        assert_eq!(Qty::parse("0.5").unwrap(), Qty(500));
        assert!(matches!(
            Points::parse("1.001"),
            Err(AmountError::TooPrecise { .. })
        ));
        assert!(matches!(Points::parse("-1"), Err(AmountError::Negative(_))));
        assert!(matches!(
            Points::parse("1e3"),
            Err(AmountError::NotDecimal(_))
        ));
        assert!(matches!(
            Points::parse("NaN"),
            Err(AmountError::NotDecimal(_))
        ));
        assert!(matches!(
            Points::parse("100000000000.01"),
            Err(AmountError::OutOfRange(_))
        ));
        assert!(Percent::parse("0").is_err());
        assert!(Percent::parse("100.5").is_err());
        assert_eq!(Percent::parse("7.50").unwrap().to_string(), "7.5");
    }

    #[test]
    fn one_rounding_rule() {
        let five = Percent::parse("5").unwrap();
        // 5% of 0.50 = 0.025 -> 0.03 (half away from zero)
        assert_eq!(percent_of(50, five), 3);
        assert_eq!(percent_of(49, five), 2);
        assert_eq!(extend(1999, Qty(1500)), 2999); // 19.99 * 1.5 = 29.985 -> 29.99
    }

    proptest! {
        #[test]
        fn allocation_sums_exactly_and_respects_weights(
            weights in prop::collection::vec(0i64..1_000_000, 1..40),
            frac in 0u32..=1000,
        ) {
            let sum: i64 = weights.iter().sum();
            let total = sum * i64::from(frac) / 1000;
            let parts = allocate(total, &weights);
            prop_assert_eq!(parts.iter().sum::<i64>(), total);
            for (p, w) in parts.iter().zip(&weights) {
                prop_assert!(*p >= 0 && p <= w);
            }
        }

        #[test]
        fn prorate_is_monotone_and_exact_at_the_end(whole in 0i64..1_000_000_000, den in 1i64..10_000) {
            let mut last = 0;
            for num in 0..=den.min(200) {
                let v = prorate(whole, num, den);
                prop_assert!(v >= last);
                last = v;
            }
            prop_assert_eq!(prorate(whole, den, den), whole);
        }

        #[test]
        fn integer_rounding_agrees_with_the_decimal_rule(base in 0i64..AMOUNT_MINOR_MAX, pct in 1u32..=1_000_000, price in 0i64..10_000_000, qty in 1i64..QTY_MILLI_MAX) {
            let p = Percent(Decimal::new(i64::from(pct), 4));
            let by_decimal = round_minor(Decimal::new(base, 2) * p.0 / Decimal::ONE_HUNDRED);
            prop_assert_eq!(percent_of(base, p), by_decimal);
            prop_assert_eq!(extend(price, Qty(qty)), round_minor(Decimal::new(price, 2) * Qty(qty).to_decimal()));
        }

        #[test]
        fn display_parse_round_trip(v in 0i64..AMOUNT_MINOR_MAX) {
            prop_assert_eq!(Points::parse(&Points(v).to_string()).unwrap(), Points(v));
        }

        /// Amounts and quantities are written exactly as the decimal type writes them at
        /// their scale ("12.30", "-0.05", "1.000"), for any value, so the wire never changes.
        #[test]
        fn display_equals_the_decimal_at_its_scale(v in any::<i64>()) {
            prop_assert_eq!(Points(v).to_string(), Decimal::new(v, 2).to_string());
            prop_assert_eq!(Money(v).to_string(), Decimal::new(v, 2).to_string());
            prop_assert_eq!(Qty(v).to_string(), Decimal::new(v, 3).to_string());
        }
    }
}
