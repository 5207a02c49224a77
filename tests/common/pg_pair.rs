//! Throwaway PostgreSQL clusters for replication tests: a primary and a streaming
//! standby ([`Pair`]), each a [`Server`] in a temporary directory of its own (data
//! directory, socket and log), listening on a free port of 127.0.0.1.
//!
//! The server's programs come from [`binaries`]. PostgreSQL refuses to run as root, so
//! when the tests run as root every server program runs as the `postgres` OS user (its
//! uid and gid set on the child process) and the temporary directories are handed to
//! that user; otherwise they run as the current user. The `psql` client always runs as
//! the current user, over TCP.
//!
//! A server is only ever stopped through `pg_ctl -D <its data directory>`, also when it
//! is dropped (a test that fails included); the shared server on port 5432 is never
//! touched. A test process killed outright leaves its servers running in a directory
//! under the temporary directory whose name starts with [`DIR_PREFIX`].

// Each test binary that includes this file uses only part of it.
#![allow(dead_code)]

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Any error of the harness.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the harness returns.
pub type Result<T> = std::result::Result<T, BoxError>;

/// The name of every temporary directory the harness makes starts with this.
pub const DIR_PREFIX: &str = "pg-pair-";

/// Names the directory to make the temporary directories in, instead of the default
/// (see [`temp_base`]).
pub const TMPDIR_VAR: &str = "PG_PAIR_TMPDIR";

/// Memory-backed and at least this large (in KiB, free), `/dev/shm` holds the
/// clusters: `initdb` and `pg_basebackup` take half the time there than on a disk.
const SHM_MIN_FREE_KIB: u64 = 1 << 20;

/// The memory-backed directory preferred for the clusters.
const SHM: &str = "/dev/shm";

/// The database role and OS user the servers run as, and the database `psql` opens.
const POSTGRES: &str = "postgres";

/// The database [`Pair::start`] creates on the primary.
pub const TEST_DB: &str = "test";

/// Set (CI sets it, and `CI` counts too) to make missing server programs a failure of
/// the tests that need them, instead of a skip.
pub const REQUIRED_VAR: &str = "BOOKSHELF_TEST_CLUSTERS";

/// True when the server programs are installed. When they are not, says on stderr that
/// `what` is skipped, or fails when [`REQUIRED_VAR`] or `CI` is set.
///
/// # Errors
///
/// Missing programs where they are required; as [`binaries`].
pub fn programs_present(what: &str) -> Result<bool> {
    if binaries()?.is_some() {
        return Ok(true);
    }
    if std::env::var_os(REQUIRED_VAR).is_some() || std::env::var_os("CI").is_some() {
        return Err(format!(
            "no PostgreSQL server programs (initdb, pg_ctl, pg_basebackup), \
             and {REQUIRED_VAR} or CI is set: {what} cannot run"
        )
        .into());
    }
    let _ = writeln!(
        io::stderr(),
        "SKIPPED: no PostgreSQL server programs (initdb, pg_ctl): {what} is skipped"
    );
    Ok(false)
}

/// How long a wait for the servers (streaming, replay, pause, reload) may take.
const WAIT: Duration = Duration::from_secs(10);

/// How often a wait asks again.
const POLL: Duration = Duration::from_millis(20);

/// `pg_ctl -t`: seconds that a start, stop or promotion may take.
const PG_CTL_SECONDS: &str = "30";

/// Free ports tried before a start is given up, as another process may take the one
/// just found before the server binds it.
const START_ATTEMPTS: usize = 5;

/// Lines of the server log shown when a start fails.
const LOG_TAIL_LINES: usize = 30;

/// The programs a cluster needs, all in the same directory.
const SERVER_PROGRAMS: [&str; 4] = ["initdb", "pg_ctl", "pg_basebackup", "postgres"];

