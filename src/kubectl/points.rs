//! `points`: what a table can be restored to, drawn (or, with `-o json|yaml`, as data).

use jiff::{SignedDuration, Timestamp, tz::TimeZone};

use super::{
    args::PointsArgs,
    client::{Ctx, list_all, where_},
    failure::{Failure, refused},
    output::{colour, print_structured, terminal_width},
    render::{Canvas, DEFAULT_WIDTH, RestorePoints, points_text, restore_points, table_name},
};
use crate::{
    api::{DynamoBackup, DynamoBackupPolicy},
    plan::when::parse_moment,
};

/// `points TABLE`: reads the policies and DynamoBackups of the namespace and draws the table's
/// PITR window and backups; refused (exit 3) when nothing names the table.
pub(super) async fn points(ctx: &Ctx, args: PointsArgs) -> Result<(), Failure> {
    let now = Timestamp::now();
    let tz = match &args.tz {
        Some(name) => TimeZone::get(name).map_err(|e| refused(format!("--tz {name:?}: {e}")))?,
        None => TimeZone::system(),
    };
    let at = match &args.at {
        Some(text) => Some(parse_moment(text, &tz, now).map_err(refused)?),
        None => None,
    };
    let since = match args.since {
        Some(span) => {
            let span = SignedDuration::try_from(span).map_err(|e| refused(format!("--since: {e}")))?;
            Some(now.checked_sub(span).map_err(|e| refused(format!("--since: {e}")))?)
        }
        None => None,
    };
    let policies = list_all(&ctx.api::<DynamoBackupPolicy>(), "DynamoBackupPolicies").await?;
    let backups = list_all(&ctx.api::<DynamoBackup>(), "DynamoBackups").await?;
    let table = table_name(&args.table);
    let points: RestorePoints = restore_points(&policies, &backups, table, at);
    if points.window.is_none() && points.backups.is_empty() {
        return Err(refused(format!("no policy reports the PITR of {table} and no DynamoBackup names it in {}", where_(ctx))));
    }
    if !ctx.global.output.is_human() {
        return print_structured(ctx.global.output, &points);
    }
    let canvas = Canvas { now, since, tz, width: terminal_width().unwrap_or(DEFAULT_WIDTH), colour: colour() };
    print!("{}", points_text(&points, &canvas));
    Ok(())
}
