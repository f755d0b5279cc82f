//! stagecraft: a Terraform/OpenTofu provider for declarative staging environments on AWS.
//!
//! Layers, bottom up: [`tfplugin`] (the plugin protocol, no AWS), [`aws`] (SDK clients),
//! [`resources`] (schemas and lifecycles), [`provider`] (ties them together).
pub mod aws;
pub mod config;
pub mod docs;
pub mod provider;
pub mod reaper;
pub mod resources;
pub mod sync;
pub mod tfplugin;
