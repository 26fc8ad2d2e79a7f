//! The DynamoDB side: the port the controllers call, its AWS SDK adapter (clients per region
//! from the default credential chain), client-side pacing of the account's request limits, and
//! error classification.

mod aws;
mod clients;
pub mod discovery;
mod errors;
#[cfg(test)]
pub mod fake;
pub mod inventory;
mod pacing;
pub mod pitr;
mod port;

pub use aws::AwsDynamo;
pub(crate) use aws::to_error;
pub use clients::{RegionalClient, RegionalClients};
pub use discovery::{Listing, TableDiscovery};
pub use errors::{DynamoError, ErrorClass, classify};
pub use inventory::{Inventory, Seen};
pub use pacing::{AWS_BACKUP_LIMITS, DOCUMENTED_LIMITS, Lane, Pacer, parse_rate_limit};
pub use pitr::{PitrCache, TableFacts};
pub use port::{DynamoPort, DynamoResult};
