//! A throwaway PostgreSQL cluster of the test's own: `initdb` into a temporary
//! directory, started on a free port of 127.0.0.1, restarted at will, and stopped by its
//! pid file when dropped, also when a test fails. Never the shared test server.

use std::fs::{File, OpenOptions};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use tempfile::TempDir;

use crate::common::BoxError;

/// Set in CI, where every tool is installed: a missing one fails the test instead of
/// skipping it.
const CI_VAR: &str = "CI";

/// The server's user and database, as `initdb -U` makes them.
const SUPERUSER: &str = "postgres";

/// As small and fast as a test needs: no fsync, small buffers, no TCP on any address
/// but 127.0.0.1.
const SERVER_SETTINGS: &str = "-c listen_addresses=127.0.0.1 -c shared_buffers=16MB \
     -c fsync=off -c synchronous_commit=off -c full_page_writes=off";

/// A running cluster; stopped when dropped.
#[derive(Debug)]
pub struct Cluster {
    bin: PathBuf,
    /// Runs the server's tools as the `postgres` user when the tests run as root.
    run_as: Option<&'static str>,
    port: u16,
    /// Holds `data` (the cluster) and `run` (its socket and log); removed after the stop.
    dir: TempDir,
}

impl Cluster {
    /// Creates and starts a cluster, or returns `None` (after a notice on stderr) when
    /// the tools are missing and the tests do not run in CI.
    pub fn start() -> Result<Option<Cluster>, BoxError> {
        let Some((bin, run_as)) = tools()? else {
            return Ok(None);
        };
        let mut cluster = Cluster {
            bin,
            run_as,
            port: 0,
            dir: tempfile::tempdir()?,
        };
        cluster.prepare()?;
        // The port was free a moment ago; another process may take it meanwhile.
        let mut attempts = 3;
        loop {
            cluster.port = free_port()?;
            match cluster.pg_ctl(&["start", "-o", &cluster.options(), "-w", "-t", "60"]) {
                Ok(()) => return Ok(Some(cluster)),
                Err(error) if attempts == 1 => return Err(error),
                Err(_) => attempts -= 1,
            }
        }
    }

    /// The URL of the cluster's own database.
    pub fn url(&self) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{SUPERUSER}", self.port)
    }

    /// Restarts the server as an administrator would: `fast` ends every session, and
    /// the call returns once the new server accepts connections.
    pub fn restart(&self) -> Result<(), BoxError> {
        self.pg_ctl(&["restart", "-m", "fast", "-w", "-t", "60"])
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// The data and run directories, owned by the server's user, and the cluster.
    fn prepare(&self) -> Result<(), BoxError> {
        use std::os::unix::fs::PermissionsExt;
        // The server's user must be able to reach the directories inside.
        std::fs::set_permissions(self.dir.path(), std::fs::Permissions::from_mode(0o755))?;
        for dir in [self.data(), self.run_dir()] {
            std::fs::create_dir(&dir)?;
            if let Some(user) = self.run_as {
                self.checked(Command::new("chown").arg(format!("{user}:")).arg(&dir))?;
            }
        }
        let data = self.data();
        self.checked(self.tool("initdb").arg("-D").arg(&data).args([
            "-A",
            "trust",
            "-U",
            SUPERUSER,
            "--no-sync",
            "--no-instructions",
        ]))
    }

    /// The server's options: its port, its socket in the run directory, and the rest.
    fn options(&self) -> String {
        format!(
            "-p {} -k {} {SERVER_SETTINGS}",
            self.port,
            self.run_dir().display()
        )
    }

    /// Runs `pg_ctl` on the cluster. The server it starts inherits its output, so that
    /// goes to the log file rather than a pipe that would never close.
    fn pg_ctl(&self, args: &[&str]) -> Result<(), BoxError> {
        let data = self.data();
        let mut command = self.tool("pg_ctl");
        command.arg("-D").arg(&data).args(args);
        self.checked(&mut command)
    }

    /// A command running `name` from the server's binaries, as the server's user.
    fn tool(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        match self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(program);
                command
            }
            None => Command::new(program),
        }
    }

    /// Runs `command` with its output appended to the log, and fails with the log's
    /// tail when it fails.
    fn checked(&self, command: &mut Command) -> Result<(), BoxError> {
        let log = self.log()?;
        let status = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .status()?;
        if status.success() {
            return Ok(());
        }
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        Err(format!(
            "{command:?} failed ({status}); log:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
        .into())
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("cluster.log")
    }

    fn log(&self) -> Result<File, BoxError> {
        Ok(OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?)
    }

    /// The postmaster's pid, from the first line of its pid file, while it runs.
    fn postmaster_pid(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.data().join("postmaster.pid")).ok()?;
        text.lines().next().map(str::to_owned)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.postmaster_pid().is_none() {
            return;
        }
        if let Err(error) = self.pg_ctl(&["stop", "-m", "immediate", "-w", "-t", "60"]) {
            eprintln!("could not stop the test cluster: {error}");
            // The pid file names this cluster's server and no other process.
            if let Some(pid) = self.postmaster_pid() {
                let killed = Command::new("kill").args(["-KILL", &pid]).status();
                eprintln!("sent SIGKILL to the test cluster's postmaster {pid}: {killed:?}");
            }
        }
    }
}

/// The directory of `initdb` and `pg_ctl`, and the user to run them as; `None` (after
/// a notice) when something is missing, unless in CI.
fn tools() -> Result<Option<(PathBuf, Option<&'static str>)>, BoxError> {
    match find_tools() {
        Ok(found) => Ok(Some(found)),
        Err(missing) if std::env::var_os(CI_VAR).is_some() => {
            Err(format!("{missing} ({CI_VAR} is set, so this is a failure)").into())
        }
        Err(missing) => {
            crate::common::say_skipped(format_args!(
                "{missing}: the throwaway-cluster test is skipped"
            ));
            Ok(None)
        }
    }
}

fn find_tools() -> Result<(PathBuf, Option<&'static str>), String> {
    let output = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .map_err(|error| format!("pg_config not found: {error}"))?;
    let bin = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    for tool in ["initdb", "pg_ctl"] {
        if !bin.join(tool).is_file() {
            return Err(format!("{tool} not found in {}", bin.display()));
        }
    }
    // The server refuses to run as root.
    let run_as = if command_output("id", &["-u"])? == "0" {
        command_output("id", &["-u", SUPERUSER])
            .map_err(|_| format!("no {SUPERUSER} user to run the server as"))?;
        command_output("runuser", &["--version"]).map_err(|_| "runuser not found".to_owned())?;
        Some(SUPERUSER)
    } else {
        None
    };
    Ok((bin, run_as))
}

/// The trimmed standard output of a command that succeeded.
fn command_output(program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|error| format!("{program}: {error}"))?;
    if !output.status.success() {
        return Err(format!("{program} {args:?} failed"));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// A port of 127.0.0.1 that nothing listens on now.
fn free_port() -> Result<u16, BoxError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
