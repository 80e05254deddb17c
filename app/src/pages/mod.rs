//! One module per dashboard page.

pub mod account;
pub mod hourly;
pub mod landing;
pub mod login;
pub mod not_found;
pub mod overview;
pub mod products;
pub mod realtime;
pub mod sites;
pub mod status;
pub mod users;
