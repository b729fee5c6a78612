//! Every layout Zeph has shipped: detection from `_sqlx_migrations`, and the same conversation
//! read from the flag layout with legacy and with current `parts` JSON gives the same pages.

use pagevm_migrate::{MigrateOptions, ZephDb};

use crate::support::{CURRENT, FLAGS, LEGACY, fixture, page_table, run, store};

#[test]
fn detected_layouts() {
    let cases = [
        (
            CURRENT,
            "96/96 parts=current visibility=column compacted_at=true soft_delete=true summaries=true overflow=typed",
        ),
        (
            FLAGS,
            "72/72 parts=current visibility=flags compacted_at=true soft_delete=true summaries=true overflow=typed",
        ),
        (
            LEGACY,
            "40/40 parts=maybe_legacy visibility=flags compacted_at=true soft_delete=true summaries=true overflow=untyped",
        ),
    ];
    for (name, want) in cases {
        let s = ZephDb::open(fixture(name)).unwrap().schema().clone();
        let code = |v: &dyn erased::Code| v.code();
        let got = format!(
            "{}/{} parts={} visibility={} compacted_at={} soft_delete={} summaries={} overflow={}",
            s.migration,
            s.applied,
            code(&s.parts),
            code(&s.visibility),
            s.compacted_at,
            s.soft_delete,
            s.summaries,
            code(&s.overflow),
        );
        assert_eq!(got, want, "{name}");
        assert!(!s.newer_than_known);
    }
}

/// The serialized snake_case name of a layout enum.
mod erased {
    pub(crate) trait Code {
        fn code(&self) -> String;
    }
    impl<T: serde::Serialize> Code for T {
        fn code(&self) -> String {
            serde_json::to_value(self)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        }
    }
}

#[test]
fn legacy_and_current_parts_give_the_same_pages() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (legacy_store, flags_store) = (store(&d1), store(&d2));
    let legacy = run(LEGACY, &legacy_store, &MigrateOptions::default());
    let flags = run(FLAGS, &flags_store, &MigrateOptions::default());
    assert_eq!(legacy.legacy_rows, 12);
    assert_eq!(flags.legacy_rows, 0);
    assert_eq!(legacy.corrupt_rows + flags.corrupt_rows, 0);
    assert_eq!(
        (legacy.tool_groups, legacy.compactions, legacy.summaries),
        (5, 1, 1)
    );
    assert_eq!(
        (
            flags.tool_groups,
            flags.compactions,
            flags.summaries,
            flags.pages_created,
            flags.audit_records
        ),
        (
            legacy.tool_groups,
            legacy.compactions,
            legacy.summaries,
            legacy.pages_created,
            legacy.audit_records
        )
    );
    let pages = page_table(&legacy_store, 1);
    assert_eq!(pages, page_table(&flags_store, 1));
    insta::assert_snapshot!("flags_pages_c1", pages);
}
