//! The SQLite tuning settings of [`Config`]: the page cache and the memory map of each
//! connection.

use super::{invalid, Config};
use crate::error::Result;
use crate::target::Target;

/// The default [`Config::page_cache_size`], in bytes: SQLite's own (`cache_size = -2000`).
/// Larger caches (8, 32 and 64 MiB) made no read of the catalog workload faster at
/// A = 100,000 (docs/benchmarks.md), and each costs its size on every pooled connection.
pub(crate) const DEFAULT_PAGE_CACHE_SIZE: u64 = 2_048_000;

/// The default [`Config::mmap_size`], in bytes: off, SQLite's own default. A 256 MiB map
/// made title lookups faster at A = 100,000 but point reads slower at A = 2,000, where
/// the page cache holds the whole file (docs/benchmarks.md), and it turns I/O errors
/// into `SIGBUS`.
pub(crate) const DEFAULT_MMAP_SIZE: u64 = 0;

/// The largest [`Config::page_cache_size`], in KiB: SQLite reads `PRAGMA cache_size`
/// into an `int`, so a cache given in KiB (its negative form) holds at most `i32::MAX`
/// of them, about 2 TiB.
const MAX_PAGE_CACHE_KIB: u64 = i32::MAX as u64;

/// The largest [`Config::mmap_size`] the pragma holds: SQLite reads `PRAGMA mmap_size`
/// as an `i64` (and then lowers it to its compile-time cap without a word).
const MAX_MMAP_SIZE: u64 = i64::MAX as u64;

