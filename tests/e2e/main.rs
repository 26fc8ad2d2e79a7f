//! End-to-end tests: the real operator binary against a real kube-apiserver + etcd and moto's
//! DynamoDB server, all on loopback. `support` starts and stops them; see TESTING in the README.

mod accounts;
mod after_restore;
mod aws_backup;
mod backup;
mod chart;
mod copyback;
mod crash;
mod crds;
mod drill;
mod fleet;
mod health;
mod kstatus;
mod observability;
mod operator;
mod plugin;
mod policy;
mod restore;
mod selector;
mod support;

use std::process::ExitCode;

use libtest_mimic::Arguments;

fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    // The tests mostly wait (for slots, for the apiserver, for moto); more than one per core
    // keeps the run short. `--test-threads` still wins.
    if args.test_threads.is_none() {
        args.test_threads = Some(6);
    }
    if args.list {
        // Listing needs no environment; names only.
        eprintln!("(the e2e tests are listed once the environment is up; run them to see names)");
        return ExitCode::SUCCESS;
    }
    let env = match support::Env::start() {
        Ok(env) => env,
        Err(err) => {
            eprintln!("[e2e] cannot start the test environment: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut trials = crds::trials(&env);
    trials.extend(chart::trials(&env));
    trials.extend(operator::trials(&env));
    trials.extend(backup::trials(&env));
    trials.extend(aws_backup::trials(&env));
    trials.extend(accounts::trials(&env));
    trials.extend(restore::trials(&env));
    trials.extend(copyback::trials(&env));
    trials.extend(after_restore::trials(&env));
    trials.extend(policy::trials(&env));
    trials.extend(drill::trials(&env));
    trials.extend(selector::trials(&env));
    trials.extend(observability::trials(&env));
    trials.extend(health::trials(&env));
    trials.extend(kstatus::trials(&env));
    trials.extend(plugin::trials(&env));
    trials.extend(crash::trials(&env));
    trials.extend(fleet::trials(&env));
    let conclusion = libtest_mimic::run(&args, trials);
    env.stop(conclusion.has_failed());
    conclusion.exit_code()
}
