//! The Application Auto Scaling side: the port the controllers call to carry a table's scalable
//! targets and target-tracking policies over to a restored table, and its AWS SDK adapter.
//! Clients, pacing, the counted call and error classes are the AWS seam's (`crate::aws`).

mod aws;
#[cfg(test)]
pub mod memory;
mod port;

pub use aws::AwsAutoScaling;
pub use port::AutoScalingPort;
