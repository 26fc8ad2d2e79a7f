//! `kubectl dynamobackup`: the command line of dynamo-backup-operator, as a kubectl plugin.

fn main() -> std::process::ExitCode {
    dynamo_backup_operator::kubectl::main()
}
