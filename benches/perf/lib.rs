//! What the plain benches share: their command-line handling ([`args`]), the generated SSE
//! corpora of the parse benchmarks ([`corpus`]) and the server child process ([`server`]).

pub mod args;
pub mod corpus;
pub mod server;
