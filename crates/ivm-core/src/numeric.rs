//! The numeric options front-ends take from their languages, where any
//! float may arrive (NaN, the infinities, fractions, `1e22`): one check per
//! kind of option, naming the option and its range, so that every
//! front-end refuses the same values in the same words and nothing past
//! them can overflow (a deadline, a byte count). A front-end checks that
//! it was given a number at all (its language's TypeError); a number out
//! of range is a [`RangeError`] (JavaScript's `RangeError`, Python's
//! `ValueError`).
//!
//! The Rust API takes typed values (`Duration`, `usize`); the same ranges
//! hold there: a timeout longer than [`MAX_TIMEOUT`] is refused at the call
//! with [`Error::InvalidArgument`](crate::Error::InvalidArgument).

use std::time::Duration;

/// The largest integer a JavaScript number holds exactly, 2^53 − 1, and
/// the largest value any numeric option takes.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The longest timeout or CPU limit: 2^53 − 1 milliseconds (about 285,000
/// years). A longer one is refused, never clamped and never read as "no
/// limit"; a timeout of no length at all is the front-end's to define.
pub const MAX_TIMEOUT: Duration = Duration::from_millis(MAX_SAFE_INTEGER);

/// The largest memory limit, in MiB: 2^53 − 1 bytes' worth.
pub const MAX_MEMORY_LIMIT_MB: usize = (MAX_SAFE_INTEGER >> 20) as usize;

/// The largest array buffer the host may make (a SharedArrayBuffer to
/// share with isolates): JavaScript's own limit, 2^53 − 1 bytes.
pub const MAX_BYTE_LENGTH: usize = MAX_SAFE_INTEGER as usize;

/// A numeric option out of its range, with a message that names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RangeError(String);

/// The unit a front-end gives durations in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// isolated-vm's (Node's) timeouts.
    Milliseconds,
    /// Python's.
    Seconds,
}

/// A timeout or CPU limit of `value` `unit`s: from 0 to [`MAX_TIMEOUT`],
/// fractions allowed.
pub fn duration(name: &str, value: f64, unit: Unit) -> Result<Duration, RangeError> {
    let (ms, unit_name, max) = match unit {
        Unit::Milliseconds => (value, "milliseconds", MAX_SAFE_INTEGER.to_string()),
        Unit::Seconds => {
            (value * 1e3, "seconds", format!("{}.{:03}", MAX_SAFE_INTEGER / 1000, MAX_SAFE_INTEGER % 1000))
        }
    };
    if !(0.0..=MAX_SAFE_INTEGER as f64).contains(&ms) {
        return Err(RangeError(format!(
            "`{name}` must be a number of {unit_name} from 0 to {max}, not {}",
            show(value)
        )));
    }
    // In range, so finite and small enough for any `Duration`; whole
    // milliseconds are exact.
    let whole = ms.trunc();
    Ok(Duration::from_millis(whole as u64) + Duration::from_nanos(((ms - whole) * 1e6).round() as u64))
}

/// A whole number from `min` to `max` (both at most 2^53 − 1 in size).
pub fn integer(name: &str, value: f64, min: i64, max: i64) -> Result<i64, RangeError> {
    if value.fract() != 0.0 || !(min as f64..=max as f64).contains(&value) {
        return Err(RangeError(format!("`{name}` must be a whole number from {min} to {max}, not {}", show(value))));
    }
    Ok(value as i64)
}

/// A TCP port: a whole number from 0 (any free port) to 65535.
pub fn port(name: &str, value: f64) -> Result<u16, RangeError> {
    let port = integer(name, value, 0, u16::MAX.into())?;
    Ok(u16::try_from(port).expect("checked to be in range"))
}

/// A count of isolates to keep (a pool's size): a whole number from 1 to
/// 2^32 − 1.
pub fn pool_size(name: &str, value: f64) -> Result<usize, RangeError> {
    let size = integer(name, value, 1, u32::MAX.into())?;
    Ok(usize::try_from(size).unwrap_or(usize::MAX))
}

/// A line or column offset of a script's origin: a whole 32-bit number.
pub fn offset(name: &str, value: f64) -> Result<i32, RangeError> {
    let offset = integer(name, value, i32::MIN.into(), i32::MAX.into())?;
    Ok(i32::try_from(offset).expect("checked to be in range"))
}

