//! Model-written summaries enter only through the evidence schema and invariants.

use super::*;

/// A summarizer that answers with a fixed proposal (or failure), standing in for a model.
struct Proposes(Result<page_engine::ModelSummary, String>);

impl page_engine::Summarizer for Proposes {
    fn name(&self) -> &str {
        "fixed"
    }
    fn summarize(
        &self,
        _: &page_engine::SummaryInput<'_>,
    ) -> Result<page_engine::ModelSummary, String> {
        self.0.clone()
    }
}

/// Runs one `read_file` result through an engine with `summarizer`; returns the page's
/// structured and compressed texts and the refusals.
fn summarized(summarizer: Proposes) -> (String, String, Vec<(Repr, String)>) {
    let store = MemoryStore::new();
    let mut e = engine(&store).with_summarizer(Box::new(summarizer));
    let c = call("c1", "read_file", r#"{"path":"src/a.rs"}"#);
    e.post_model(ModelOutput {
        tool_calls: vec![c.clone()],
        ..ModelOutput::default()
    })
    .unwrap();
    let output = format!(
        "src/a.rs: fn main()\nsrc/b.rs: mod b;\n{}",
        file_listing(30, "x")
    );
    let id = e.tool_after(&c.call_id, &ok(&output)).unwrap();
    let page = e.pages().get(&id).unwrap();
    let text = |r| page.representation(r).unwrap().content().to_owned();
    let refused = e
        .summary_rejections()
        .iter()
        .map(|r| (r.level, r.reason.clone()))
        .collect();
    (text(Repr::Structured), text(Repr::Compressed), refused)
}

#[test]
fn model_summaries_enter_only_through_the_checks() {
    let all_paths: Vec<String> = std::iter::once("src/a.rs".to_owned())
        .chain(std::iter::once("src/b.rs".to_owned()))
        .chain((0..14).map(|i| format!("src/x/module_{i}.rs")))
        .collect();
    let doc = |paths: &[String], status: &str| {
        serde_json::json!({"tool": "read_file", "args": {"path": "src/a.rs"}, "status": status,
                           "paths": paths, "summary": "two modules and a listing"})
    };
    let good = page_engine::ModelSummary {
        compressed: Some(
            all_paths
                .iter()
                .map(|p| format!("{p}: a handler module with one public function and its tests"))
                .chain(std::iter::once("module listing".to_owned()))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        structured: Some(doc(&all_paths, "ok")),
    };
    let (structured, compressed, refused) = summarized(Proposes(Ok(good)));
    assert_eq!(refused, vec![]);
    assert!(structured.starts_with("summary by fixed: "), "{structured}");
    assert!(compressed.ends_with("module listing"));

    let cases: [(&str, page_engine::ModelSummary, Repr, &str); 4] = [
        (
            "drops a path",
            page_engine::ModelSummary {
                structured: Some(doc(&all_paths[1..], "ok")),
                ..Default::default()
            },
            Repr::Structured,
            "drops the path(s) src/a.rs",
        ),
        (
            "wrong status",
            page_engine::ModelSummary {
                structured: Some(doc(&all_paths, "error")),
                ..Default::default()
            },
            Repr::Structured,
            "status is not \"ok\"",
        ),
        (
            "not the schema",
            page_engine::ModelSummary {
                structured: Some(serde_json::json!({"tool": "read_file"})),
                ..Default::default()
            },
            Repr::Structured,
            "lacks the field",
        ),
        (
            "costs more than full",
            page_engine::ModelSummary {
                compressed: Some(format!(
                    "{} {}",
                    all_paths.join(" "),
                    "padding ".repeat(5_000)
                )),
                ..Default::default()
            },
            Repr::Compressed,
            "more than the level above",
        ),
    ];
    let (det_structured, det_compressed, none) = summarized(Proposes(Err("timed out".into())));
    assert_eq!(
        none,
        vec![(Repr::None, "summarizer fixed: timed out".to_owned())]
    );
    for (what, proposal, level, reason) in cases {
        let (structured, compressed, refused) = summarized(Proposes(Ok(proposal)));
        assert_eq!(refused.len(), 1, "{what}: {refused:?}");
        assert_eq!(refused[0].0, level, "{what}");
        assert!(refused[0].1.contains(reason), "{what}: {}", refused[0].1);
        assert_eq!(
            structured, det_structured,
            "{what}: the deterministic form stays"
        );
        assert_eq!(
            compressed, det_compressed,
            "{what}: the deterministic form stays"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_async_handle_runs_hooks_in_order_off_the_executor() {
    let store: &'static MemoryStore = Box::leak(Box::new(MemoryStore::new()));
    let handle = page_engine::EngineHandle::spawn(engine(store)).unwrap();
    let caller = std::thread::current().id();
    let boot = handle
        .call(|e| e.add_rules(RulesKind::Bootstrap, SYSTEM, "system prompt"))
        .await
        .unwrap()
        .unwrap();
    let on = handle.call(|_| std::thread::current().id()).await.unwrap();
    assert_ne!(on, caller, "hooks run on the engine thread");
    let a = handle
        .call(|e| e.prompt_assemble(TokenCount::new(500)))
        .await
        .unwrap()
        .unwrap();
    assert!(bootstrap_present(&a, &boot));
    let engine = handle.into_engine().unwrap();
    let (report, _store) = engine.session_end().unwrap();
    assert!(
        report.pages.is_empty(),
        "the turn boundary already committed the rules"
    );
}
