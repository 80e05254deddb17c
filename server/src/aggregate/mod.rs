//! Aggregation: batches of stored events become rollup deltas.
//!
//! `queue` is the bounded hand-off from the request handlers to the single
//! flusher task; `fold` is the pure arithmetic the flush applies.

pub mod fold;
pub mod queue;
