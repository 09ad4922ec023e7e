//! What the plain benches share: their command-line handling ([`args`]) and the generated SSE
//! corpora of the parse benchmarks ([`corpus`]).

pub mod args;
pub mod corpus;
