//! Integration tests: the real app on random ports, against a fresh PostgreSQL database per test.

mod ab_test;
mod auth;
mod bad_input;
mod birthday;
mod campaigns;
mod content;
mod conventions;
mod conversions;
mod customers;
mod event_campaigns;
mod events;
mod freeze;
mod frequency_cap;
mod grpc;
mod limits;
mod local_time;
mod logs;
mod nul;
mod previews;
mod reached;
mod records;
mod recurring;
mod segments;
mod templates;
mod trigger;
mod webhooks;
