//! campaign-svc: the marketing module's API. One service layer ([`service`]) over PostgreSQL,
//! exposed through two thin transports, gRPC ([`grpc`]) and REST ([`rest`]).

pub mod auth;
pub mod callbacks;
pub mod config;
pub mod console;
pub mod domain;
pub mod error;
pub mod fanout;
pub mod grpc;
pub mod metrics;
pub mod rest;
pub mod serve;
pub mod service;
pub mod startup;
pub mod supervise;
