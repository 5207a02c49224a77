//! What every example shares: how a failure is reported to the person who ran it.

use std::error::Error;
use std::process::ExitCode;

/// Prints an error and its causes as a person reads them (`Display`, not `Debug`),
/// one line each, and turns the outcome into the process's exit code.
pub fn exit_code(outcome: Result<(), Box<dyn Error>>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = error.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}
