//! Generated gRPC types, servers and clients for the Tollgate services (`proto/`).
//!
//! No logic lives here: services depend on each other only through these contracts.
#![allow(clippy::all, missing_docs)]

pub mod routing {
    pub mod v1 {
        tonic::include_proto!("tollgate.routing.v1");
    }
}

pub mod billing {
    pub mod v1 {
        tonic::include_proto!("tollgate.billing.v1");
    }
}

pub mod logging {
    pub mod v1 {
        tonic::include_proto!("tollgate.logging.v1");
    }
}

pub use prost_types::Timestamp;
