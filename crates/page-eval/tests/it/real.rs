//! The recorded-session replay on the shipped fixtures: ClawVM, LRU and the oracle never fault;
//! every policy is measured on the same uses and billed against the same no-compaction
//! baseline; the baselines do fault; rows, traces and the report are the same on a second run.

use std::path::Path;

use page_eval::{NoProgress, REAL_FRACTIONS, report_html, run_eval, run_real};

fn sessions() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/traces")
}

#[test]
fn recorded_sessions_replay_without_clawvm_faults_on_the_same_uses_and_baseline() {
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
    // What the recorded actions used, and what sending everything would cost, do not depend
    // on the policy: only how each policy's contexts served them does.
    let mut uses = std::collections::BTreeMap::new();
    for r in &a.rows {
        let q = &r.quality;
        let key = (r.file.clone(), r.session.clone(), r.budget);
        let measured = (
            q.hits + q.page_ins + q.faults,
            r.cost.billed_input_no_compaction.to_bits(),
        );
        let first = *uses.entry(key).or_insert(measured);
        assert_eq!(
            first, measured,
            "{} / {} {} {}",
            r.file, r.session, r.policy, r.budget
        );
    }
    assert!(
        a.rows.iter().any(|r| r.quality.page_ins > 0),
        "nothing was paged in"
    );
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
        "chart-real-billed",
        "chart-real-content-faults",
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
