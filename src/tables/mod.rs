//! Layer 2: the tables of handles, builders and trackers.
pub mod builders;
pub mod fields;
pub mod handles;
pub mod init_sites;
pub mod shapes;
pub mod sites;
