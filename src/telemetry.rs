//! Logging: `tracing` with an `EnvFilter` from RUST_LOG, as JSON or text.

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::cli::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => registry.with(fmt::layer().json().flatten_event(true).with_current_span(true)).init(),
        // Colours only for a person at a terminal, not in `kubectl logs` or a file.
        LogFormat::Text => registry.with(fmt::layer().with_ansi(std::io::stdout().is_terminal())).init(),
    }
}
