//! Integration tests: the real app on random ports, against a fresh PostgreSQL database per test.

mod auth;
mod bad_input;
mod campaigns;
mod customers;
mod grpc;
mod records;
mod templates;
mod trigger;
