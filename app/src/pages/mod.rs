//! One module per dashboard page.

pub mod hourly;
pub mod not_found;
pub mod overview;
pub mod products;
pub mod realtime;
pub mod status;
pub mod users;
