//! `--store` URLs: `pagevm migrate` into PostgreSQL (the server at `PAGEVM_TEST_PG_URL`, as
//! `scripts/pg-test-server run` sets it) reports what it reports into SQLite (`sqlite:` URL),
//! and a second run creates nothing; an unknown scheme is refused.

use std::path::Path;
use std::process::Command;

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