/// Where Debian installs each major version's programs: `<this>/<version>/bin`.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// Appended to the primary's `postgresql.conf` (and so copied to the standby): small,
/// fast and unsafe on a crash, which a throwaway cluster does not survive anyway. The
/// settings of one server alone are in [`SERVER_CONF`], included last.
const SHARED_SETTINGS: &str = "
# Throwaway test cluster (tests/common/pg_pair.rs).
listen_addresses = '127.0.0.1'
max_connections = 100
shared_buffers = 32MB
wal_level = replica
max_wal_senders = 10
hot_standby = on
fsync = off
synchronous_commit = on
full_page_writes = off
logging_collector = off
log_line_prefix = '%m [%p] '
include 'server.conf'
";

/// The file, in the data directory, with the settings of one server: port, socket
/// directory and, on a standby, its own settings.
const SERVER_CONF: &str = "server.conf";

/// Settings of a standby only (`hot_standby = on` is in [`SHARED_SETTINGS`]).
const STANDBY_SETTINGS: &str = "hot_standby_feedback = on\n";

/// Who may connect: anyone on the socket or 127.0.0.1, for queries and replication.
const PG_HBA: &str = "\
local all all trust
local replication all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
";

/// The directory with `initdb`, `pg_ctl`, `pg_basebackup` and `postgres`: the one
/// `pg_config --bindir` prints, or else the newest `/usr/lib/postgresql/*/bin`; `None`
/// when neither has them all.
///
/// # Errors
///
/// When `/usr/lib/postgresql` exists but cannot be read.
pub fn binaries() -> Result<Option<PathBuf>> {
    let mut candidates: Vec<PathBuf> = pg_config_bindir().into_iter().collect();
    candidates.extend(debian_bindirs()?);
    Ok(candidates.into_iter().find(|dir| has_server_programs(dir)))
}

/// What `pg_config --bindir` prints, when it runs.
fn pg_config_bindir() -> Option<PathBuf> {
    let output = Command::new("pg_config").arg("--bindir").output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    Some(PathBuf::from(text.trim()))
}

/// `/usr/lib/postgresql/<version>/bin`, newest version first.
fn debian_bindirs() -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(DEBIAN_ROOT) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(format!("reading {DEBIAN_ROOT}: {error}").into()),
    };
    let mut versions: Vec<(u32, PathBuf)> = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let version = path
            .file_name()
            .and_then(|name| name.to_str()?.parse().ok());
        if let Some(version) = version {
            versions.push((version, path.join("bin")));
        }
    }
    versions.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    Ok(versions.into_iter().map(|(_, dir)| dir).collect())
}

/// Whether `dir` has every one of [`SERVER_PROGRAMS`].
fn has_server_programs(dir: &Path) -> bool {
    SERVER_PROGRAMS
        .iter()
        .all(|program| dir.join(program).is_file())
}

/// A primary and a standby streaming from it, both running.
#[derive(Debug)]
pub struct Pair {
    /// The primary, with the database [`TEST_DB`] and `unaccent` in it.
    pub primary: Server,
    /// A hot standby streaming from the primary, with `hot_standby_feedback` on.
    pub standby: Server,
}

impl Pair {
    /// Creates and starts a primary and a standby made from a base backup of it, and
    /// returns once the standby streams and has replayed the database [`TEST_DB`]
    /// (with `CREATE EXTENSION unaccent SCHEMA public` in it) made on the primary.
    ///
    /// # Errors
    ///
    /// When the server programs are missing (see [`binaries`]) or any step fails;
    /// a server that fails to start prints its log's tail to stderr.
    pub fn start() -> Result<Pair> {
        let bindir = binaries()?.ok_or("no PostgreSQL server programs (initdb, pg_ctl)")?;
        let primary = Server::init_primary(&bindir)?;
        let standby = Server::init_standby(&bindir, &primary)?;
        let pair = Pair { primary, standby };
        create_test_database(&pair.primary)?;
        pair.wait_replayed()?;
        Ok(pair)
    }

