use super::*;
use crate::error::Error;

fn file(url: &str) -> std::result::Result<SqliteFile, String> {
    match Target::parse(url) {
        Ok(Target::SqliteFile(file)) => Ok(file),
        other => Err(format!("{url}: expected a file, got {other:?}")),
    }
}

fn refusal(url: &str) -> std::result::Result<String, String> {
    match Target::parse(url) {
        Err(Error::UnsupportedUrl(message)) => Ok(message),
        other => Err(format!("{url}: expected a refusal, got {other:?}")),
    }
}

#[test]
fn every_memory_form_is_the_private_in_memory_database() -> std::result::Result<(), String> {
    for url in [
        ":memory:",
        " :memory:\n",
        "sqlite::memory:",
        "sqlite://:memory:",
        "file::memory:",
        "file::memory:?cache=shared",
        "file::memory:?mode=memory&cache=private",
        "file:%3amemory%3a",
    ] {
        if Target::parse(url).ok() != Some(Target::SqliteMemory) {
            return Err(format!("{url} is not the in-memory database"));
        }
    }
    for url in [
        "file::memory:?mode=ro",
        "file::memory:?vfs=unix",
        "file::memory:?immutable=1",
    ] {
        let message = refusal(url)?;
        if !message.contains("in-memory database") {
            return Err(message);
        }
    }
    Ok(())
}

#[test]
fn paths_sqlite_urls_and_file_uris_name_the_same_file() -> std::result::Result<(), String> {
    let plain = file("data/a b%41?.db")?;
    assert_eq!(plain.path(), PathBuf::from("data/a b%41?.db"));
    for url in [
        "sqlite://data/a%20b%2541%3F.db",
        "sqlite:data/a b%2541%3f.db",
        "file:data/a%20b%2541%3F.db",
    ] {
        assert_eq!(file(url)?, plain, "{url}");
    }
    let absolute = file("/tmp/x.db")?;
    for url in [
        "sqlite:///tmp/x.db",
        "file:///tmp/x.db",
        "file://localhost/tmp/x.db",
        "file:/tmp/x.db",
    ] {
        assert_eq!(file(url)?, absolute, "{url}");
    }
    Ok(())
}

#[test]
fn one_uri_opens_the_file_with_or_without_process_exclusive() -> std::result::Result<(), String> {
    let target = file("sqlite://data/x%23y.db?mode=ro")?;
    assert_eq!(target.uri(false), "file:data/x%23y.db?mode=ro");
    assert_eq!(target.uri(true), "file:data/x%23y.db?mode=ro&vfs=unix-excl");
    assert_eq!(
        file("/tmp/a?b#c%d.db")?.uri(true),
        "file:///tmp/a%3Fb%23c%25d.db?vfs=unix-excl"
    );
    Ok(())
}

#[test]
fn forms_without_exactly_one_database_are_refused() -> std::result::Result<(), String> {
    for (url, says) in [
        ("", "empty"),
        ("  ", "empty"),
        ("sqlite://", "names no file"),
        ("sqlite:", "names no file"),
        ("file:", "names no file"),
        ("file://", "names no file"),
        ("file:?mode=rwc", "names no file"),
        ("file:x.db?mode=memory", "`:memory:`"),
        ("file:x.db?mode=memory&cache=shared", "`:memory:`"),
        ("file:/x.db?vfs=memdb", "`:memory:`"),
        ("mongodb://localhost/db", "scheme"),
        ("file://server/x.db", "host"),
        ("file:x.db#frag", "fragment"),
        ("x\0.db", "NUL"),
        ("file:x.db?mod=ro", "\"mod\""),
        ("file:x.db?mode=bogus", "mode"),
        ("file:x.db?cache=yes", "cache"),
        ("file:x.db?immutable=maybe", "immutable"),
        ("file:x.db?vfs=", "VFS"),
    ] {
        let message = refusal(url)?;
        if !message.contains(says) {
            return Err(format!("{url}: {message}"));
        }
    }
    Ok(())
}

#[test]
fn parameters_of_a_named_vfs_pass_through() -> std::result::Result<(), String> {
    let target = file("file:x.db?vfs=custom&block=4096")?;
    assert_eq!(target.uri(false), "file:x.db?vfs=custom&block=4096");
    Ok(())
}

#[test]
fn read_only_forms_do_not_create() -> std::result::Result<(), String> {
    for (url, read_only, creates) in [
        ("x.db", false, true),
        ("file:x.db?mode=rwc", false, true),
        ("file:x.db?mode=rw", false, false),
        ("file:x.db?mode=ro", true, false),
        ("file:x.db?immutable=1", true, false),
        ("file:x.db?immutable=off", false, true),
    ] {
        let target = file(url)?;
        assert_eq!(
            (target.read_only(), target.creates()),
            (read_only, creates),
            "{url}"
        );
    }
    Ok(())
}

#[test]
fn postgres_urls_need_the_feature() -> std::result::Result<(), String> {
    #[cfg(not(feature = "postgres"))]
    if !refusal("postgres://localhost/db")?.contains("`postgres` cargo feature") {
        return Err("the refusal does not name the feature".into());
    }
    #[cfg(feature = "postgres")]
    assert_eq!(
        Target::parse("postgresql://localhost/db").ok(),
        Some(Target::Postgres(ServerTarget {
            url: "postgresql://localhost/db".into(),
            transaction_pooler: false
        }))
    );
    Ok(())
}

#[test]
fn mysql_urls_need_the_feature() -> std::result::Result<(), String> {
    for url in [
        "mysql://root@127.0.0.1/test",
        "mariadb://root@127.0.0.1/test",
    ] {
        #[cfg(not(feature = "mysql"))]
        if !refusal(url)?.contains("`mysql` cargo feature") {
            return Err(format!("{url}: the refusal does not name the feature"));
        }
        #[cfg(feature = "mysql")]
        match Target::parse(url) {
            Ok(Target::Mysql(target)) => {
                assert_eq!(target.url, "mysql://root@127.0.0.1/test", "{url}");
            }
            other => return Err(format!("{url}: expected a MySQL target, got {other:?}")),
        }
    }
    Ok(())
}

#[test]
fn a_path_is_a_file_name_never_a_url() -> std::result::Result<(), String> {
    for name in [
        ":memory:",
        "file:data.db?mode=ro",
        "postgres://host/db",
        "sqlite://x",
        "%41.db",
    ] {
        match Target::file(std::path::Path::new(name)) {
            Ok(Target::SqliteFile(file)) => {
                assert_eq!(file.path(), std::path::Path::new(name), "{name}");
                assert_eq!(file.param("mode"), None, "{name}");
            }
            other => return Err(format!("{name}: expected the file, got {other:?}")),
        }
    }
    for name in ["", "a\0b"] {
        match Target::file(std::path::Path::new(name)) {
            Err(Error::UnsupportedUrl(_)) => {}
            other => return Err(format!("{name:?}: expected a refusal, got {other:?}")),
        }
    }
    Ok(())
}
