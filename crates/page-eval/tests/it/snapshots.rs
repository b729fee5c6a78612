//! Snapshots of what users read: the summary tables. Review changes with `UPDATE_EXPECT=1`.

use expect_test::expect_file;

#[test]
fn summary_md_snapshot() {
    expect_file!["snapshots/summary.md"].assert_eq(&page_eval::summary_md(&crate::full().summary));
}

#[test]
fn summary_csv_snapshot() {
    expect_file!["snapshots/summary.csv"]
        .assert_eq(&page_eval::summary_csv(&crate::full().summary));
}

#[test]
fn headline_snapshot() {
    expect_file!["snapshots/headline.md"]
        .assert_eq(&page_eval::headline_table(&crate::full().summary));
}
