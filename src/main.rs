mod cli;

use std::io::Write as _;
use std::panic::{self, PanicHookInfo};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::thread::ThreadId;

use keytrail::finding::escape_control;

/// Set to `1` to see what a panic said (and a backtrace): it can quote scanned data, secrets
/// included, so it is left out unless asked for.
const PANIC_DETAILS: &str = "KEYTRAIL_PANIC_DETAILS";

static MAIN_THREAD: OnceLock<ThreadId> = OnceLock::new();

fn main() -> ExitCode {
    let _ = MAIN_THREAD.set(std::thread::current().id());
    init_logging();
    panic::set_hook(Box::new(report_panic));
    match panic::catch_unwind(cli::run) {
        Ok(Ok(code)) => code.into(),
        Ok(Err(e)) => {
            // Messages name paths, and a path can hold terminal escapes.
            cli::say(&format!("keytrail: error: {e:#}"));
            cli::Status::Error.into()
        }
        // The hook has said what it may.
        Err(_) => cli::Status::Error.into(),
    }
}

/// Debug logs on stderr, only when `RUST_LOG` asks for them (`RUST_LOG=debug`,
/// `RUST_LOG=keytrail=trace`). Every line is escaped: dependencies log paths as they are.
fn init_logging() {
    if std::env::var_os("RUST_LOG").is_none_or(|v| v.is_empty()) {
        return;
    }
    env_logger::Builder::from_env("RUST_LOG")
        .format(|out, record| {
            let text = escape_control(&record.args().to_string());
            writeln!(out, "[{} {}] {text}", record.level(), record.target())
        })
        .target(env_logger::Target::Stderr)
        .init();
}

/// Says where keytrail failed, but not what the panic said: a payload such as a string slicing
/// message quotes the data it was working on. A panic off the main thread ends the process here,
/// because a worker that stopped half way can leave the others waiting for it forever; one on the
/// main thread unwinds to `main`, which exits 2.
fn report_panic(info: &PanicHookInfo<'_>) {
    static REPORTED: AtomicBool = AtomicBool::new(false);
    if !REPORTED.swap(true, Ordering::SeqCst) {
        let place =
            info.location().map_or_else(|| "an unknown place".to_string(), |l| format!("{}:{}", l.file(), l.line()));
        let mut msg = format!("keytrail: internal error at {}\n", escape_control(&place));
        if std::env::var_os(PANIC_DETAILS).is_some_and(|v| v == "1") {
            let payload = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            msg.push_str(&format!("  {}\n{}\n", escape_control(&payload), std::backtrace::Backtrace::force_capture()));
        }
        msg.push_str(&format!(
            "This is a bug in keytrail {}: please report it with the command that ran into it.\n\
             What the failure said is left out, because it may quote scanned content; {PANIC_DETAILS}=1 shows it\n\
             (read it for secrets before sharing it).\n",
            env!("CARGO_PKG_VERSION")
        ));
        let _ = std::io::stderr().write_all(msg.as_bytes());
    }
    if MAIN_THREAD.get() != Some(&std::thread::current().id()) {
        std::process::exit(cli::Status::Error as i32);
    }
}
