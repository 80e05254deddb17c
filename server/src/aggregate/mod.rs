//! Aggregation: batches of stored events become rollup deltas.
//!
//! `queue` is the bounded hand-off from the request handlers to the single
//! flusher task; `settle` gets each batch stored (bisecting out poison
//! events, retrying a failing database a bounded number of times); `fold`
//! is the pure arithmetic the flush applies.

pub mod fold;
pub mod queue;
pub mod settle;
