//! Filters marketers expect beyond Liquid's standard library:
//!
//! - `date: FORMAT, TIME_ZONE`: strftime formatting in an IANA time zone
//!   (UTC when none is given). The input is an RFC 3339 time, Unix seconds,
//!   or `"now"`/`"today"`, which mean the render's time, never the wall
//!   clock. `{{ event.timestamp | date: "%A %H:%M", "Europe/Paris" }}`.
//! - `money: CURRENCY`: an amount with the currency's symbol, thousands
//!   separators and minor units. `{{ 12.5 | money: "EUR" }}` is `€12.50`,
//!   `{{ 1500 | money: "JPY" }}` is `¥1,500`; unknown ISO codes are written
//!   after the amount (`12.50 XTS`). Without an argument the currency is USD.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use liquid_core::model::{Value, ValueView};
use liquid_core::parser::{FilterArguments, FilterReflection, ParameterReflection};
use liquid_core::{Error, Expression, Filter, ParseFilter, Result, Runtime};
use tidings_model::Micros;

use crate::sandbox::{Reflect, positional, state};

#[derive(Clone)]
pub(crate) struct DateFilter;

const DATE_REFLECT: Reflect = Reflect {
    name: "date",
    description: "Formats a time with strftime in a time zone.",
    positional: &[
        ParameterReflection { name: "format", description: "strftime format", is_optional: false },
        ParameterReflection { name: "time_zone", description: "IANA time zone, UTC by default", is_optional: true },
    ],
};

impl ParseFilter for DateFilter {
    fn parse(&self, arguments: FilterArguments<'_>) -> Result<Box<dyn Filter>> {
        let mut args = positional(arguments, "date", 2)?.into_iter();
        let format = args.next().ok_or_else(|| Error::with_msg("`date` needs a format, like date: \"%b %d, %Y\""))?;
        Ok(Box::new(Date { format, zone: args.next() }))
    }
    fn reflection(&self) -> &dyn FilterReflection {
        &DATE_REFLECT
    }
}

#[derive(Debug)]
struct Date {
    format: Expression,
    zone: Option<Expression>,
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "date: {}", self.format)?;
        if let Some(z) = &self.zone {
            write!(f, ", {z}")?;
        }
        Ok(())
    }
}

impl Filter for Date {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        if input.is_nil() {
            return Ok(Value::Nil);
        }
        let now = state(runtime).now;
        let micros = to_micros(input, now)
            .ok_or_else(|| Error::with_msg(format!("date: cannot read `{}` as a time", input.source())))?;
        let format = self.format.evaluate(runtime)?.to_kstr().into_owned();
        let zone = match &self.zone {
            None => TimeZone::UTC,
            Some(z) => {
                let v = z.evaluate(runtime)?;
                if v.is_nil() {
                    TimeZone::UTC
                } else {
                    let name = v.to_kstr();
                    TimeZone::get(name.as_str())
                        .map_err(|_| Error::with_msg(format!("date: unknown time zone `{}`", name.as_str())))?
                }
            }
        };
        let ts = Timestamp::from_microsecond(micros).map_err(|_| Error::with_msg("date: time out of range"))?;
        let text = jiff::fmt::strtime::format(format.as_str(), &ts.to_zoned_datetime(zone))
            .map_err(|e| Error::with_msg(format!("date: bad format `{}`: {e}", format.as_str())))?;
        Ok(Value::scalar(text))
    }
}

fn to_micros(input: &dyn ValueView, now: Micros) -> Option<Micros> {
    let scalar = input.as_scalar()?;
    if input.type_name() == "whole number" || input.type_name() == "fractional number" {
        let seconds = scalar.to_float()?;
        return (seconds.is_finite() && seconds.abs() < 1e12).then(|| (seconds * 1e6).round() as Micros);
    }
    let text = scalar.to_kstr();
    let text = text.as_str().trim();
    match text {
        "now" | "today" => Some(now),
        _ if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
            text.parse::<i64>().ok()?.checked_mul(1_000_000)
        }
        _ => tidings_model::time::parse_time(text),
    }
}

#[derive(Clone)]
pub(crate) struct MoneyFilter;

const MONEY_REFLECT: Reflect = Reflect {
    name: "money",
    description: "Formats an amount in a currency: 12.5 | money: \"EUR\" is €12.50.",
    positional: &[ParameterReflection { name: "currency", description: "ISO 4217 code", is_optional: true }],
};

impl ParseFilter for MoneyFilter {
    fn parse(&self, arguments: FilterArguments<'_>) -> Result<Box<dyn Filter>> {
        let currency = positional(arguments, "money", 1)?.pop();
        Ok(Box::new(Money { currency }))
    }
    fn reflection(&self) -> &dyn FilterReflection {
        &MONEY_REFLECT
    }
}

