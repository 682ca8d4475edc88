//! The progress line on stderr while a long scan runs: only on a terminal, only after a moment,
//! and gone when the scan ends, so pipes, CI logs and quick scans see nothing of it.
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use keytrail::scan::Progress;
use keytrail::source::fs::human_bytes;

/// Scans shorter than this show no progress at all.
const DELAY: Duration = Duration::from_millis(400);
const TICK: Duration = Duration::from_millis(100);

pub struct ProgressLine {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ProgressLine {
    /// Starts watching `progress` when stderr is a terminal and `enabled`; otherwise does nothing.
    pub fn start(progress: Arc<Progress>, enabled: bool) -> ProgressLine {
        let stop = Arc::new(AtomicBool::new(false));
        if !enabled || !std::io::stderr().is_terminal() {
            return ProgressLine { stop, thread: None };
        }
        let stopped = stop.clone();
        let thread = std::thread::Builder::new().name("progress".into()).spawn(move || show(&progress, &stopped)).ok();
        ProgressLine { stop, thread }
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn show(progress: &Progress, stop: &AtomicBool) {
    let started = Instant::now();
    while started.elapsed() < DELAY {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        std::thread::sleep(TICK);
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{spinner} scanning {msg} [{elapsed}]")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    while !stop.load(Ordering::Relaxed) {
        bar.set_message(message(progress));
        bar.tick();
        std::thread::sleep(TICK);
    }
    bar.finish_and_clear();
}

fn message(p: &Progress) -> String {
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let (files, blobs) = (get(&p.files), get(&p.blobs));
    let mut parts = Vec::new();
    if files > 0 || blobs == 0 {
        parts.push(format!("{files} files ({})", human_bytes(get(&p.bytes))));
    }
    if blobs > 0 {
        parts.push(format!("{blobs} history blobs ({})", human_bytes(get(&p.blob_bytes))));
    }
    parts.join(", ")
}
