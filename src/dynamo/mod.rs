//! The DynamoDB side: the port the controllers call, its AWS SDK adapter, and the shared caches
//! over it (the backups being created, each table's PITR, the tables of each region). Clients,
//! pacing, the counted call and error classes are the AWS seam's (`crate::aws`).

mod aws;
pub mod discovery;
pub mod inventory;
#[cfg(test)]
pub mod memory;
pub mod pitr;
mod port;

pub use aws::AwsDynamo;
pub use discovery::{Listing, TableDiscovery};
pub use inventory::Inventory;
pub use pitr::{PitrCache, TableFacts};
pub use port::DynamoPort;