#[derive(Debug)]
struct Money {
    currency: Option<Expression>,
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.currency {
            Some(c) => write!(f, "money: {c}"),
            None => write!(f, "money"),
        }
    }
}

impl Filter for Money {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        let amount = input
            .as_scalar()
            .and_then(|s| s.to_float())
            .filter(|a| a.is_finite())
            .ok_or_else(|| Error::with_msg(format!("money: `{}` is not an amount", input.source())))?;
        let code = match &self.currency {
            Some(c) => c.evaluate(runtime)?.to_kstr().as_str().trim().to_ascii_uppercase(),
            None => "USD".to_string(),
        };
        format_money(amount, &code)
            .map(Value::scalar)
            .ok_or_else(|| Error::with_msg(format!("money: `{code}` is not a currency code (three letters, like EUR)")))
    }
}

/// `(symbol, symbol goes before the amount, minor-unit digits)`.
fn currency(code: &str) -> Option<(&'static str, bool, u32)> {
    Some(match code {
        "USD" => ("$", true, 2),
        "EUR" => ("€", true, 2),
        "GBP" => ("£", true, 2),
        "JPY" => ("¥", true, 0),
        "CNY" => ("CN¥", true, 2),
        "KRW" => ("₩", true, 0),
        "INR" => ("₹", true, 2),
        "CAD" => ("CA$", true, 2),
        "AUD" => ("A$", true, 2),
        "NZD" => ("NZ$", true, 2),
        "MXN" => ("MX$", true, 2),
        "BRL" => ("R$", true, 2),
        "CHF" => ("CHF ", true, 2),
        "SEK" => (" kr", false, 2),
        "NOK" => (" kr", false, 2),
        "DKK" => (" kr", false, 2),
        "PLN" => (" zł", false, 2),
        "CZK" => (" Kč", false, 2),
        _ => return None,
    })
}

/// Formats `amount` in `code`; `None` when `code` is not three letters.
pub(crate) fn format_money(amount: f64, code: &str) -> Option<String> {
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let (symbol, before, digits) = currency(code).unwrap_or(("", false, 2));
    let scale = 10f64.powi(digits as i32);
    // Round to 6 decimals first so binary noise (12.345 is 12.34499...)
    // does not decide the half-cent.
    let minor = ((amount.abs() * scale * 1e6).round() / 1e6).round();
    if minor > 9e15 {
        return None;
    }
    let minor = minor as u64;
    let whole = minor / scale as u64;
    let frac = minor % scale as u64;
    let mut grouped = String::new();
    let w = whole.to_string();
    for (i, c) in w.chars().enumerate() {
        if i > 0 && (w.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let number = if digits > 0 { format!("{grouped}.{frac:0width$}", width = digits as usize) } else { grouped };
    let sign = if amount < 0.0 && minor > 0 { "-" } else { "" };
    Some(match (symbol, before) {
        ("", _) => format!("{sign}{number} {code}"),
        (s, true) => format!("{sign}{s}{number}"),
        (s, false) => format!("{sign}{number}{s}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_formats() {
        assert_eq!(format_money(12.5, "EUR").unwrap(), "€12.50");
        assert_eq!(format_money(12.345, "USD").unwrap(), "$12.35");
        assert_eq!(format_money(1234567.891, "GBP").unwrap(), "£1,234,567.89");
        assert_eq!(format_money(1500.0, "JPY").unwrap(), "¥1,500");
        assert_eq!(format_money(-3.0, "SEK").unwrap(), "-3.00 kr");
        assert_eq!(format_money(-0.001, "USD").unwrap(), "$0.00");
        assert_eq!(format_money(9.99, "XTS").unwrap(), "9.99 XTS");
        assert_eq!(format_money(1.0, "euro"), None);
        assert_eq!(format_money(1e300, "USD"), None);
    }

    #[test]
    fn reads_times() {
        let v = Value::scalar("2026-01-01T10:00:00Z");
        assert_eq!(to_micros(&v, 0), Some(1_767_261_600_000_000));
        assert_eq!(to_micros(&Value::scalar(1_767_261_600i64), 0), Some(1_767_261_600_000_000));
        assert_eq!(to_micros(&Value::scalar("1767261600"), 0), Some(1_767_261_600_000_000));
        assert_eq!(to_micros(&Value::scalar("now"), 42), Some(42));
        assert_eq!(to_micros(&Value::scalar("soon"), 42), None);
    }
}
