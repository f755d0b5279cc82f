//! Exact cty numbers.
//!
//! Terraform numbers are arbitrary precision (cty keeps a 512-bit `big.Float`), so an `i64` or
//! `f64` loses values users really write: `2.5` in an integer type, `0.1` in a float, a 30-digit
//! account id. A [`Number`] is a decimal (`bigdecimal::BigDecimal`) plus ±Infinity, compared by
//! value, so `1 == 1.0` and what Terraform sends can be echoed back unchanged.
//!
//! The decimal is kept *normalized* (no trailing zeros in the integer part of the mantissa, zero
//! is `0 × 10^0`). That makes equality and hashing structural, and — more importantly — lets every
//! operation here avoid materializing `10^exponent`: a peer can send `"1e999999999999"` and nothing
//! in this module will try to allocate a trillion digits. Several `BigDecimal` methods (`Hash`,
//! `normalized`, `to_plain_string`, cross-scale comparison) do exactly that, so they are not
//! used here.
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use bigdecimal::num_bigint::{BigInt, Sign};
use bigdecimal::num_traits::{ToPrimitive, Zero};
use bigdecimal::BigDecimal;

/// Exponents beyond this are rejected when parsing. Far outside anything a real configuration
/// holds, yet small enough that exponent arithmetic can never overflow an `i64`.
const MAX_EXPONENT: i64 = 1 << 40;

/// Display switches to scientific notation only when plain notation would need more padding
/// zeros than this; every number a configuration realistically holds prints plainly.
const PLAIN_ZERO_LIMIT: i64 = 64;

/// An exact cty number: a finite decimal or ±Infinity.
#[derive(Clone, Debug)]
pub struct Number(Repr);

#[derive(Clone, Debug)]
enum Repr {
    NegInf,
    /// Always normalized, see the module docs.
    Finite(BigDecimal),
    PosInf,
}

/// A value that is not a number (NaN, malformed text, absurd exponent).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NumberError(pub String);

impl Number {
    pub fn zero() -> Number {
        Number(Repr::Finite(BigDecimal::zero()))
    }
    pub fn infinity() -> Number {
        Number(Repr::PosInf)
    }
    pub fn neg_infinity() -> Number {
        Number(Repr::NegInf)
    }

    /// `mantissa × 10^-scale`, normalized.
    fn from_parts(mantissa: BigInt, scale: i64) -> Number {
        if mantissa.is_zero() {
            return Number::zero();
        }
        // Trailing zeros are stripped through the decimal text: simple and linear in the digit
        // count, which is bounded by the input that produced the mantissa.
        let text = mantissa.magnitude().to_str_radix(10);
        let trimmed = text.trim_end_matches('0');
        let stripped = (text.len() - trimmed.len()) as i64;
        if stripped == 0 {
            return Number(Repr::Finite(BigDecimal::new(mantissa, scale)));
        }
        let magnitude = BigInt::parse_bytes(trimmed.as_bytes(), 10).unwrap_or_default();
        let mantissa = if mantissa.sign() == Sign::Minus {
            -magnitude
        } else {
            magnitude
        };
        Number(Repr::Finite(BigDecimal::new(mantissa, scale - stripped)))
    }

    /// The exact value of an `f64`; NaN is an error.
    pub fn from_f64(f: f64) -> Result<Number, NumberError> {
        if f.is_nan() {
            return Err(NumberError("NaN is not a number".into()));
        }
        if f.is_infinite() {
            return Ok(if f > 0.0 {
                Number::infinity()
            } else {
                Number::neg_infinity()
            });
        }
        let bits = f.to_bits();
        let negative = bits >> 63 == 1;
        let exp_bits = ((bits >> 52) & 0x7ff) as i64;
        let fraction = bits & ((1u64 << 52) - 1);
        // value = mant × 2^exp, with subnormals having no implicit leading bit.
        let (mut mant, mut exp) = if exp_bits == 0 {
            (fraction, -1074)
        } else {
            (fraction | (1u64 << 52), exp_bits - 1075)
        };
        if mant == 0 {
            return Ok(Number::zero());
        }
        let tz = mant.trailing_zeros().min(exp.unsigned_abs() as u32) as i64;
        if exp < 0 {
            mant >>= tz;
            exp += tz;
        }
        let mut m = BigInt::from(mant);
        let scale = if exp >= 0 {
            m <<= exp as usize;
            0
        } else {
            // m × 2^-k == m × 5^k × 10^-k: an exact decimal with k fractional digits.
            let k = (-exp) as u32;
            m *= BigInt::from(5u8).pow(k);
            k as i64
        };
        if negative {
            m = -m;
        }
        Ok(Number::from_parts(m, scale))
    }