impl Config {
    /// SQLite: the most memory each pooled connection's page cache may hold, in bytes
    /// (SQLite's `PRAGMA cache_size`, which the crate sets in its KiB form,
    /// `cache_size = -N`, rounded up to whole KiB). SQLite keeps the database pages a
    /// connection has read in that connection's own cache, so a lookup that finds its
    /// b-tree pages there reads nothing from the file; the cache grows as pages are
    /// read, up to this size (SQLite's bookkeeping for each page included). Each pooled
    /// connection has a cache of its own, so the repository may hold up to this ×
    /// [`max_size`](Config::max_size). In WAL mode a connection empties its cache
    /// whenever another connection has committed since its last read, so the cache
    /// pays off on reads between writes. `0` keeps only the pages a statement is using.
    /// Must be at most `i32::MAX` KiB (about 2 TiB), the most the pragma holds.
    /// Defaults to 2,048,000 bytes, SQLite's own default (2,000 KiB): about 20 MB for
    /// the default pool of 10 connections. In the repository's catalog benchmark at
    /// 100,000 authors and 1,000,000 books (`docs/benchmarks.md`), 8, 32 and 64 MiB
    /// made no read faster.
    ///
    /// On an in-memory database the cache holds copies of pages that are in memory
    /// already, so a larger one only saves the copying. PostgreSQL has no
    /// per-connection setting like it (its cache, `shared_buffers`, is the server's)
    /// and ignores it (with a DEBUG event), as SQLite ignores
    /// [`statement_timeout`](Config::statement_timeout): it tunes speed and changes
    /// nothing the database does, so an application choosing its backend by URL alone
    /// keeps one configuration.
    ///
    /// ```
    /// # fn main() -> bookshelf::Result<()> {
    /// // Up to 32 MiB of cached pages for each of at most 4 connections: 128 MiB.
    /// let repo = bookshelf::Config::new(":memory:")
    ///     .max_size(4)
    ///     .page_cache_size(32 * 1024 * 1024)
    ///     .open()?;
    /// assert_eq!(repo.count_authors()?, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn page_cache_size(mut self, bytes: u64) -> Self {
        self.page_cache_size = bytes;
        self
    }

    /// SQLite file databases: how much of the database file each connection reads
    /// through memory-mapped I/O instead of `read` system calls, in bytes (SQLite's
    /// `PRAGMA mmap_size`); `0` turns memory-mapped I/O off. Pages within the first
    /// `bytes` of the file are then read in place from the operating system's file
    /// cache, without a system call or a copy into the connection's
    /// [page cache](Config::page_cache_size); pages still in the WAL file are read as
    /// before. The mapping takes address space, not memory of the process's own:
    /// every connection maps the same file pages, which the kernel holds once in its
    /// file cache and may reclaim.
    ///
    /// SQLite's own caveat (<https://www.sqlite.org/mmap.html>): with memory-mapped I/O
    /// an I/O error on the database file (a failing disk, a file on a network file
    /// system that goes away, a file truncated by another program) is no longer an
    /// error code but a signal (`SIGBUS`) that ends the process. SQLite lowers a larger
    /// value to its compile-time cap `SQLITE_MAX_MMAP_SIZE` without an error: in the
    /// SQLite that libsqlite3-sys bundles (3.53.2), 2,147,418,112 bytes (`0x7fff0000`,
    /// just under 2 GiB) on Linux, Windows, macOS, FreeBSD, DragonFly and Solaris, and 0
    /// (no memory map at all) on OpenBSD and elsewhere. `PRAGMA mmap_size` read back on
    /// a connection gives the size in effect. It has no effect on an in-memory database
    /// (SQLite's `memdb` VFS maps nothing) or on PostgreSQL; both ignore it (with a
    /// DEBUG event). Must be at most `i64::MAX`, the most the pragma holds.
    ///
    /// Defaults to 0 (off), SQLite's own default, chosen by measurement in the
    /// repository's catalog benchmark (`docs/benchmarks.md`). On 1,000,000 books (a
    /// file of about 200 MB, far larger than the page cache) a 256 MiB map made title
    /// lookups faster (1.10–1.21× raw rusqlite's rate, against 1.06× without it); on a
    /// database the page cache holds whole it made point reads slower (0.67× against
    /// 0.77× rusqlite at 2,000 authors): in SQLite's source a reading connection gives
    /// each page it fetches through the map a fresh header, so the b-tree decodes the
    /// page again on every read, where a page in the cache is decoded once. Turn it on
    /// for a
    /// database much larger than the page cache whose reads are lookups, and whose file
    /// sits on a local disk. Each connection maps the file for itself, up to `bytes` or
    /// the file's size: with the default pool of 10 and 256 MiB, up to 2.5 GiB of
    /// address space, and no memory beyond the kernel's file cache.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = std::env::temp_dir().join(format!("bookshelf-mmap-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join("app.db");
    /// // Reads of the first 256 MiB of the file go through the memory map.
    /// let repo = bookshelf::Config::for_path(&path)
    ///     .mmap_size(256 * 1024 * 1024)
    ///     .open()?;
    /// assert_eq!(repo.count_authors()?, 0);
    /// # drop(repo);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn mmap_size(mut self, bytes: u64) -> Self {
        self.mmap_size = bytes;
        self
    }

    pub(super) fn check_sqlite_ranges(&self) -> Result<()> {
        if page_cache_kib(self.page_cache_size) > MAX_PAGE_CACHE_KIB {
            return Err(invalid(
                "page_cache_size",
                format!(
                    "must be at most {MAX_PAGE_CACHE_KIB} KiB, got {} bytes",
                    self.page_cache_size
                ),
            ));
        }
        if self.mmap_size > MAX_MMAP_SIZE {
            return Err(invalid(
                "mmap_size",
                format!(
                    "must be at most {MAX_MMAP_SIZE} bytes, got {}",
                    self.mmap_size
                ),
            ));
        }
        Ok(())
    }

    /// A DEBUG event for each setting given explicitly that `target` ignores.
    pub(super) fn note_sqlite_settings(&self, target: &Target) {
        let ignored: &[(&str, bool)] = match target {
            Target::SqliteFile(_) => &[],
            Target::SqliteMemory => &[("mmap_size", self.mmap_size != DEFAULT_MMAP_SIZE)],
            #[cfg(feature = "postgres")]
            Target::Postgres(_) => &[
                (
                    "page_cache_size",
                    self.page_cache_size != DEFAULT_PAGE_CACHE_SIZE,
                ),
                ("mmap_size", self.mmap_size != DEFAULT_MMAP_SIZE),
            ],
            #[cfg(feature = "mysql")]
            Target::Mysql(_) => &[
                (
                    "page_cache_size",
                    self.page_cache_size != DEFAULT_PAGE_CACHE_SIZE,
                ),
                ("mmap_size", self.mmap_size != DEFAULT_MMAP_SIZE),
            ],
        };
        for (setting, _) in ignored.iter().filter(|(_, set)| *set) {
            tracing::debug!(
                target: "bookshelf",
                setting,
                "an SQLite file setting; this database has none like it and ignores it"
            );
        }
    }
}

/// `bytes` in whole KiB, a fraction counting as one: the `N` of
/// `PRAGMA cache_size = -N`.
pub(crate) fn page_cache_kib(bytes: u64) -> u64 {
    bytes.div_ceil(1024)
}
