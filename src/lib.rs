//! ureq-futures: requests-futures for sync Rust.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod llm;
mod pending;
mod request;
mod response;
mod retry;
mod session;
mod source;
pub mod sse;

pub use error::{Error, StatusError, Timeout};
pub use pending::{as_completed, wait_all, wait_any, AsCompleted, Pending};
pub use request::RequestBuilder;
pub use response::Response;
pub use retry::RetryPolicy;
pub use session::{
    FuturesSession, SessionBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_WORKERS,
};
pub use source::{EventSource, DEFAULT_INITIAL_RETRY, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_RETRY};