    pub fn is_finite(&self) -> bool {
        matches!(self.0, Repr::Finite(_))
    }
    pub fn is_infinite(&self) -> bool {
        !self.is_finite()
    }
    pub fn is_negative(&self) -> bool {
        match &self.0 {
            Repr::NegInf => true,
            Repr::PosInf => false,
            Repr::Finite(d) => d.sign() == Sign::Minus,
        }
    }
    pub fn is_zero(&self) -> bool {
        matches!(&self.0, Repr::Finite(d) if d.is_zero())
    }

    /// The decimal, unless infinite. It is normalized; beware that some `BigDecimal` methods
    /// expand the exponent into digits.
    pub fn as_bigdecimal(&self) -> Option<&BigDecimal> {
        match &self.0 {
            Repr::Finite(d) => Some(d),
            _ => None,
        }
    }

    /// True for finite whole numbers (cty: ±Inf is not an integer).
    pub fn is_integer(&self) -> bool {
        match &self.0 {
            Repr::Finite(d) => d.fractional_digit_count() <= 0,
            _ => false,
        }
    }

    /// The mantissa scaled to an integer, when it has at most `max_zeros` implied trailing
    /// zeros; callers use this only where larger values can't fit their target anyway.
    fn integer_value(&self, max_zeros: i64) -> Option<BigInt> {
        let d = self.as_bigdecimal()?;
        let (m, scale) = d.as_bigint_and_scale();
        if scale > 0 || -scale > max_zeros {
            return None;
        }
        Some(m.as_ref() * BigInt::from(10u8).pow((-scale) as u32))
    }

    /// The value as `i64` if it is a whole number in range.
    pub fn as_i64(&self) -> Option<i64> {
        // A non-zero mantissa times 10^19 already exceeds i64::MAX.
        self.integer_value(18)?.to_i64()
    }

    /// The value as `u64` if it is a non-negative whole number in range.
    pub fn as_u64(&self) -> Option<u64> {
        self.integer_value(19)?.to_u64()
    }

    /// The nearest `f64` (huge values become ±Infinity, tiny ones ±0).
    pub fn as_f64(&self) -> f64 {
        match &self.0 {
            Repr::NegInf => f64::NEG_INFINITY,
            Repr::PosInf => f64::INFINITY,
            Repr::Finite(d) => {
                let (m, scale) = d.as_bigint_and_scale();
                // Rust's float parser rounds correctly for any digit count and saturates huge
                // exponents, which is exactly "nearest".
                format!("{m}e{}", -scale).parse().unwrap_or(f64::NAN)
            }
        }
    }

    /// The `f64` holding exactly this value, if there is one.
    pub fn to_f64_exact(&self) -> Option<f64> {
        let f = self.as_f64();
        match Number::from_f64(f) {
            Ok(back) if back == *self => Some(f),
            _ => None,
        }
    }
}

impl Default for Number {
    fn default() -> Self {
        Number::zero()
    }
}

impl From<i64> for Number {
    fn from(n: i64) -> Self {
        Number::from_parts(BigInt::from(n), 0)
    }
}
impl From<u64> for Number {
    fn from(n: u64) -> Self {
        Number::from_parts(BigInt::from(n), 0)
    }
}
impl From<i32> for Number {
    fn from(n: i32) -> Self {
        Number::from(i64::from(n))
    }
}
impl From<u32> for Number {
    fn from(n: u32) -> Self {
        Number::from(u64::from(n))
    }
}
impl From<BigInt> for Number {
    fn from(n: BigInt) -> Self {
        Number::from_parts(n, 0)
    }
}
impl From<BigDecimal> for Number {
    fn from(d: BigDecimal) -> Self {
        let (m, scale) = d.into_bigint_and_scale();
        Number::from_parts(m, scale)
    }
}
impl TryFrom<f64> for Number {
    type Error = NumberError;
    fn try_from(f: f64) -> Result<Self, Self::Error> {
        Number::from_f64(f)
    }
}

impl FromStr for Number {
    type Err = NumberError;

