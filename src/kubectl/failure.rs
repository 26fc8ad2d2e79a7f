//! Why the plugin stops, and the exit code a script reads: 0 done; 1 the apiserver failed or
//! refused; 2 a usage error; 3 refused before anything was created (not found, a moment outside
//! the PITR window, a bad time); 4 the object waited for (`--wait`) stalled or failed; 5 `--wait`
//! timed out.

/// Why the plugin stops, with the exit code a script reads.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

/// Exit 3: refused before anything was created.
pub(super) fn refused(message: impl Into<String>) -> Failure {
    Failure { code: 3, message: message.into() }
}

/// Exit 1: the apiserver failed or refused `what`, with a hint where the cause is a common one.
pub(super) fn api_failed(what: &str, err: kube::Error) -> Failure {
    let hint = match &err {
        kube::Error::Api(status) if status.code == 403 => "; your RBAC does not allow it",
        kube::Error::Api(status) if status.code == 404 && status.message.contains("the server could not find the requested resource") => {
            "; are the operator's CRDs installed?"
        }
        _ => "",
    };
    Failure { code: 1, message: format!("{what}: {err}{hint}") }
}
