//! Fixed-scale decimals: an integer count of `10^-scale` units. Never binary floating point.

use std::cmp::Ordering;
use std::fmt;

/// Largest scale a decimal field may declare.
pub const MAX_SCALE: u8 = 9;

/// Digits a decimal holds in all: `MAX_DIGITS - scale` before the point, `scale` after it.
/// (Every such value fits the `i64` of units, and the limit is one a schema can state.)
pub const MAX_DIGITS: u8 = 18;

/// A decimal as `units * 10^-scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decimal {
    pub units: i64,
    pub scale: u8,
}

/// Why a text could not become a decimal of the wanted scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecimalError {
    Syntax,
    TooManyFractionDigits,
    OutOfRange,
}

impl Decimal {
    /// Parses `-12.34`, `12`, `+0.5`, at most `scale` fraction digits, no exponent.
    pub fn parse(text: &str, scale: u8) -> Result<Self, DecimalError> {
        let (negative, digits) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (int_part, frac_part) = match digits.split_once('.') {
            Some((i, f)) => (i, f),
            None => (digits, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int_part.is_empty() && frac_part.is_empty()
            || !all_digits(int_part)
            || !all_digits(frac_part)
            || digits.ends_with('.') && frac_part.is_empty() && digits.contains('.')
        {
            return Err(DecimalError::Syntax);
        }
        if int_part.trim_start_matches('0').len() > usize::from(MAX_DIGITS.saturating_sub(scale)) {
            return Err(DecimalError::OutOfRange);
        }
        let frac_trimmed = frac_part.trim_end_matches('0');
        if frac_trimmed.len() > usize::from(scale) {
            return Err(DecimalError::TooManyFractionDigits);
        }
        let mut units: i128 = 0;
        for b in int_part.bytes() {
            units = units * 10 + i128::from(b - b'0');
            if units > i128::from(i64::MAX) {
                return Err(DecimalError::OutOfRange);
            }
        }
        for i in 0..usize::from(scale) {
            let d = frac_trimmed.as_bytes().get(i).map_or(0, |b| b - b'0');
            units = units * 10 + i128::from(d);
        }
        if negative {
            units = -units;
        }
        let units = i64::try_from(units).map_err(|_| DecimalError::OutOfRange)?;
        Ok(Self { units, scale })
    }

    /// The same value at another scale, if it is exactly representable there.
    pub fn rescale(self, scale: u8) -> Option<Self> {
        match scale.cmp(&self.scale) {
            Ordering::Equal => Some(self),
            Ordering::Greater => {
                let factor = 10i64.checked_pow(u32::from(scale - self.scale))?;
                Some(Self {
                    units: self.units.checked_mul(factor)?,
                    scale,
                })
            }
            Ordering::Less => {
                let factor = 10i64.checked_pow(u32::from(self.scale - scale))?;
                (self.units % factor == 0).then_some(Self {
                    units: self.units / factor,
                    scale,
                })
            }
        }
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.units < 0 { "-" } else { "" };
        let abs = self.units.unsigned_abs();
        if self.scale == 0 {
            return write!(f, "{sign}{abs}");
        }
        let factor = 10u64.pow(u32::from(self.scale));
        write!(
            f,
            "{sign}{}.{:0width$}",
            abs / factor,
            abs % factor,
            width = usize::from(self.scale)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_formats() {
        assert_eq!(Decimal::parse("12.34", 2).unwrap().units, 1234);
        assert_eq!(Decimal::parse("-0.5", 2).unwrap().to_string(), "-0.50");
        assert_eq!(Decimal::parse("7", 0).unwrap().to_string(), "7");
        assert_eq!(Decimal::parse("1.230", 2).unwrap().units, 123);
        assert_eq!(
            Decimal::parse("1.234", 2),
            Err(DecimalError::TooManyFractionDigits)
        );
        assert_eq!(
            Decimal::parse("10000000000000000", 2),
            Err(DecimalError::OutOfRange),
            "18 digits in all"
        );
        assert!(Decimal::parse("00009999999999999999.99", 2).is_ok());
        for bad in ["", "-", ".", "1.", "1e3", "1,5", "--1", " 1"] {
            assert_eq!(Decimal::parse(bad, 2), Err(DecimalError::Syntax), "{bad:?}");
        }
        assert_eq!(
            Decimal::parse("99999999999999999999", 0),
            Err(DecimalError::OutOfRange)
        );
    }

    proptest! {
        #[test]
        fn display_round_trips(units in -999_999_999_999_999_999_i64..=999_999_999_999_999_999, scale in 0u8..=MAX_SCALE) {
            let d = Decimal { units, scale };
            prop_assert_eq!(Decimal::parse(&d.to_string(), scale), Ok(d));
        }
    }
}
