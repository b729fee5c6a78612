//! `[memory.compression.pagevm]` read from a Zeph configuration file: what a good section
//! gives, and the error every bad one gets, naming its key.

use page_engine::ReadOnlyTools;
use page_policy::{Paging, PolicyConfig, PolicyId, Watermarks};
use page_writeback::StoreUrl;
use pagevm_zeph_agent::{Budget, Clock, Enforcement, Settings};

#[test]
fn policy_and_watermarks_choose_how_pages_degrade() {
    let on = "[memory.compression.pagevm]\nenabled = true\nbudget = 8000\n";
    let s = Settings::from_zeph_toml(&format!(
        "{on}[memory.compression.pagevm.watermarks]\nhigh = 0.8\nmin_free = 512\n"
    ))
    .unwrap()
    .unwrap();
    // A key left out keeps its default (low 0.6, rewrite weight 1).
    let marks = Watermarks::new(0.8, 0.6, 512).unwrap();
    assert_eq!(s.policy.paging, Paging::CacheStable(marks));
    let s = Settings::from_zeph_toml(&format!("{on}policy = \"clawvm\"\n"))
        .unwrap()
        .unwrap();
    assert_eq!(s.policy, PolicyConfig::preset(PolicyId::Clawvm));
}

#[test]
fn a_section_gives_the_settings_and_off_is_the_default() {
    let text = r#"
[agent]
name = "zeph"

[memory.compression.pagevm]
enabled = true
enforcement = "active"
budget = 120000
store = "/var/lib/zeph/pagevm.db"
read_only_tools = ["read", "grep"]
"#;
    let s = Settings::from_zeph_toml(text).unwrap().unwrap();
    assert_eq!(s.enforcement, Enforcement::Active);
    assert_eq!(s.budget, Budget::Tokens(120_000));
    let clock: Clock = std::sync::Arc::new(|| 0);
    assert_eq!(s.agent_config(clock.clone(), None).unwrap().budget, 120_000);
    assert_eq!(
        s.store(":memory:").unwrap(),
        StoreUrl::Sqlite("/var/lib/zeph/pagevm.db".into())
    );
    assert_eq!(s.read_only_tools, ReadOnlyTools::new(["read", "grep"]));
    // Cache-stable paging with its default watermarks unless the section says otherwise.
    assert_eq!(s.policy, PolicyConfig::preset(PolicyId::CacheStable));
    assert_eq!(s.session_config(1).unwrap().engine.policy, s.policy);
    // No page directory unless asked for.
    assert!(!s.directory && !s.session_config(1).unwrap().engine.directory);
    let with = Settings::from_zeph_toml(&format!("{text}directory = true\n"))
        .unwrap()
        .unwrap();
    assert!(with.directory && with.session_config(1).unwrap().engine.directory);

    let minimal = "[memory.compression.pagevm]\nenabled = true\nbudget = 8000\n";
    let s = Settings::from_zeph_toml(minimal).unwrap().unwrap();
    // Without `store`, the pages live beside Zeph's database; an in-memory one has no beside.
    assert_eq!(
        s.store("/var/lib/zeph/zeph.db").unwrap(),
        StoreUrl::Sqlite("/var/lib/zeph/pagevm.db".into())
    );
    assert!(s.store(":memory:").is_err());
    // A PostgreSQL store, as `pagevm --store` names one; shown without its password.
    let pg = "[memory.compression.pagevm]\nenabled = true\nbudget = 8000\nstore = \"postgres://zeph:secret@db/pagevm\"\n";
    let store = Settings::from_zeph_toml(pg)
        .unwrap()
        .unwrap()
        .store(":memory:")
        .unwrap();
    assert_eq!(
        store,
        StoreUrl::Postgres("postgres://zeph:secret@db/pagevm".into())
    );
    assert_eq!(store.to_string(), "postgres://zeph:***@db/pagevm");
    assert_eq!(
        (s.enforcement, s.store, s.read_only_tools),
        (Enforcement::Observe, None, ReadOnlyTools::default())
    );
    // `auto`: the provider's context window less Zeph's reserve for the reply (20 %).
    let auto = "[memory.compression.pagevm]\nenabled = true\nbudget = \"auto\"\n";
    let s = Settings::from_zeph_toml(auto).unwrap().unwrap();
    assert_eq!(s.budget, Budget::Auto);
    assert_eq!(
        s.agent_config(clock.clone(), Some(200_000)).unwrap().budget,
        160_000
    );
    assert_eq!(
        s.agent_config(clock, None).unwrap_err().to_string(),
        "memory.compression.pagevm.budget: \"auto\" needs a provider that reports its context \
         window, and this one does not: set a number of tokens"
    );
    // Absent, or present and not enabled: pagevm is off.
    assert_eq!(
        Settings::from_zeph_toml("[memory]\nsqlite_path = \"z.db\"\n").unwrap(),
        None
    );
    assert_eq!(
        Settings::from_zeph_toml("[memory.compression.pagevm]\nbudget = 8000\n").unwrap(),
        None
    );
}