    /// Waits until the standby has replayed all the WAL the primary had written when
    /// called: its `pg_last_wal_replay_lsn()` reaches the primary's
    /// `pg_current_wal_lsn()`.
    ///
    /// # Errors
    ///
    /// When that takes more than 10 seconds (replay paused, for one), or a query fails.
    pub fn wait_replayed(&self) -> Result<()> {
        self.wait_standby_lsn("pg_last_wal_replay_lsn()", "replay")
    }

    /// Waits until the standby has received and flushed all the WAL the primary had
    /// written when called (`pg_last_wal_receive_lsn()`), replayed or not: after a
    /// [`Server::pause_replay`], what the standby does not show has reached it.
    ///
    /// # Errors
    ///
    /// When that takes more than 10 seconds, or a query fails.
    pub fn wait_received(&self) -> Result<()> {
        self.wait_standby_lsn("pg_last_wal_receive_lsn()", "receive")
    }

    fn wait_standby_lsn(&self, standby_lsn: &str, what: &str) -> Result<()> {
        let target = self.primary.psql("SELECT pg_current_wal_lsn()")?;
        let query = format!("SELECT {standby_lsn} >= '{target}'::pg_lsn");
        wait_until(&format!("the standby to {what} WAL up to {target}"), || {
            Ok(self.standby.psql(&query)? == "t")
        })
    }
}

/// `CREATE DATABASE test` on `primary`, and the `unaccent` extension in it.
fn create_test_database(primary: &Server) -> Result<()> {
    primary.psql(&format!("CREATE DATABASE {TEST_DB}"))?;
    primary.psql_in(
        TEST_DB,
        "CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public",
    )?;
    Ok(())
}

/// The OS user that runs the server programs, when it is not the current one.
#[derive(Debug, Clone, Copy)]
struct OsUser {
    uid: u32,
    gid: u32,
}

impl OsUser {
    /// The `postgres` user when the current one is root (as the owner of `dir`, just
    /// made, says), else `None`.
    fn for_dir(dir: &Path) -> Result<Option<OsUser>> {
        if fs::metadata(dir)?.uid() != 0 {
            return Ok(None);
        }
        let uid = id_of(&["-u", POSTGRES])?;
        let gid = id_of(&["-g", POSTGRES])?;
        Ok(Some(OsUser { uid, gid }))
    }
}

/// What `id ARGS` prints, as a number.
fn id_of(args: &[&str]) -> Result<u32> {
    let mut command = Command::new("id");
    command.args(args);
    let text = run(&mut command)
        .map_err(|error| format!("no `{POSTGRES}` OS user to run the server as: {error}"))?;
    Ok(text.trim().parse()?)
}

/// One PostgreSQL server (cluster) in a temporary directory of its own, on a port of
/// 127.0.0.1. Dropping it stops the server (`pg_ctl stop -m fast`, else `immediate`)
/// and then removes the directory.
#[derive(Debug)]
pub struct Server {
    bindir: PathBuf,
    /// Who runs the server programs, when not the current user.
    user: Option<OsUser>,
    port: u16,
    /// Holds `data/` (the cluster), the socket and `server.log`; removed on drop, after
    /// the stop (fields drop after `drop` runs).
    dir: TempDir,
}

