use std::fmt;

/// A JavaScript value held outside any isolate.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    Undefined,
    Null,
    Bool(bool),
    /// Every JavaScript number, including `-0`, `NaN` and the infinities.
    Number(f64),
    String(String),
    BigInt(BigInt),
}

impl Value {
    /// The result of JavaScript's `typeof`, except that `null` is `"null"`
    /// (isolated-vm's convention, which callers rely on to tell it apart).
    pub fn type_of(&self) -> &'static str {
        match self {
            Value::Undefined => "undefined",
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::BigInt(_) => "bigint",
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

/// Renders the value the way JavaScript's `String()` would for primitives,
/// except that strings are quoted so that `"1"` and `1` stay distinguishable.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Undefined => f.write_str("undefined"),
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => fmt_number(*n, f),
            Value::String(s) => write!(f, "{s:?}"),
            Value::BigInt(b) => write!(f, "{b}n"),
        }
    }
}

fn fmt_number(n: f64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if n.is_nan() {
        f.write_str("NaN")
    } else if n.is_infinite() {
        f.write_str(if n > 0.0 { "Infinity" } else { "-Infinity" })
    } else if n == 0.0 {
        // JavaScript prints -0 as "0" too.
        f.write_str("0")
    } else {
        write!(f, "{n}")
    }
}

macro_rules! value_from {
    ($($ty:ty => $variant:ident($conv:expr)),* $(,)?) => {
        $(impl From<$ty> for Value {
            fn from(v: $ty) -> Value {
                Value::$variant($conv(v))
            }
        })*
    };
}

value_from! {
    bool => Bool(|v| v),
    f64 => Number(|v| v),
    i32 => Number(f64::from),
    u32 => Number(f64::from),
    String => String(|v| v),
    &str => String(str::to_owned),
    BigInt => BigInt(|v| v),
}

impl From<()> for Value {
    fn from(_: ()) -> Value {
        Value::Undefined
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    /// `None` becomes `null`, as in JSON.
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// An arbitrary-precision integer: a sign and a little-endian magnitude in
/// 64-bit words, the representation V8 itself exposes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct BigInt {
    negative: bool,
    words: Vec<u64>,
}

impl BigInt {
    /// Builds a BigInt from a sign and little-endian words. Zero is never
    /// negative, and high zero words are dropped, so equal numbers compare
    /// equal.
    pub fn from_words(negative: bool, mut words: Vec<u64>) -> BigInt {
        while words.last() == Some(&0) {
            words.pop();
        }
        BigInt { negative: negative && !words.is_empty(), words }
    }

    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The magnitude, little-endian; empty for zero.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// The value as an `i128` if it fits.
    pub fn to_i128(&self) -> Option<i128> {
        let magnitude: u128 = match self.words.as_slice() {
            [] => 0,
            [lo] => u128::from(*lo),
            [lo, hi] => u128::from(*lo) | (u128::from(*hi) << 64),
            _ => return None,
        };
        if self.negative { 0i128.checked_sub_unsigned(magnitude) } else { i128::try_from(magnitude).ok() }
    }
}

impl From<i128> for BigInt {
    fn from(v: i128) -> BigInt {
        let magnitude = v.unsigned_abs();
        BigInt::from_words(v < 0, vec![magnitude as u64, (magnitude >> 64) as u64])
    }
}

impl From<i64> for BigInt {
    fn from(v: i64) -> BigInt {
        BigInt::from(i128::from(v))
    }
}

impl From<u64> for BigInt {
    fn from(v: u64) -> BigInt {
        BigInt::from_words(false, vec![v])
    }
}

impl fmt::Display for BigInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(v) = self.to_i128() {
            return write!(f, "{v}");
        }
        // Decimal by repeated division of the magnitude by 10^19.
        const CHUNK: u64 = 10_000_000_000_000_000_000;
        let mut words = self.words.clone();
        let mut chunks = Vec::new();
        while !words.is_empty() {
            let mut rem: u128 = 0;
            for word in words.iter_mut().rev() {
                let cur = (rem << 64) | u128::from(*word);
                *word = (cur / u128::from(CHUNK)) as u64;
                rem = cur % u128::from(CHUNK);
            }
            chunks.push(rem as u64);
            while words.last() == Some(&0) {
                words.pop();
            }
        }
        if self.negative {
            f.write_str("-")?;
        }
        let mut iter = chunks.iter().rev();
        if let Some(first) = iter.next() {
            write!(f, "{first}")?;
        }
        for chunk in iter {
            write!(f, "{chunk:019}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigint_normalises_zero_and_high_words() {
        assert_eq!(BigInt::from_words(true, vec![0, 0]), BigInt::from(0i64));
        assert_eq!(BigInt::from_words(false, vec![5, 0]), BigInt::from(5u64));
        assert!(!BigInt::from(0i64).is_negative());
    }

    #[test]
    fn bigint_i128_round_trip_and_bounds() {
        for v in [0i128, 1, -1, i64::MAX as i128 + 1, i128::MAX, i128::MIN, -(1 << 100)] {
            assert_eq!(BigInt::from(v).to_i128(), Some(v), "{v}");
        }
        assert_eq!(BigInt::from_words(false, vec![0, 0, 1]).to_i128(), None);
        assert_eq!(BigInt::from_words(false, vec![0, 1 << 63]).to_i128(), None);
    }

    #[test]
    fn bigint_displays_in_decimal_beyond_i128() {
        // 2^128 = 340282366920938463463374607431768211456
        let two_128 = BigInt::from_words(true, vec![0, 0, 1]);
        assert_eq!(two_128.to_string(), "-340282366920938463463374607431768211456");
        assert_eq!(BigInt::from(-42i64).to_string(), "-42");
    }

    #[test]
    fn value_type_of_and_display() {
        assert_eq!(Value::Null.type_of(), "null");
        assert_eq!(Value::from(1.5).to_string(), "1.5");
        assert_eq!(Value::from(-0.0).to_string(), "0");
        assert_eq!(Value::from(f64::NAN).to_string(), "NaN");
        assert_eq!(Value::from("a\"b").to_string(), "\"a\\\"b\"");
        assert_eq!(Value::from(None::<bool>), Value::Null);
    }
}
