//! Shared by the integration tests (the benchmark takes `browser` alone).
pub mod browser;
pub mod sipp;
pub mod world;