impl Server {
    /// An empty temporary directory for a server, owned by the user that will run it.
    fn new(bindir: &Path) -> Result<Server> {
        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir_in(temp_base())?;
        let user = OsUser::for_dir(dir.path())?;
        if let Some(user) = user {
            std::os::unix::fs::chown(dir.path(), Some(user.uid), Some(user.gid))?;
        }
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700))?;
        Ok(Server {
            bindir: bindir.to_owned(),
            user,
            port: 0,
            dir,
        })
    }

    /// A lone server of the test's own (a new cluster with the settings of a primary,
    /// started), with its `postgres` database.
    ///
    /// # Errors
    ///
    /// When the server programs are missing or any step fails.
    pub fn primary() -> Result<Server> {
        let bindir = binaries()?.ok_or("no PostgreSQL server programs (initdb, pg_ctl)")?;
        Server::init_primary(&bindir)
    }

    /// Restarts the server as an administrator would: `fast` ends every session, and
    /// the call returns once it accepts connections again, on the same port.
    ///
    /// # Errors
    ///
    /// As [`Server::stop`] and [`Server::start`].
    pub fn restart(&self) -> Result<()> {
        self.stop()?;
        self.start()
    }

    /// A new cluster (`initdb`) with the settings of a primary, started.
    fn init_primary(bindir: &Path) -> Result<Server> {
        let mut server = Server::new(bindir)?;
        let mut initdb = server.program("initdb");
        initdb.arg("-D").arg(server.data_dir()).args([
            "-A",
            "trust",
            "-U",
            POSTGRES,
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
            "--no-instructions",
        ]);
        run(&mut initdb)?;
        server.append_to("postgresql.conf", SHARED_SETTINGS)?;
        server.write_as_server("pg_hba.conf", PG_HBA)?;
        server.start_on_free_port("")?;
        Ok(server)
    }

    /// A base backup of `primary` (`pg_basebackup -R -X stream`), started as a standby
    /// of it, once it streams.
    fn init_standby(bindir: &Path, primary: &Server) -> Result<Server> {
        let mut server = Server::new(bindir)?;
        let mut basebackup = server.program("pg_basebackup");
        basebackup
            .args(["-h", "127.0.0.1", "-p", &primary.port.to_string()])
            .args(["-U", POSTGRES, "-D"])
            .arg(server.data_dir())
            .args([
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
                "--no-manifest",
            ]);
        run(&mut basebackup)?;
        server.start_on_free_port(STANDBY_SETTINGS)?;
        server.wait_streaming()?;
        Ok(server)
    }

    /// The port the server listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` as the superuser `postgres`, without a password:
    /// `postgres://postgres@127.0.0.1:PORT/DB`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{POSTGRES}@127.0.0.1:{}/{db}", self.port)
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's log file (what `pg_ctl -l` writes).
    pub fn log_file(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Runs `sql` (one or more statements, one implicit transaction) in the database
    /// `postgres` with `psql -Atq -v ON_ERROR_STOP=1`, and returns what it prints,
    /// without the last newline: rows one a line, columns separated by `|`.
    ///
    /// # Errors
    ///
    /// When `psql` fails: the statement failed, or the server is not reachable.
    pub fn psql(&self, sql: &str) -> Result<String> {
        self.psql_in(POSTGRES, sql)
    }

    /// As [`Server::psql`], in the database `db`.
    ///
    /// # Errors
    ///
    /// When `psql` fails: the statement failed, or the server is not reachable.
    pub fn psql_in(&self, db: &str, sql: &str) -> Result<String> {
        let mut psql = Command::new(self.psql_program());
        clear_pg_env(&mut psql);
        psql.env("PGCONNECT_TIMEOUT", "5")
            .args(["-X", "-Atq", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
            .args(["-p", &self.port.to_string(), "-U", POSTGRES, "-d", db])
            .args(["-c", sql]);
        let output = run(&mut psql)?;
        Ok(output.strip_suffix('\n').unwrap_or(&output).to_owned())
    }

    /// `psql` of the same installation, else the one on the `PATH`.
    fn psql_program(&self) -> PathBuf {
        let psql = self.bindir.join("psql");
        if psql.is_file() {
            psql
        } else {
            PathBuf::from("psql")
        }
    }

    /// Starts the server again after a [`Server::stop`], on the same port and data
    /// directory, and returns once it accepts connections (`pg_ctl start -w`).
    ///
    /// # Errors
    ///
    /// When it does not start (the log's tail is printed to stderr and included).
    pub fn start(&self) -> Result<()> {
        self.try_start().map_err(|mut failure| {
            failure.report();
            failure.error
        })
    }

    /// Stops the server: `pg_ctl stop -m fast`, which ends every session, and waits
    /// until it is down.
    ///
    /// # Errors
    ///
    /// When `pg_ctl` fails, as it does when the server does not run.
    pub fn stop(&self) -> Result<()> {
        self.stop_with("fast")
    }

    /// Whether the server runs (`pg_ctl status`).
    ///
    /// # Errors
    ///
    /// When `pg_ctl status` fails in another way than saying it does not run.
    pub fn is_running(&self) -> Result<bool> {
        let mut status = self.pg_ctl(&["status"]);
        let output = status
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()?;
        match output.status.code() {
            Some(0) => Ok(true),
            Some(3) => Ok(false),
            _ => Err(failure(&status, &output).into()),
        }
    }

    /// Whether the server is a standby, still in recovery (`pg_is_in_recovery()`).
    ///
    /// # Errors
    ///
    /// When the query fails.
    pub fn is_in_recovery(&self) -> Result<bool> {
        Ok(self.psql("SELECT pg_is_in_recovery()")? == "t")
    }

    /// Promotes a standby to a primary (`pg_ctl promote -w`), and returns once it
    /// accepts writes.
    ///
    /// # Errors
    ///
    /// When `pg_ctl` fails: the server is not a standby, or does not run.
    pub fn promote(&self) -> Result<()> {
        run(&mut self.pg_ctl(&["promote", "-w", "-t", PG_CTL_SECONDS]))?;
        Ok(())
    }

    /// Sets a server parameter as `ALTER SYSTEM SET name = 'value'` does, and returns
    /// once the server has reloaded its configuration (`pg_reload_conf()`). Parameters
    /// that need a restart take effect at the next [`Server::start`].
    ///
    /// # Errors
    ///
    /// When `name` is not a parameter name, or a statement fails.
    pub fn set(&self, name: &str, value: &str) -> Result<()> {
        let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
        if name.is_empty() || !name.chars().all(valid) {
            return Err(format!("not a parameter name: {name:?}").into());
        }
        let value = value.replace('\'', "''");
        self.psql(&format!("ALTER SYSTEM SET {name} = '{value}'"))?;
        self.reload()
    }

    /// `pg_reload_conf()`, and waits until new sessions see the configuration loaded
    /// again (`pg_conf_load_time()`).
    fn reload(&self) -> Result<()> {
        let before = self.psql("SELECT pg_conf_load_time()")?;
        self.psql("SELECT pg_reload_conf()")?;
        let reloaded = format!("SELECT pg_conf_load_time() > '{before}'::timestamptz");
        wait_until("the configuration to be reloaded", || {
            Ok(self.psql(&reloaded)? == "t")
        })
    }

    /// Pauses replay on a standby (`pg_wal_replay_pause()`), and returns once
    /// `pg_get_wal_replay_pause_state()` says `paused`. WAL still arrives.
    ///
    /// # Errors
    ///
    /// When the server is not a standby, a query fails, or the pause takes more than
    /// 10 seconds.
    pub fn pause_replay(&self) -> Result<()> {
        self.psql("SELECT pg_wal_replay_pause()")?;
        self.wait_pause_state("paused")
    }

    /// Resumes replay on a standby (`pg_wal_replay_resume()`), and returns once
    /// `pg_get_wal_replay_pause_state()` says `not paused`.
    ///
    /// # Errors
    ///
    /// When the server is not a standby, a query fails, or this takes more than
    /// 10 seconds.
    pub fn resume_replay(&self) -> Result<()> {
        self.psql("SELECT pg_wal_replay_resume()")?;
        self.wait_pause_state("not paused")
    }

    fn wait_pause_state(&self, state: &str) -> Result<()> {
        wait_until(&format!("replay to be {state}"), || {
            Ok(self.psql("SELECT pg_get_wal_replay_pause_state()")? == state)
        })
    }

    /// Makes a standby apply each commit `delay` after the primary made it
    /// (`recovery_min_apply_delay`, in milliseconds); `Duration::ZERO` applies at once.
    ///
    /// # Errors
    ///
    /// As [`Server::set`].
    pub fn set_apply_delay(&self, delay: Duration) -> Result<()> {
        self.set(
            "recovery_min_apply_delay",
            &format!("{}ms", delay.as_millis()),
        )
    }

    /// Writes the port and socket directory (and `extra` settings) of this server,
    /// then starts it, on another free port each time the port turns out to be taken.
    fn start_on_free_port(&mut self, extra: &str) -> Result<()> {
        for attempt in 1..=START_ATTEMPTS {
            self.port = free_port()?;
            self.write_server_conf(extra)?;
            match self.try_start() {
                Ok(()) => return Ok(()),
                Err(failure) if failure.port_taken() && attempt < START_ATTEMPTS => {
                    eprintln!("port {} was taken; trying another", self.port);
                }
                Err(mut failure) => {
                    failure.report();
                    return Err(failure.error);
                }
            }
        }
        Err(format!("no free port in {START_ATTEMPTS} attempts").into())
    }

    /// Writes [`SERVER_CONF`]: this server's port and socket directory, and `extra`.
    fn write_server_conf(&self, extra: &str) -> Result<()> {
        let socket_dir = self.dir.path().to_string_lossy().replace('\'', "''");
        let text = format!(
            "port = {}\nunix_socket_directories = '{socket_dir}'\n{extra}",
            self.port
        );
        self.write_as_server(SERVER_CONF, &text)
    }

    /// `pg_ctl start -w`; on failure, the log written meanwhile.
    fn try_start(&self) -> std::result::Result<(), StartFailure> {
        let log_offset = fs::metadata(self.log_file()).map_or(0, |meta| meta.len());
        let mut start = self.pg_ctl(&["start", "-w", "-t", PG_CTL_SECONDS, "-l"]);
        start.arg(self.log_file());
        run(&mut start).map(drop).map_err(|error| StartFailure {
            error,
            log_tail: log_tail(&self.log_file(), log_offset),
            port: self.port,
        })
    }

    /// `pg_ctl stop -m MODE -w`.
    fn stop_with(&self, mode: &str) -> Result<()> {
        run(&mut self.pg_ctl(&["stop", "-m", mode, "-w", "-t", PG_CTL_SECONDS]))?;
        Ok(())
    }

    /// `pg_ctl -D <data directory> ARGS`, as the server's user.
    fn pg_ctl(&self, args: &[&str]) -> Command {
        let mut pg_ctl = self.program("pg_ctl");
        pg_ctl.arg("-D").arg(self.data_dir()).args(args);
        pg_ctl
    }

    /// A command running the server program `name` as the server's user, in the
    /// server's directory (also its `HOME`, so that no `~/.pgpass` of the caller's is
    /// read), with no `PG*` variable of the caller's.
    fn program(&self, name: &str) -> Command {
        let mut command = Command::new(self.bindir.join(name));
        clear_pg_env(&mut command);
        command
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path());
        if let Some(user) = self.user {
            command.uid(user.uid).gid(user.gid);
        }
        command
    }

    /// Appends `text` to the file `name` of the data directory.
    fn append_to(&self, name: &str, text: &str) -> Result<()> {
        let path = self.data_dir().join(name);
        let mut file = OpenOptions::new().append(true).open(&path)?;
        file.write_all(text.as_bytes())
            .map_err(|error| format!("writing {}: {error}", path.display()).into())
    }

    /// Writes `text` as the file `name` of the data directory, owned by the server's
    /// user, readable by it alone.
    fn write_as_server(&self, name: &str, text: &str) -> Result<()> {
        let path = self.data_dir().join(name);
        fs::write(&path, text)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
        if let Some(user) = self.user {
            std::os::unix::fs::chown(&path, Some(user.uid), Some(user.gid))?;
        }
        Ok(())
    }

    /// Waits until the standby's WAL receiver streams from the primary.
    fn wait_streaming(&self) -> Result<()> {
        wait_until("the standby to stream from the primary", || {
            Ok(self.psql("SELECT status FROM pg_stat_wal_receiver")? == "streaming")
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // No pid file: never started (or initdb failed), or stopped. A server that
        // cannot say whether it runs is stopped all the same.
        let pid_file = self.data_dir().join("postmaster.pid");
        if !pid_file.exists() || matches!(self.is_running(), Ok(false)) {
            return;
        }
        let Err(error) = self.stop_with("fast") else {
            return;
        };
        eprintln!("fast stop of {} failed: {error}", self.data_dir().display());
        if let Err(error) = self.stop_with("immediate") {
            eprintln!(
                "immediate stop of {} failed: {error}",
                self.data_dir().display()
            );
        }
    }
}

/// Why a start failed, with what the server logged meanwhile.
struct StartFailure {
    error: BoxError,
    log_tail: String,
    port: u16,
}

impl StartFailure {
    /// Whether the server could not listen on its port because something else does.
    fn port_taken(&self) -> bool {
        ["could not bind", "Address already in use"]
            .iter()
            .any(|sign| self.log_tail.contains(sign))
    }

    /// Prints the failure and the log's tail to stderr, and adds the tail to the error.
    fn report(&mut self) {
        eprintln!(
            "PostgreSQL server on port {} failed to start: {}\n--- server log (tail) ---\n{}\n---",
            self.port, self.error, self.log_tail
        );
        self.error = format!("{}\nserver log (tail):\n{}", self.error, self.log_tail).into();
    }
}

/// The last lines of the log `path` written after `offset` (or of the whole log, when
/// nothing was).
fn log_tail(path: &Path, offset: u64) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    let start = usize::try_from(offset).unwrap_or(0).min(bytes.len());
    let new = if start < bytes.len() {
        &bytes[start..]
    } else {
        &bytes[..]
    };
    let text = String::from_utf8_lossy(new);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

/// Where the servers' temporary directories go: [`TMPDIR_VAR`] when set, else
/// `/dev/shm` when it has 1 GiB free, else the system's temporary directory
/// (`TMPDIR`, `/tmp`). The `postgres` user must be able to enter it.
pub fn temp_base() -> PathBuf {
    if let Some(dir) = std::env::var_os(TMPDIR_VAR) {
        return PathBuf::from(dir);
    }
    if free_kib(Path::new(SHM)).is_some_and(|free| free >= SHM_MIN_FREE_KIB) {
        return PathBuf::from(SHM);
    }
    std::env::temp_dir()
}

/// The space free in the file system of `dir`, in KiB, as `df -Pk` says.
fn free_kib(dir: &Path) -> Option<u64> {
    if !dir.is_dir() {
        return None;
    }
    let output = Command::new("df").arg("-Pk").arg(dir).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    // The header, then `Filesystem 1024-blocks Used Available Capacity Mounted-on`.
    text.lines().nth(1)?.split_whitespace().nth(3)?.parse().ok()
}

/// A port of 127.0.0.1 that nothing listened on a moment ago.
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Removes the caller's `PG*` variables (`PGHOST`, `PGPORT`, `PGOPTIONS`, ...) from
/// `command`, so that none of them points it at another server.
fn clear_pg_env(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PG") {
            command.env_remove(name);
        }
    }
}

/// Runs `command` without input, and returns its standard output.
///
/// # Errors
///
/// When it cannot start or exits unsuccessfully: the error has its standard error.
fn run(command: &mut Command) -> Result<String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("could not run {:?}: {error}", command.get_program()))?;
    if !output.status.success() {
        return Err(failure(command, &output).into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Says what `command` was, how it ended and what it wrote on its standard error.
fn failure(command: &Command, output: &std::process::Output) -> String {
    format!(
        "{command:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    )
}

/// Asks `done` every [`POLL`] until it says yes; an error from it counts as a no, and
/// is reported if the wait times out after [`WAIT`].
fn wait_until(what: &str, mut done: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    loop {
        let last_error = match done() {
            Ok(true) => return Ok(()),
            Ok(false) => None,
            Err(error) => Some(error),
        };
        if Instant::now() >= deadline {
            let cause = last_error.map_or(String::new(), |error| format!(" (last error: {error})"));
            return Err(format!("timed out after {WAIT:?} waiting for {what}{cause}").into());
        }
        thread::sleep(POLL);
    }
}
