//! The recorded fixture sessions replayed through Zeph's real agent loop, with Zeph's own
//! compaction and with pagevm active, measured by the side-by-side observer.

use std::path::PathBuf;

use pagevm_zeph::compare::{CompareConfig, History, Strategy, session_to_messages};
use pagevm_zeph_agent::compare_real;
use zeph_llm::provider::Role;

/// The sessions of the repository's fixture traces.
fn histories() -> Vec<History> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/traces");
    page_import::find_traces(&root)
        .unwrap()
        .files
        .iter()
        // Files that are not a trace (licences, indexes) are skipped, as the importer says.
        .filter_map(|p| page_import::import_file(p, None).ok())
        .flat_map(|t| {
            t.sessions
                .iter()
                .map(session_to_messages)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_sessions_run_through_the_real_loop_in_both_arms() {
    let histories = histories();
    assert!(!histories.is_empty());
    let config = CompareConfig {
        budget: 0,
        budget_ratio: Some(0.5),
        ..CompareConfig::default()
    };
    let (mut replayed, mut cut) = (0, 0);
    for (messages, times) in &histories {
        let run = compare_real(messages, times, &config).await.unwrap();
        let counts = &run.counts;
        // A loop that asked nothing measured has no counts.
        let of = |s: Strategy| counts.get(&s).cloned().unwrap_or_default();
        let (zeph, pagevm) = (of(Strategy::Zeph), of(Strategy::Session));
        // pagevm's loop answered every recorded model message, each request within the
        // budget and without an orphaned pair.
        let model_messages = messages
            .iter()
            .skip(1)
            .filter(|m| m.role == Role::Assistant)
            .count();
        assert_eq!(run.cut_turns[&Strategy::Session], 0);
        assert_eq!(pagevm.turns, model_messages);
        assert_eq!(
            (pagevm.over_budget, pagevm.orphaned_pairs),
            (0, 0),
            "{pagevm:?}"
        );
        // Zeph's loop is measured on what it asked before it stopped a turn, if it did.
        assert!(zeph.turns <= model_messages);
        if zeph.turns < model_messages {
            assert!(run.cut_turns[&Strategy::Zeph] > 0);
        }
        cut += run.cut_turns[&Strategy::Zeph];
        replayed += 1;
    }
    assert_eq!(replayed, histories.len());
    // At half of each history, Zeph's own loop stops turns ("context window is nearly full").
    assert!(cut > 0, "Zeph's loop never stopped a turn");
}