#[test]
fn every_bad_section_is_an_error_naming_its_key() {
    let on = "[memory.compression.pagevm]\nenabled = true\n";
    let cases = [
        (
            format!("{on}budget = 0\n"),
            "memory.compression.pagevm.budget: must be a positive number of tokens or \"auto\", got 0",
        ),
        (
            format!("{on}budget = -5\n"),
            "memory.compression.pagevm.budget: must be a positive number of tokens or \"auto\", got -5",
        ),
        (
            format!("{on}budget = \"max\"\n"),
            "memory.compression.pagevm.budget: must be a positive number of tokens or \"auto\", got \"max\"",
        ),
        (
            on.to_owned(),
            "memory.compression.pagevm.budget: required when pagevm is enabled (Zeph-counted tokens per request, or \"auto\")",
        ),
        (
            format!("{on}budget = 9000\nenforcement = \"enforce\"\n"),
            "memory.compression.pagevm: unknown variant `enforce`, expected `observe` or `active`",
        ),
        (
            format!("{on}budget = 9000\nbudgte = 1\n"),
            "memory.compression.pagevm: unknown field `budgte`, expected one of `enabled`, `enforcement`, `budget`, `store`, `read_only_tools`, `policy`, `watermarks`, `directory`",
        ),
        (
            format!("{on}budget = 9000\ndirectory = \"yes\"\n"),
            "memory.compression.pagevm.directory: must be true or false, got \"yes\"",
        ),
        (
            format!("{on}budget = 9000\nread_only_tools = [\"read\", \" \"]\n"),
            "memory.compression.pagevm.read_only_tools: a tool name is empty (\" \")",
        ),
        (
            format!("{on}budget = 9000\nstore = \"mysql://h/db\"\n"),
            "memory.compression.pagevm.store: \"mysql://h/db\": unknown store URL scheme (postgres://, postgresql://, sqlite: or a file path)",
        ),
        (
            format!("{on}budget = 9000\npolicy = \"fifo\"\n"),
            "memory.compression.pagevm.policy: unknown policy code \"fifo\" (one of retrieval_only, retrieval_only_cached, compaction_hybrid, clawvm, lru, oracle_h3, cache_stable)",
        ),
        (
            format!(
                "{on}budget = 9000\npolicy = \"lru\"\n[memory.compression.pagevm.watermarks]\nhigh = 0.8\n"
            ),
            "memory.compression.pagevm.watermarks: policy lru re-decides every level every turn and has no watermarks (they apply to cache_stable)",
        ),
        (
            format!("{on}budget = 9000\n[memory.compression.pagevm.watermarks]\nlow = 0.95\n"),
            "memory.compression.pagevm.watermarks: watermarks must satisfy 0 < low < high <= 1, got low 0.95 and high 0.9",
        ),
        (
            format!(
                "{on}budget = 9000\n[memory.compression.pagevm.watermarks]\nrewrite_weight = -1.0\n"
            ),
            "memory.compression.pagevm.watermarks: rewrite_weight must be finite and >= 0, got -1",
        ),
        (
            "[memory]\ncompression = 3\n".to_owned(),
            "memory.compression: must be a table, not integer",
        ),
    ];
    for (text, want) in cases {
        let err = Settings::from_zeph_toml(&text).unwrap_err().to_string();
        assert_eq!(err, want, "{text}");
    }
    let err = Settings::from_zeph_toml("[memory\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("the configuration is not valid TOML"),
        "{err}"
    );
}
