//! Eddy: the Azure Stream Analytics query language, run continuously over
//! files and Kafka topics on timely/differential dataflow.
//!
//! Follow one query through the stages:
//!
//! 1. [`syntax`]: query text to an [`syntax::ast::Script`] with source spans.
//! 2. [`bind`]: names and types resolved against the job's inputs and
//!    outputs, giving a [`plan::Plan`].
//! 3. [`render`]: the plan as a timely/differential dataflow.
//! 4. [`connectors`]: events decoded from files and streams, results encoded.
//! 5. [`runtime`]: workers, sources and sinks wired together for one job,
//!    in one process or across a [`cluster`] of processes.
//!
//! [`types`] (values), [`expr`] (scalar evaluation) and [`diag`]
//! (diagnostics) are leaves used by every stage.
#![warn(missing_docs)]

pub mod bench;
pub mod bind;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod conformance;
pub mod connectors;
pub mod diag;
pub mod expr;
pub mod plan;
pub mod render;
pub mod runtime;
pub mod syntax;
pub mod time;
pub mod types;
