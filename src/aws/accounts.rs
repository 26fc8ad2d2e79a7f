//! Which AWS account a call, a table or a listing belongs to: a tenant role's account (its ARN
//! names it), else the account of the operator's own credentials, which STS names once at start.
//! Shared by the pacer (its buckets are per account) and the metrics and status (their labels).

use std::sync::{Arc, OnceLock};

#[derive(Clone, Debug, Default)]
pub struct Accounts {
    own: Arc<OnceLock<String>>,
}

impl Accounts {
    /// Accounts whose own one is known from the start (tests, and the in-memory ports).
    pub fn with_own(account: &str) -> Self {
        let accounts = Self::default();
        accounts.set_own(account);
        accounts
    }

    /// The operator's own account, once STS has said it; later calls change nothing.
    pub fn set_own(&self, account: &str) {
        let _ = self.own.set(account.to_owned());
    }

    /// The account of a call made under `role_arn` (None: the operator's own credentials); None
    /// while the own account is not known yet.
    pub fn of(&self, role_arn: Option<&str>) -> Option<String> {
        match role_arn {
            Some(arn) => account_in_arn(arn).map(str::to_owned),
            None => self.own.get().cloned(),
        }
    }

    /// The same, as a label: "" while unknown.
    pub fn label(&self, role_arn: Option<&str>) -> String {
        self.of(role_arn).unwrap_or_default()
    }
}

/// The account field of an ARN (`arn:partition:service:region:ACCOUNT:resource`).
pub fn account_in_arn(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_names_its_account_and_the_own_one_comes_from_sts() {
        let accounts = Accounts::default();
        assert_eq!(accounts.of(None), None);
        assert_eq!(accounts.label(None), "");
        accounts.set_own("123456789012");
        accounts.set_own("999999999999");
        assert_eq!(accounts.of(None).as_deref(), Some("123456789012"), "set once");
        assert_eq!(accounts.of(Some("arn:aws:iam::222222222222:role/dr")).as_deref(), Some("222222222222"));
        assert_eq!(account_in_arn("arn:aws:dynamodb:eu-west-1:333333333333:table/Orders"), Some("333333333333"));
        assert_eq!(account_in_arn("not an arn"), None);
    }
}
