//! Generated types and service stubs for the `crm.marketing.v1` gRPC API.

#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("crm.marketing.v1");

    /// Encoded file descriptor set, served by gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("descriptor");
}
