//! `--store` URLs: `pagevm migrate` into PostgreSQL (the server at `PAGEVM_TEST_PG_URL`, as
//! `scripts/pg-test-server run` sets it) reports what it reports into SQLite (`sqlite:` URL),
//! and a second run creates nothing; `pagevm store copy` moves the PostgreSQL store into a new
//! SQLite file, once; an unknown scheme is refused.

use std::path::Path;
use std::process::Command;

fn pagevm_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_pagevm"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty(), "no progress bar without a terminal");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn migrate_json(store: &str) -> serde_json::Value {
    let zeph = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../zeph-integration/fixtures/zeph-0.21.4.db");
    let out = Command::new(env!("CARGO_BIN_EXE_pagevm"))
        .args([
            "migrate",
            "--zeph-db",
            zeph.to_str().unwrap(),
            "--store",
            store,
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{store}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn migrate_into_postgres_matches_sqlite_and_is_idempotent() {
    #[expect(
        clippy::disallowed_methods,
        reason = "the test server's URL comes from the environment, as scripts/pg-test-server sets it"
    )]
    let url = std::env::var("PAGEVM_TEST_PG_URL").unwrap_or_else(|_| {
        panic!(
            "PAGEVM_TEST_PG_URL is not set: run the tests under a throwaway PostgreSQL server, \
             `bash scripts/pg-test-server run -- cargo test -p pagevm`"
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite:{}", dir.path().join("pagevm.db").display());
    let want = migrate_json(&sqlite);
    let mut first = migrate_json(&url);
    // The server's database may hold an earlier run's pages: what is created plus what is
    // already there is the whole migration either way.
    let total = |r: &serde_json::Value| {
        r["pages_created"].as_u64().unwrap() + r["pages_existing"].as_u64().unwrap()
    };
    assert_eq!(total(&first), total(&want));
    for key in [
        "pages_created",
        "pages_existing",
        "boundaries",
        "audit_records",
    ] {
        first[key] = want[key].clone();
    }
    assert_eq!(first, want);
    let second = migrate_json(&url);
    assert_eq!(second["pages_created"], 0);
    assert_eq!(second["boundaries"], 0);

    // The PostgreSQL store copied into a new SQLite file: every boundary once, then nothing.
    let copy = format!("sqlite:{}", dir.path().join("copy.db").display());
    let counts = pagevm_json(&["store", "copy", "--from", &url, "--to", &copy, "--json"]);
    let copied = counts["boundaries_copied"].as_u64().unwrap();
    assert!(copied >= want["boundaries"].as_u64().unwrap(), "{counts}");
    assert_eq!(counts["boundaries_present"], 0);
    let again = pagevm_json(&["store", "copy", "--from", &url, "--to", &copy, "--json"]);
    assert_eq!(
        again,
        serde_json::json!({
            "boundaries_copied": 0,
            "boundaries_present": copied,
            "entries_copied": 0,
            "faults_copied": 0,
            "blobs_copied": 0,
        })
    );
    // The copy holds every page: migrating into it creates nothing.
    let into_copy = migrate_json(&copy);
    assert_eq!(into_copy["pages_created"], 0);
    assert_eq!(into_copy["pages_existing"], want["pages_created"]);

    let out = Command::new(env!("CARGO_BIN_EXE_pagevm"))
        .args(["migrate", "--zeph-db", "x.db", "--store", "mysql://h/db"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown store URL scheme"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