/// A memory limit of `value` MiB: a whole number from
/// [`MIN_MEMORY_LIMIT_MB`](crate::MIN_MEMORY_LIMIT_MB) to
/// [`MAX_MEMORY_LIMIT_MB`].
pub fn memory_limit(name: &str, value: f64) -> Result<usize, RangeError> {
    let mb = integer(name, value, crate::MIN_MEMORY_LIMIT_MB as i64, MAX_MEMORY_LIMIT_MB as i64)?;
    Ok(mb as usize)
}

/// Refuses a typed memory limit out of that range (the Rust API's check).
pub(crate) fn check_memory_limit(mb: usize) -> crate::Result<()> {
    if !(crate::MIN_MEMORY_LIMIT_MB..=MAX_MEMORY_LIMIT_MB).contains(&mb) {
        return Err(crate::Error::InvalidArgument(format!(
            "`memory_limit` must be a whole number of MiB from {} to {MAX_MEMORY_LIMIT_MB}, not {mb}",
            crate::MIN_MEMORY_LIMIT_MB
        )));
    }
    Ok(())
}

/// Refuses a typed `Duration` past [`MAX_TIMEOUT`] (the Rust API's check).
pub(crate) fn check_duration(name: &str, value: Option<Duration>) -> crate::Result<()> {
    match value {
        Some(value) if value > MAX_TIMEOUT => Err(crate::Error::InvalidArgument(format!(
            "`{name}` must be at most {MAX_SAFE_INTEGER} milliseconds, not {} seconds",
            value.as_secs()
        ))),
        _ => Ok(()),
    }
}

/// A number as JavaScript prints it, for messages.
fn show(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if value.fract() == 0.0 && value.abs() < 1e21 {
        format!("{value:.0}")
    } else {
        format!("{value:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: [f64; 8] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, -0.5, 1e22, 9007199254740992.0, 1e300];

    #[test]
    fn durations_take_zero_to_max_safe_milliseconds() {
        assert_eq!(duration("timeout", 0.0, Unit::Milliseconds), Ok(Duration::ZERO));
        assert_eq!(duration("timeout", 1.5, Unit::Milliseconds), Ok(Duration::from_micros(1500)));
        assert_eq!(duration("timeout", 0.25, Unit::Seconds), Ok(Duration::from_millis(250)));
        assert_eq!(duration("timeout", MAX_SAFE_INTEGER as f64, Unit::Milliseconds), Ok(MAX_TIMEOUT));
        for value in HOSTILE {
            for unit in [Unit::Milliseconds, Unit::Seconds] {
                let error = duration("timeout", value, unit).unwrap_err();
                assert!(error.to_string().starts_with("`timeout` must be a number of"), "{error}");
            }
        }
        assert_eq!(
            duration("timeout", 1e22, Unit::Milliseconds).unwrap_err().to_string(),
            "`timeout` must be a number of milliseconds from 0 to 9007199254740991, not 1e22"
        );
        assert_eq!(
            duration("cpu_limit", f64::NAN, Unit::Seconds).unwrap_err().to_string(),
            "`cpu_limit` must be a number of seconds from 0 to 9007199254740.991, not NaN"
        );
    }

    #[test]
    fn integers_are_whole_and_in_range() {
        assert_eq!(integer("port", 0.0, 0, 65535), Ok(0));
        assert_eq!(integer("port", 65535.0, 0, 65535), Ok(65535));
        assert_eq!(integer("lineOffset", -3.0, -(1 << 31), (1 << 31) - 1), Ok(-3));
        for value in HOSTILE.into_iter().chain([1.5, 65536.0]) {
            let error = integer("port", value, 0, 65535).unwrap_err();
            assert!(error.to_string().starts_with("`port` must be a whole number from 0 to 65535, not "), "{error}");
        }
    }

    #[test]
    fn typed_durations_past_the_maximum_are_refused() {
        assert!(check_duration("timeout", Some(MAX_TIMEOUT)).is_ok());
        assert!(check_duration("timeout", None).is_ok());
        assert!(check_duration("timeout", Some(Duration::MAX)).is_err());
    }
}
