//! The tenancy file: which namespace may protect which tables, in which regions, under which
//! IAM role. Without a file the operator is single-tenant and every namespace may name any table.
//!
//! ```yaml
//! tenants:
//!   - namespace: shop
//!     tables: ["Orders", "Order*"]      # globs over the exact, case-sensitive table name
//!     regions: ["eu-west-1"]            # omitted: the operator's default region only
//!     roleArn: arn:aws:iam::123456789012:role/shop-backups   # optional
//! ```

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TenancyFile {
    tenants: Vec<TenantEntry>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TenantEntry {
    namespace: String,
    tables: Vec<String>,
    #[serde(default)]
    regions: Vec<String>,
    #[serde(default)]
    role_arn: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Tenant {
    pub namespace: String,
    tables: GlobSet,
    regions: Vec<String>,
    pub role_arn: Option<String>,
}

/// Who may do what; `SingleTenant` allows everything.
#[derive(Debug, Clone)]
pub enum Tenancy {
    SingleTenant,
    Tenants(Vec<Tenant>),
}

#[derive(Debug, thiserror::Error)]
pub enum TenancyError {
    #[error("the tenancy file is not valid YAML of the expected shape: {0}")]
    Parse(#[from] serde_yaml_ng::Error),
    #[error("tenant {namespace:?}: table glob {glob:?} is not a valid glob: {source}")]
    Glob { namespace: String, glob: String, source: globset::Error },
    #[error("namespace {0:?} appears twice in the tenancy file")]
    Duplicate(String),
}

/// Why a request falls outside the tenancy file; the message tells a person what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AccessDenied(pub String);

impl Tenancy {
    pub fn parse(yaml: &str) -> Result<Self, TenancyError> {
        let file: TenancyFile = serde_yaml_ng::from_str(yaml)?;
        let mut tenants: Vec<Tenant> = Vec::with_capacity(file.tenants.len());
        for entry in file.tenants {
            if tenants.iter().any(|t| t.namespace == entry.namespace) {
                return Err(TenancyError::Duplicate(entry.namespace));
            }
            let mut builder = GlobSetBuilder::new();
            for glob in &entry.tables {
                let compiled = Glob::new(glob).map_err(|source| TenancyError::Glob {
                    namespace: entry.namespace.clone(),
                    glob: glob.clone(),
                    source,
                })?;
                builder.add(compiled);
            }
            let tables = builder.build().map_err(|source| TenancyError::Glob {
                namespace: entry.namespace.clone(),
                glob: entry.tables.join(","),
                source,
            })?;
            tenants.push(Tenant { namespace: entry.namespace, tables, regions: entry.regions, role_arn: entry.role_arn });
        }
        Ok(Tenancy::Tenants(tenants))
    }

    /// The role `namespace`'s DynamoDB calls assume, if its tenant names one.
    pub fn role_for(&self, namespace: &str) -> Option<&str> {
        match self {
            Tenancy::SingleTenant => None,
            Tenancy::Tenants(tenants) => tenants.iter().find(|t| t.namespace == namespace).and_then(|t| t.role_arn.as_deref()),
        }
    }

    /// Is `table` in `region` within what any tenant may protect (single tenant: every table)?
    /// The tables the unprotected-tables metric counts.
    pub fn anyone_may(&self, table: &str, region: Option<&str>) -> bool {
        match self {
            Tenancy::SingleTenant => true,
            Tenancy::Tenants(tenants) => tenants.iter().any(|t| self.check(&t.namespace, table, region).is_ok()),
        }
    }

    /// May `namespace` act on `table` in `region` (None: the operator's default region)?
    /// Ok carries the tenant's role to assume, if it has one.
    pub fn check(&self, namespace: &str, table: &str, region: Option<&str>) -> Result<Option<&str>, AccessDenied> {
        let Tenancy::Tenants(tenants) = self else { return Ok(None) };
        let Some(tenant) = tenants.iter().find(|t| t.namespace == namespace) else {
            return Err(AccessDenied(format!(
                "namespace {namespace:?} is not in the operator's tenancy file; ask the operator's administrators to add it"
            )));
        };
        if !tenant.tables.is_match(table) {
            return Err(AccessDenied(format!("table {table:?} is not among the tables the tenancy file allows namespace {namespace:?}")));
        }
        match region {
            Some(region) if !tenant.regions.iter().any(|r| r == region) => Err(AccessDenied(format!(
                "region {region:?} is not among the regions the tenancy file allows namespace {namespace:?} ({})",
                if tenant.regions.is_empty() { "only the operator's default region".to_owned() } else { tenant.regions.join(", ") }
            ))),
            _ => Ok(tenant.role_arn.as_deref()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
tenants:
  - namespace: shop
    tables: ["Orders", "Order*"]
    regions: ["eu-west-1"]
    roleArn: arn:aws:iam::123456789012:role/shop
  - namespace: profiles
    tables: ["UserProfiles"]
"#;

    #[test]
    fn allows_what_the_file_lists() {
        let t = Tenancy::parse(FILE).expect("valid file");
        assert_eq!(t.check("shop", "OrderItems", Some("eu-west-1")), Ok(Some("arn:aws:iam::123456789012:role/shop")));
        assert_eq!(t.check("profiles", "UserProfiles", None), Ok(None));
    }

    #[test]
    fn denies_everything_else_with_a_reason() {
        let t = Tenancy::parse(FILE).expect("valid file");
        assert!(t.check("other", "Orders", None).is_err());
        assert!(t.check("shop", "orders", None).unwrap_err().0.contains("\"orders\""), "globs are case-sensitive");
        assert!(t.check("shop", "Orders", Some("us-east-1")).is_err());
        assert!(t.check("profiles", "UserProfiles", Some("eu-west-1")).is_err(), "no regions: default only");
    }

    /// The demo's file (examples/tenancy.yaml): `dr` acts through the DR account's role.
    #[test]
    fn the_example_file_gives_dr_its_role() {
        let t = Tenancy::parse(include_str!("../../examples/tenancy.yaml")).expect("valid file");
        assert_eq!(t.check("shop", "Orders", None), Ok(None));
        assert_eq!(t.check("dr", "Orders", Some("eu-central-1")), Ok(Some("arn:aws:iam::222222222222:role/dynamo-dr-restores")));
        assert!(t.check("dr", "Orders", Some("us-east-1")).is_err());
    }

    #[test]
    fn single_tenant_allows_all() {
        assert_eq!(Tenancy::SingleTenant.check("any", "Any", Some("any-region-1")), Ok(None));
    }

    #[test]
    fn bad_files_are_refused() {
        assert!(matches!(Tenancy::parse("tenants: [{namespace: a, tables: ['[']}]"), Err(TenancyError::Glob { .. })));
        assert!(matches!(
            Tenancy::parse("tenants: [{namespace: a, tables: []}, {namespace: a, tables: []}]"),
            Err(TenancyError::Duplicate(_))
        ));
        assert!(matches!(Tenancy::parse("tenants: [{namespace: a, tabels: []}]"), Err(TenancyError::Parse(_))));
    }
}
