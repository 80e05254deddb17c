//! Aggregation: batches of stored events become rollup deltas.
//!
//! `queue` is the bounded hand-off from the request handlers to the single
//! flusher task; `settle` gets each batch stored (bisecting out poison
//! events, retrying a failing database a bounded number of times) and its
//! counted events appended to the fold `log`; `stage` folds the log into
//! the rollups, exactly once, off the acknowledgement's path; `fold` is the
//! pure arithmetic both the stage and `rollups rebuild` apply.

pub mod fold;
pub mod log;
pub mod queue;
pub mod settle;
pub mod stage;
