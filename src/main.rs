mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code.into(),
        Err(e) => {
            cli::say(&format!("keytrail: error: {e:#}"));
            cli::Status::Error.into()
        }
    }
}
