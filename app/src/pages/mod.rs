//! One module per dashboard page.

pub mod not_built;
pub mod not_found;
pub mod status;