    /// Decimal text as Terraform and JSON write it: `12`, `-3.5`, `1e400`, `+.5E-3`, and
    /// `Inf`/`Infinity` with an optional sign (Go's `big.Float` accepts those too).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || NumberError(format!("{s:?} is not a number"));
        let (negative, body) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
            return Ok(if negative {
                Number::neg_infinity()
            } else {
                Number::infinity()
            });
        }
        let (mantissa_text, exp_text) = match body.find(['e', 'E']) {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        let (int_part, frac_part) = match mantissa_text.find('.') {
            Some(i) => (&mantissa_text[..i], &mantissa_text[i + 1..]),
            None => (mantissa_text, ""),
        };
        let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if (int_part.is_empty() && frac_part.is_empty())
            || !all_digits(int_part)
            || !all_digits(frac_part)
        {
            return Err(bad());
        }
        let exponent: i64 = match exp_text {
            None => 0,
            Some(t) => {
                let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
                if digits.is_empty() || !all_digits(digits) {
                    return Err(bad());
                }
                // Leading zeros can't overflow anything; only the significant part is bounded.
                let significant = digits.trim_start_matches('0');
                if significant.len() > 15 {
                    return Err(NumberError(format!("{s:?}: exponent out of range")));
                }
                let magnitude: i64 = if significant.is_empty() {
                    0
                } else {
                    significant.parse().map_err(|_| bad())?
                };
                if t.starts_with('-') {
                    -magnitude
                } else {
                    magnitude
                }
            }
        };
        let digits = format!("{int_part}{frac_part}");
        // Normalize on the text: stripping zeros here is linear, whereas doing it on the parsed
        // BigInt means a decimal conversion per call.
        let significant = digits.trim_start_matches('0');
        let trimmed = significant.trim_end_matches('0');
        if trimmed.is_empty() {
            return Ok(Number::zero());
        }
        let mut mantissa = BigInt::parse_bytes(trimmed.as_bytes(), 10).ok_or_else(bad)?;
        if negative {
            mantissa = -mantissa;
        }
        // Every term is bounded by the input length or the exponent check: no overflow.
        let scale = frac_part.len() as i64 - exponent - (significant.len() - trimmed.len()) as i64;
        // Bound the normalized exponent so later arithmetic on it stays far from overflow.
        if scale.abs() > MAX_EXPONENT {
            return Err(NumberError(format!("{s:?}: exponent out of range")));
        }
        let n = Number(Repr::Finite(BigDecimal::new(mantissa, scale)));
        Ok(n)
    }
}

impl fmt::Display for Number {
    /// Canonical decimal text: `10`, `1.5`, `-0.001`; scientific (`1e400`, `1.5e-300`) only when
    /// plain notation would need more than a few dozen padding zeros. Infinity prints as
    /// `Infinity`/`-Infinity`, which [`FromStr`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = match &self.0 {
            Repr::NegInf => return f.write_str("-Infinity"),
            Repr::PosInf => return f.write_str("Infinity"),
            Repr::Finite(d) => d,
        };
        let (m, scale) = d.as_bigint_and_scale();
        if m.sign() == Sign::Minus {
            f.write_str("-")?;
        }
        let digits = m.magnitude().to_str_radix(10);
        let n = digits.len() as i64;
        if scale <= 0 {
            if -scale <= PLAIN_ZERO_LIMIT {
                f.write_str(&digits)?;
                return write_zeros(f, -scale);
            }
        } else if scale < n {
            let (int, frac) = digits.split_at((n - scale) as usize);
            return write!(f, "{int}.{frac}");
        } else if scale - n <= PLAIN_ZERO_LIMIT {
            f.write_str("0.")?;
            write_zeros(f, scale - n)?;
            return f.write_str(&digits);
        }
        let (first, rest) = digits.split_at(1);
        f.write_str(first)?;
        if !rest.is_empty() {
            write!(f, ".{rest}")?;
        }
        write!(f, "e{}", n - 1 - scale)
    }
}

fn write_zeros(f: &mut fmt::Formatter<'_>, count: i64) -> fmt::Result {
    for _ in 0..count {
        f.write_str("0")?;
    }
    Ok(())
}

impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Number {}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.0, &other.0) {
            (Repr::Finite(a), Repr::Finite(b)) => cmp_decimals(a, b),
            (a, b) => rank(a).cmp(&rank(b)),
        }
    }
}

fn rank(r: &Repr) -> u8 {
    match r {
        Repr::NegInf => 0,
        Repr::Finite(_) => 1,
        Repr::PosInf => 2,
    }
}

