//! Shared by the integration tests (the benchmark takes `browser` alone).
pub mod browser;
pub mod memory;
pub mod sipp;
pub mod world;
