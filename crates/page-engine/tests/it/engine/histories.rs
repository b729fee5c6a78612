//! Random histories (any steps, budgets and compactions) keep every invariant: budgets,
//! tool pairs, bootstrap after compaction, byte-prefix growth between degradation events, and
//! determinism.

use super::*;

/// One step of a random history.
#[derive(Debug, Clone)]
enum Step {
    User(u8),
    Tools { calls: u8, lines: u16, repeat: bool },
    Compact(u8),
    Assemble(u16),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u8..4).prop_map(Step::User),
        (1u8..4, 1u16..400, any::<bool>()).prop_map(|(calls, lines, repeat)| Step::Tools {
            calls,
            lines,
            repeat
        }),
        (0u8..3).prop_map(Step::Compact),
        (200u16..6_000).prop_map(Step::Assemble),
    ]
}

/// Every prompt of a random history: its budget, the prompt, and whether it was a degradation
/// event.
fn replay(steps: &[Step]) -> Vec<(u32, Assembly, bool)> {
    let store = MemoryStore::new();
    let mut e = engine(&store);
    e.add_rules(RulesKind::Bootstrap, SYSTEM, "system prompt")
        .unwrap();
    e.add_rules(
        RulesKind::Constraint,
        "- Keep the public API stable.",
        "AGENTS.md",
    )
    .unwrap();
    let mut out = Vec::new();
    let mut n = 0u32;
    for s in steps {
        match s {
            Step::User(k) => {
                e.user_message(&format!("please look at module {k}"))
                    .unwrap();
            }
            Step::Tools {
                calls,
                lines,
                repeat,
            } => {
                let reqs: Vec<ToolCallRequest> = (0..*calls)
                    .map(|k| {
                        n += 1;
                        let arg = if *repeat { u32::from(k) } else { n };
                        call(
                            &format!("c{n}"),
                            "read_file",
                            &format!(r#"{{"path":"f{arg}.rs"}}"#),
                        )
                    })
                    .collect();
                e.post_model(ModelOutput {
                    thinking: vec!["thinking".to_owned()],
                    tool_calls: reqs.clone(),
                    ..ModelOutput::default()
                })
                .unwrap();
                run_calls(&mut e, &reqs, |c| {
                    file_listing(usize::from(*lines), c.call_id.as_str())
                });
            }
            Step::Compact(k) => {
                let kind = [
                    CompactionKind::Micro,
                    CompactionKind::Soft,
                    CompactionKind::Hard,
                ][usize::from(*k)];
                e.compaction(kind).unwrap();
            }
            Step::Assemble(budget) => {
                let before = e.rewrites();
                let a = e
                    .prompt_assemble(TokenCount::new(u32::from(*budget)))
                    .unwrap();
                out.push((u32::from(*budget), a, e.rewrites() > before));
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_histories_keep_every_invariant(steps in prop::collection::vec(step(), 1..32)) {
        let first = replay(&steps);
        for (k, (budget, a, event)) in first.iter().enumerate() {
            prop_assert!(a.tool_pairs_intact(), "orphaned pair in {:#?}", a.messages);
            prop_assert!(a.tokens.get() <= *budget);
            let placed: u32 = a.placed.iter().map(|p| p.tokens.get()).sum();
            prop_assert_eq!(placed, a.tokens.get());
            // When every required page fit, no minimum was broken.
            if a.unmet.is_empty() {
                prop_assert!(a.faults.is_empty(), "{:?}", a.faults);
            }
            // Cache-stable paging (the default): between degradation events, whatever the
            // budget and the compactions in between, a prompt extends the previous one.
            if k > 0 && !event {
                prop_assert!(extends(&first[k - 1].1, a), "prompt {} rewrote without an event", k);
            }
        }
        prop_assert_eq!(first, replay(&steps), "same history, same prompts");
    }
}