/// Compares two normalized decimals without ever scaling by more than their digit counts.
fn cmp_decimals(a: &BigDecimal, b: &BigDecimal) -> Ordering {
    let sign_rank = |s: Sign| match s {
        Sign::Minus => 0,
        Sign::NoSign => 1,
        Sign::Plus => 2,
    };
    let (sa, sb) = (a.sign(), b.sign());
    if sa != sb || sa == Sign::NoSign {
        return sign_rank(sa).cmp(&sign_rank(sb));
    }
    let (ma, scale_a) = a.as_bigint_and_scale();
    let (mb, scale_b) = b.as_bigint_and_scale();
    // |x| lies in [10^(mag-1), 10^mag) with mag = digits - scale.
    let mag_a = a.digits() as i64 - scale_a;
    let mag_b = b.digits() as i64 - scale_b;
    let by_magnitude = if mag_a != mag_b {
        mag_a.cmp(&mag_b)
    } else {
        // Same magnitude, so the scales differ by exactly the digit-count difference.
        let ten = BigInt::from(10u8);
        let common = scale_a.max(scale_b);
        let xa = ma.magnitude() * ten.magnitude().pow((common - scale_a) as u32);
        let xb = mb.magnitude() * ten.magnitude().pow((common - scale_b) as u32);
        xa.cmp(&xb)
    };
    if sa == Sign::Minus {
        by_magnitude.reverse()
    } else {
        by_magnitude
    }
}

