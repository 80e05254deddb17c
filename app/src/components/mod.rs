//! Building blocks shared by several pages.

pub mod figures;
pub mod header;
pub mod range;
