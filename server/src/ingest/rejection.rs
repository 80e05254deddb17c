//! Why an event was refused: a stable reason for counters and dead letters,
//! plus a human-readable detail for the client.

use std::fmt;

/// Stable, machine-readable reasons. Each is a label on the
/// `storepulse_events_rejected_total` counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    Malformed,
    InvalidId,
    InvalidType,
    MissingField,
    TooLong,
    NulByte,
    InvalidUrl,
    InvalidSource,
    InvalidCurrency,
    InvalidValue,
    InvalidItem,
    TooManyItems,
    InvalidProps,
    TimeInFuture,
    TimeTooOld,
    DomainNotAllowed,
    /// Storing the event would overflow a report's sum (found by the flush).
    SumOverflow,
    /// The database refused the event for what it holds (found by the flush).
    Unstorable,
}

impl Reason {
    pub const ALL: [Reason; 18] = [
        Self::Malformed,
        Self::InvalidId,
        Self::InvalidType,
        Self::MissingField,
        Self::TooLong,
        Self::NulByte,
        Self::InvalidUrl,
        Self::InvalidSource,
        Self::InvalidCurrency,
        Self::InvalidValue,
        Self::InvalidItem,
        Self::TooManyItems,
        Self::InvalidProps,
        Self::TimeInFuture,
        Self::TimeTooOld,
        Self::DomainNotAllowed,
        Self::SumOverflow,
        Self::Unstorable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::InvalidId => "invalid_id",
            Self::InvalidType => "invalid_type",
            Self::MissingField => "missing_field",
            Self::TooLong => "too_long",
            Self::NulByte => "nul_byte",
            Self::InvalidUrl => "invalid_url",
            Self::InvalidSource => "invalid_source",
            Self::InvalidCurrency => "invalid_currency",
            Self::InvalidValue => "invalid_value",
            Self::InvalidItem => "invalid_item",
            Self::TooManyItems => "too_many_items",
            Self::InvalidProps => "invalid_props",
            Self::TimeInFuture => "time_in_future",
            Self::TimeTooOld => "time_too_old",
            Self::DomainNotAllowed => "domain_not_allowed",
            Self::SumOverflow => "sum_overflow",
            Self::Unstorable => "unstorable",
        }
    }
}

/// A refused event: the reason and what exactly was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    pub detail: String,
}

impl Rejection {
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason.as_str(), self.detail)
    }
}