impl Hash for Number {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Normalization makes equal numbers structurally equal, so hashing the parts agrees
        // with `Eq`.
        rank(&self.0).hash(state);
        if let Repr::Finite(d) = &self.0 {
            let (m, scale) = d.as_bigint_and_scale();
            m.hash(state);
            scale.hash(state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn n(s: &str) -> Number {
        s.parse().unwrap()
    }

    fn hash_of(x: &Number) -> u64 {
        let mut h = DefaultHasher::new();
        x.hash(&mut h);
        h.finish()
    }

    #[test]
    fn display_is_canonical() {
        for (input, want) in [
            ("12", "12"),
            ("-3.5", "-3.5"),
            ("1.50", "1.5"),
            ("10", "10"),
            ("0010.0100", "10.01"),
            ("0.000", "0"),
            ("-0", "0"),
            (".5", "0.5"),
            ("5.", "5"),
            ("1e3", "1000"),
            ("1.5E-3", "0.0015"),
            ("+7", "7"),
            (
                "123456789012345678901234567890",
                "123456789012345678901234567890",
            ),
            ("1e400", "1e400"),
            ("-1.25e-300", "-1.25e-300"),
            ("inf", "Infinity"),
            ("-Infinity", "-Infinity"),
        ] {
            assert_eq!(n(input).to_string(), want, "{input}");
            // The canonical text parses back to the same number.
            assert_eq!(n(want), n(input), "{input}");
        }
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "-",
            ".",
            "e5",
            "1e",
            "1e+",
            "1.2.3",
            "0x10",
            "1_000",
            " 1",
            "NaN",
            "1e99999999999999999",
        ] {
            assert!(bad.parse::<Number>().is_err(), "{bad:?}");
        }
        // Leading zeros in the exponent are harmless.
        assert_eq!(n("1e0000000000000000000002"), Number::from(100));
    }

    #[test]
    fn equality_and_order_by_value() {
        assert_eq!(n("1"), n("1.0"));
        assert_eq!(hash_of(&n("1")), hash_of(&n("1.000")));
        assert_eq!(hash_of(&n("1e2")), hash_of(&Number::from(100)));
        assert!(n("2.5") > n("2.49999999999999999999999"));
        assert!(n("-2.5") < n("-2.4"));
        assert!(n("1e400") > n("9e399"));
        assert!(n("-1e400") < n("-9e399"));
        assert!(n("0.001") < n("0.01"));
        assert!(n("0") > n("-1e-400"));
        assert!(Number::infinity() > n("1e400"));
        assert!(Number::neg_infinity() < n("-1e400"));
        assert_eq!(Number::infinity(), n("+Inf"));
        // Wildly different exponents compare instantly instead of expanding digits.
        assert!(n("1e1000000000000") > n("1e-1000000000000"));
    }

    #[test]
    fn f64_conversion_is_exact() {
        let tenth = Number::from_f64(0.1).unwrap();
        assert_eq!(
            tenth.to_string(),
            "0.1000000000000000055511151231257827021181583404541015625"
        );
        assert_ne!(tenth, n("0.1"));
        assert_eq!(Number::try_from(2.5).unwrap(), n("2.5"));
        assert_eq!(Number::from_f64(-0.0).unwrap(), Number::zero());
        assert_eq!(Number::from_f64(1e300).unwrap().as_f64(), 1e300);
        assert_eq!(Number::from_f64(5e-324).unwrap().as_f64(), 5e-324);
        assert_eq!(Number::from_f64(f64::MAX).unwrap().as_f64(), f64::MAX);
        assert!(Number::from_f64(f64::NAN).is_err());
        assert_eq!(Number::from_f64(f64::INFINITY).unwrap(), Number::infinity());
        assert_eq!(n("0.1").as_f64(), 0.1);
        assert_eq!(n("1e400").as_f64(), f64::INFINITY);
        assert_eq!(n("-1e-400").as_f64(), 0.0);
        assert_eq!(n("0.1").to_f64_exact(), None);
        assert_eq!(n("2.5").to_f64_exact(), Some(2.5));
    }

    #[test]
    fn integer_accessors() {
        assert_eq!(n("42.0").as_i64(), Some(42));
        assert_eq!(n("42.5").as_i64(), None);
        assert_eq!(Number::from(i64::MIN).as_i64(), Some(i64::MIN));
        assert_eq!(Number::from(u64::MAX).as_i64(), None);
        assert_eq!(Number::from(u64::MAX).as_u64(), Some(u64::MAX));
        assert_eq!(n("-1").as_u64(), None);
        assert_eq!(n("1e19").as_u64(), Some(10_000_000_000_000_000_000));
        assert_eq!(n("1e20").as_u64(), None);
        assert_eq!(n("1e400").as_i64(), None);
        assert!(n("1e400").is_integer());
        assert!(!n("1.5").is_integer());
        assert!(!Number::infinity().is_integer());
        assert_eq!(Number::from(-7i32).as_i64(), Some(-7));
    }

    #[test]
    fn huge_inputs_stay_cheap() {
        // A long run of zeros and an absurd exponent must not expand into digits.
        let big = format!("1{}", "0".repeat(200_000));
        let x = n(&big);
        assert_eq!(x, n("1e200000"));
        assert_eq!(x.to_string(), "1e200000");
        assert!(x > n("9.99e199999"));
        assert!(n("1e1000000000000").is_integer());
        assert_eq!(n("1e1000000000000").as_i64(), None);
        assert_eq!(n("1e-1000000000000").as_f64(), 0.0);
        assert_eq!(n("-1e1000000000000").as_f64(), f64::NEG_INFINITY);
    }

    use proptest::prelude::*;

    fn arb_decimal() -> impl Strategy<Value = Number> {
        (any::<i128>(), -60i64..60).prop_map(|(m, e)| n(&format!("{m}e{e}")))
    }

    proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: 2000,
            failure_persistence: None,
            ..Default::default()
        })]

        #[test]
        fn fuzz_display_parses_back(x in arb_decimal()) {
            prop_assert_eq!(n(&x.to_string()), x);
        }

        #[test]
        fn fuzz_f64_exact_and_ordered(a in any::<f64>(), b in any::<f64>()) {
            prop_assume!(!a.is_nan() && !b.is_nan());
            let (x, y) = (Number::from_f64(a).unwrap(), Number::from_f64(b).unwrap());
            prop_assert_eq!(x.as_f64(), a);
            prop_assert_eq!(x.to_f64_exact(), Some(a));
            prop_assert_eq!(x.partial_cmp(&y), a.partial_cmp(&b));
        }

        #[test]
        fn fuzz_eq_hash_and_order_agree(x in arb_decimal(), y in arb_decimal()) {
            prop_assert_eq!(x == y, x.cmp(&y) == Ordering::Equal);
            if x == y {
                prop_assert_eq!(hash_of(&x), hash_of(&y));
            }
            // Antisymmetry.
            prop_assert_eq!(x.cmp(&y), y.cmp(&x).reverse());
        }

        #[test]
        fn fuzz_integers_exact(i in any::<i64>(), u in any::<u64>()) {
            prop_assert_eq!(Number::from(i).as_i64(), Some(i));
            prop_assert_eq!(Number::from(u).as_u64(), Some(u));
            prop_assert_eq!(n(&i.to_string()), Number::from(i));
            prop_assert_eq!(Number::from(u).to_string(), u.to_string());
        }
    }
}
