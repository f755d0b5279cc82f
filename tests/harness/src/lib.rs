//! harness: shared helpers for stagecraft's end-to-end tests.
//!
//! - [`localaws`]: a fresh local AWS (moto + the App Runner / ECS Express emulator) per test.
//! - [`databases`]: throwaway PostgreSQL 15 and MariaDB 10.11 servers on loopback.

pub mod databases;
pub mod localaws;
pub mod terraform;
