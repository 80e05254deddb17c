//! One module per dashboard page.

pub mod hourly;
pub mod not_built;
pub mod not_found;
pub mod overview;
pub mod products;
pub mod status;
