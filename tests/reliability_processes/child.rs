//! The child-process harness: the child's report lines, and the parent's handle on a
//! running child (its reports, a bounded wait, SIGKILL, cleanup on drop).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{CHILD_TEST, DB_VAR, MODE_VAR, SIGNAL_VAR, WAIT};
use crate::common::{BoxError, TestResult};

/// Starts every line the child reports, to tell it apart from the test harness's output.
const MARKER: &str = "@@child ";

/// One report line to the parent, flushed at once.
pub(super) fn say(message: &str) -> TestResult {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{MARKER}{message}")?;
    out.flush()?;
    Ok(())
}

/// A running child; killed on drop, so that a failing test leaves no process behind.
pub(super) struct ChildProcess {
    child: Child,
    messages: Receiver<String>,
    seen: Vec<String>,
    stdout: Option<JoinHandle<()>>,
    stderr: Option<JoinHandle<String>>,
}

impl ChildProcess {
    pub(super) fn spawn(mode: &str, db: &Path, signal: Option<&Path>) -> Result<Self, BoxError> {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
            .env(MODE_VAR, mode)
            .env(DB_VAR, db)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(signal) = signal {
            command.env(SIGNAL_VAR, signal);
        }
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let mut stderr = child.stderr.take().ok_or("no stderr pipe")?;
        let (sender, messages) = mpsc::channel();
        let stdout = thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            // A line without its newline was cut short by the kill: it does not count.
            while matches!(reader.read_line(&mut line), Ok(n) if n > 0) && line.ends_with('\n') {
                if let Some(at) = line.find(MARKER) {
                    let _ = sender.send(line[at + MARKER.len()..].trim_end().to_owned());
                }
                line.clear();
            }
        });
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Ok(Self {
            child,
            messages,
            seen: Vec::new(),
            stdout: Some(stdout),
            stderr: Some(stderr),
        })
    }

    /// Waits (at most `WAIT`) until the child reports a line starting with `prefix`.
    pub(super) fn wait_for(&mut self, prefix: &str) -> TestResult {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(message) = self.messages.recv_timeout(Duration::from_millis(20)) {
                let found = message.starts_with(prefix);
                self.seen.push(message);
                if found {
                    return Ok(());
                }
            } else if self.child.try_wait()?.is_some() {
                return Err(format!("child exited before {prefix:?}: {}", self.stderr()).into());
            }
        }
        Err(format!("child did not report {prefix:?} within {WAIT:?}").into())
    }

    /// Waits (at most `WAIT`) for the child to exit, then returns its status and every
    /// line it reported.
    pub(super) fn finish(&mut self) -> Result<(ExitStatus, Vec<String>), BoxError> {
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                return Err(format!("child still running after {WAIT:?}").into());
            }
            thread::sleep(Duration::from_millis(5));
        };
        if let Some(stdout) = self.stdout.take() {
            stdout.join().map_err(|_| "stdout reader panicked")?;
        }
        self.seen.extend(self.messages.try_iter());
        Ok((status, self.seen.clone()))
    }

    /// Sends SIGKILL (unless the child has exited already) and reaps the child; returns
    /// every line it reported.
    pub(super) fn kill(&mut self) -> Result<Vec<String>, BoxError> {
        if self.child.try_wait()?.is_none() {
            self.child.kill()?;
        }
        Ok(self.finish()?.1)
    }

    /// Fails with the child's stderr when it is no longer running.
    pub(super) fn assert_running(&mut self) -> TestResult {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(format!("child exited ({status}): {}", self.stderr()).into()),
        }
    }

    /// What the child wrote to stderr (it is killed first, if it still runs).
    pub(super) fn stderr(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .take()
            .and_then(|handle| handle.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SplitMix64, seeded from `BOOKSHELF_CRASH_SEED` or the clock (printed, to replay a run).
pub(super) struct SplitMix(u64);

impl SplitMix {
    pub(super) fn from_env() -> Self {
        let seed = std::env::var("BOOKSHELF_CRASH_SEED")
            .ok()
            .and_then(|seed| seed.parse().ok())
            .unwrap_or_else(|| {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
                now.map_or(0x5EED, |elapsed| elapsed.as_nanos() as u64)
            });
        println!("BOOKSHELF_CRASH_SEED={seed}");
        Self(seed)
    }

    /// A duration from zero to `max`, inclusive, in whole milliseconds.
    pub(super) fn millis_up_to(&mut self, max: u64) -> Duration {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Duration::from_millis((z ^ (z >> 31)) % (max + 1))
    }
}
