//! The DynamoDB side: SDK clients built from the default credential chain, client-side pacing
//! of the account's request limits, and error classification.

mod clients;
mod errors;
mod pacing;

pub use clients::RegionalClients;
pub use errors::{DynamoError, ErrorClass, classify};
pub use pacing::{OperationClass, Pacer};
