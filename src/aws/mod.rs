//! The AWS seam every service adapter shares: SDK clients per region and role, client-side
//! pacing of each operation's documented limit, one paced-and-counted call, and errors that name
//! their service and class. The adapters (`crate::dynamo`, `crate::awsbackup`, `crate::autoscaling`) build on it; it
//! knows neither the decisions in `plan` nor the metrics (an observer is wired in).

mod accounts;
mod call;
mod clients;
mod errors;
pub mod held;
mod pacing;
mod turns;

pub use accounts::{Accounts, account_in_arn};
pub use call::{CallObserver, Caller, to_error};
pub use clients::{RegionalClient, RegionalClients};
pub use errors::{AwsError, AwsResult, ErrorClass, Service, classify};
pub use pacing::{AUTO_SCALING_LIMITS, AWS_BACKUP_LIMITS, DOCUMENTED_LIMITS, Lane, Pacer, parse_rate_limit};
