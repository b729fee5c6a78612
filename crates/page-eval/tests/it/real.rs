//! The recorded-session replay on the shipped fixtures: ClawVM, LRU and the oracle never fault;
//! with the page directory every path and command is recoverable at every budget fraction; the
//! baselines do fault; rows, traces and the report are the same on a second run.

use std::path::Path;

use page_eval::{NoProgress, REAL_FRACTIONS, report_html, run_eval, run_real};

fn sessions() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/traces")
}

#[test]
fn recorded_sessions_replay_without_clawvm_faults_and_with_full_recoverability() {
    let a = run_real(&sessions(), true, &mut NoProgress).unwrap();
    assert!(
        a.rows.len() >= 18 * 6 * REAL_FRACTIONS.len(),
        "{} rows",
        a.rows.len()
    );
    assert_eq!(a.traces.len(), a.rows.len());
    for r in &a.rows {
        if matches!(r.policy.as_str(), "clawvm" | "lru" | "oracle_h3") {
            assert_eq!(
                r.total_faults, 0,
                "{} / {} {} {}",
                r.file, r.session, r.policy, r.budget
            );
        }
    }
    let baseline: u64 = a
        .rows
        .iter()
        .filter(|r| r.policy == "retrieval_only")
        .map(|r| r.total_faults)
        .sum();
    assert!(baseline > 0, "retrieval_only should fault on real sessions");
    assert_eq!(a.retention.len(), 2 * REAL_FRACTIONS.len());
    for r in a.retention.iter().filter(|r| r.directory) {
        assert_eq!(r.paths.recoverable, r.paths.total, "{r:?}");
        assert_eq!(r.commands.recoverable, r.commands.total, "{r:?}");
    }
    // Without the directory something is lost at the smallest budget: the comparison is real.
    let off = a.retention.iter().find(|r| !r.directory).unwrap();
    assert!(off.paths.recoverable < off.paths.total, "{off:?}");

    let residency = a.residency.as_ref().unwrap();
    assert!(
        residency.title.contains("ctf__pwn__warmup"),
        "{}",
        residency.title
    );
    assert!(
        residency
            .levels
            .iter()
            .all(|col| col.len() == residency.pages.len())
    );

    let b = run_real(&sessions(), true, &mut NoProgress).unwrap();
    assert_eq!(a.rows, b.rows);
    assert_eq!(a.traces, b.traces);
}

#[test]
fn the_report_holds_every_chart_and_is_deterministic() {
    let mut plan = crate::plan("report");
    plan.sessions_dir = Some(sessions());
    let eval = run_eval(&plan, &mut NoProgress).unwrap();
    let html = report_html(&eval);
    for id in [
        "chart-sweep-faults",
        "chart-sweep-thrash",
        "chart-real-faults",
        "chart-real-thrash",
        "chart-retention",
        "chart-residency",
    ] {
        assert!(html.contains(&format!("<svg id=\"{id}\"")), "{id}");
    }
    // Self-contained: no script, no stylesheet or image fetched from anywhere.
    for banned in ["<script", "http://", "https://", "<link", "<img"] {
        let hits: Vec<_> = html
            .match_indices(banned)
            .filter(|(i, _)| !html[*i..].starts_with("http://www.w3.org/2000/svg"))
            .collect();
        assert!(hits.is_empty(), "the report contains {banned}");
    }
    assert_eq!(html, report_html(&eval));
    assert!(html.contains(&format!("{} replays", eval.summary.real_sessions.len())));
}
