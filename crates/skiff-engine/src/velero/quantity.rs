//! Kubernetes resource quantities (`500m`, `128Mi`, `1e3`), parsed and printed in the canonical
//! form the API server stores (`1000m` → `1`, `1024Mi` → `1Gi`), so an install's objects equal
//! what the server hands back.

use std::cmp::Ordering;
use std::fmt;

/// A non-negative quantity, held exactly in nano-units, with the notation it was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    nanos: i128,
    format: QuantityFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuantityFormat {
    DecimalSi,
    BinarySi,
    DecimalExponent,
}

const NANO: i128 = 1_000_000_000;

impl Quantity {
    /// Parse `<number><suffix>`: decimal suffixes `n u m k M G T P E`, binary `Ki Mi Gi Ti Pi Ei`,
    /// or an exponent `e<N>` / `E<N>`. Fractions below a nano-unit round up (as Kubernetes does).
    pub fn parse(s: &str) -> Result<Quantity, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("empty quantity".into());
        }
        let num_end = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+'))
            .unwrap_or(t.len());
        let (num, suffix) = t.split_at(num_end);
        let num = num.strip_prefix('+').unwrap_or(num);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(format!("{s:?} is not a quantity"));
        }
        let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
        let digits = format!("{int_part}{frac_part}");
        if digits.len() > 30 {
            return Err(format!("{s:?} is too large"));
        }
        let mantissa: i128 = digits.parse().map_err(|_| format!("{s:?} is not a quantity"))?;
        let frac = u32::try_from(frac_part.len()).unwrap_or(u32::MAX);
        // value = mantissa * 10^-frac * multiplier; in nanos: mantissa * multiplier * 10^(9-frac).
        let (format, num_mul, den_mul): (QuantityFormat, i128, i128) = match suffix {
            "" => (QuantityFormat::DecimalSi, 1, 1),
            "n" => (QuantityFormat::DecimalSi, 1, NANO),
            "u" => (QuantityFormat::DecimalSi, 1, 1_000_000),
            "m" => (QuantityFormat::DecimalSi, 1, 1_000),
            "k" => (QuantityFormat::DecimalSi, 1_000, 1),
            "M" => (QuantityFormat::DecimalSi, 1_000_000, 1),
            "G" => (QuantityFormat::DecimalSi, NANO, 1),
            "T" => (QuantityFormat::DecimalSi, 1_000_000_000_000, 1),
            "P" => (QuantityFormat::DecimalSi, 1_000_000_000_000_000, 1),
            "E" => (QuantityFormat::DecimalSi, 1_000_000_000_000_000_000, 1),
            "Ki" => (QuantityFormat::BinarySi, 1 << 10, 1),
            "Mi" => (QuantityFormat::BinarySi, 1 << 20, 1),
            "Gi" => (QuantityFormat::BinarySi, 1 << 30, 1),
            "Ti" => (QuantityFormat::BinarySi, 1 << 40, 1),
            "Pi" => (QuantityFormat::BinarySi, 1 << 50, 1),
            "Ei" => (QuantityFormat::BinarySi, 1 << 60, 1),
            e if e.starts_with(['e', 'E']) => {
                let exp: i32 = e[1..]
                    .parse()
                    .map_err(|_| format!("{s:?} has an invalid exponent"))?;
                if !(-9..=18).contains(&exp) {
                    return Err(format!("{s:?} has an exponent out of range"));
                }
                if exp >= 0 {
                    (QuantityFormat::DecimalExponent, 10i128.pow(exp.unsigned_abs()), 1)
                } else {
                    (QuantityFormat::DecimalExponent, 1, 10i128.pow(exp.unsigned_abs()))
                }
            }
            other => return Err(format!("{s:?} has an unknown suffix {other:?}")),
        };
        let num_total = mantissa
            .checked_mul(num_mul)
            .and_then(|v| v.checked_mul(NANO))
            .ok_or_else(|| format!("{s:?} is too large"))?;
        let den_total = den_mul
            .checked_mul(10i128.pow(frac))
            .ok_or_else(|| format!("{s:?} has too many digits"))?;
        // Round up to whole nanos.
        let nanos = (num_total + den_total - 1) / den_total;
        Ok(Quantity { nanos, format })
    }

    /// Whether the quantity is zero (Velero's "unbounded": the request or limit is left unset).
    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.nanos.cmp(&other.nanos))
    }
}

impl fmt::Display for Quantity {
    /// The canonical form Kubernetes prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.nanos;
        let whole = n % NANO == 0;
        if self.format == QuantityFormat::BinarySi && whole && n / NANO >= 1024 {
            let mut v = n / NANO;
            let mut i = 0;
            while i < 6 && v % 1024 == 0 {
                v /= 1024;
                i += 1;
            }
            return write!(f, "{v}{}", ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][i]);
        }
        // Decimal: the largest exponent (a multiple of 3, from -9) with an integral mantissa.
        if n == 0 {
            return f.write_str("0");
        }
        let mut v = n;
        let mut exp = -9;
        while exp < 18 && v % 1000 == 0 {
            v /= 1000;
            exp += 3;
        }
        if self.format == QuantityFormat::DecimalExponent {
            return if exp == 0 {
                write!(f, "{v}")
            } else {
                write!(f, "{v}e{exp}")
            };
        }
        let suffix = match exp {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            0 => "",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            _ => "E",
        };
        write!(f, "{v}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        Quantity::parse(s).unwrap().to_string()
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canon("500m"), "500m");
        assert_eq!(canon("1000m"), "1");
        assert_eq!(canon("1"), "1");
        assert_eq!(canon("0.5"), "500m");
        assert_eq!(canon("2000"), "2k");
        assert_eq!(canon("1500"), "1500");
        assert_eq!(canon("128Mi"), "128Mi");
        assert_eq!(canon("1024Mi"), "1Gi");
        assert_eq!(canon("1.5Gi"), "1536Mi");
        assert_eq!(canon("0.5Ki"), "512");
        assert_eq!(canon("1e3"), "1e3");
        assert_eq!(canon("0"), "0");
        assert_eq!(canon("0.1m"), "100u");
    }

    #[test]
    fn order_and_errors() {
        let q = |s| Quantity::parse(s).unwrap();
        assert!(q("500m") < q("1"));
        assert!(q("512Mi") > q("128Mi"));
        assert!(q("1Gi") > q("1G"));
        assert!(q("0").is_zero());
        for bad in ["", "abc", "1.2.3", "1Xi", "-1", "1e99", "m"] {
            assert!(Quantity::parse(bad).is_err(), "{bad}");
        }
    }
}
