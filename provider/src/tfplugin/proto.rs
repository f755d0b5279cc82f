//! Generated protocol bindings (see `build.rs`).
#![allow(clippy::all, missing_docs)]

pub mod tfplugin5 {
    tonic::include_proto!("tfplugin5");
}
pub mod plugin {
    tonic::include_proto!("plugin");
}
