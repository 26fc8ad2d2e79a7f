//! The DynamoDB side: the port the controllers call, its AWS SDK adapter (clients per region
//! from the default credential chain), client-side pacing of the account's request limits, and
//! error classification.

mod aws;
mod clients;
mod errors;
pub mod model;
mod pacing;
mod port;

pub use aws::AwsDynamo;
pub use clients::RegionalClients;
pub use errors::{DynamoError, ErrorClass, classify};
pub use pacing::{OperationClass, Pacer};
pub use port::{DynamoPort, DynamoResult};
