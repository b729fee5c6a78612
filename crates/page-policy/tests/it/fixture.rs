//! A small text format for hand-written workloads, and the renderer of a run's result.
//!
//! ```text
//! page a evidence full=40 compressed=20 structured=10 pointer=2 base=5 rc=8 pin=soft
//! page b constraint full=30 structured=12 base=7 rc=1
//! turn
//! demand a full
//! call a read_file {"path":"x"}
//! update b
//! event compaction_hard | reset | session_end | session_start s1
//! recall denied | error | empty | hit a b
//! ```
//! Page keys: costs by level, `base`, `rc`, `pin`, `min`, `session`, `sig` (tool signature as
//! `name{json}`), `dirty`, `created` and `retired` (turns). `turn` starts a new turn; lines before the first `turn` that are not
//! pages belong to turn 0.

use std::fmt::Write as _;

use page_core::{CompactionKind, PageId, Repr, SessionId, TokenCount, ToolSignature};
use page_policy::{
    Demand, Existence, LevelTokens, LifecycleEvent, Recall, RecallAnswer, Simulation, ToolCall,
    TraceEvent, WORKLOAD_SCHEMA_VERSION, Workload, WorkloadPage, WorkloadTurn,
};

fn id(s: &str) -> PageId {
    PageId::new(s).unwrap()
}

fn signature(spec: &str) -> ToolSignature {
    let brace = spec.find('{').unwrap_or(spec.len());
    let (name, args) = spec.split_at(brace);
    let args = if args.is_empty() { "{}" } else { args };
    ToolSignature::from_json_text(name, args).unwrap()
}

pub(crate) fn parse(name: &str, text: &str) -> Workload {
    let mut pages = Vec::new();
    let mut turns: Vec<WorkloadTurn> = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut words = line.split_whitespace();
        let head = words.next().unwrap();
        if head == "page" {
            let pid = id(words.next().unwrap());
            let page_type = words.next().unwrap().parse().unwrap();
            let mut page = WorkloadPage {
                id: pid,
                page_type,
                pin: None,
                min_fidelity: None,
                tokens: LevelTokens::default(),
                base_utility: 1.0,
                recompute_cost: 1.0,
                scope: None,
                session: None,
                tool_signature: None,
                dirty: false,
                exists: None,
            };
            for kv in words {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                let n = || TokenCount::new(v.parse().unwrap());
                match k {
                    "full" => page.tokens.full = Some(n()),
                    "compressed" => page.tokens.compressed = Some(n()),
                    "structured" => page.tokens.structured = Some(n()),
                    "pointer" => page.tokens.pointer = Some(n()),
                    "base" => page.base_utility = v.parse().unwrap(),
                    "rc" => page.recompute_cost = v.parse().unwrap(),
                    "pin" => page.pin = Some(serde_json::from_str(&format!("\"{v}\"")).unwrap()),
                    "min" => page.min_fidelity = Some(v.parse().unwrap()),
                    "session" => page.session = Some(SessionId::new(v).unwrap()),
                    "sig" => page.tool_signature = Some(signature(v)),
                    "dirty" => page.dirty = true,
                    "created" | "retired" => {
                        let turn: u32 = v.parse().unwrap();
                        let exists = page.exists.get_or_insert(Existence {
                            created: 0,
                            retired: None,
                        });
                        if k == "created" {
                            exists.created = turn;
                        } else {
                            exists.retired = Some(turn);
                        }
                    }
                    other => panic!("unknown page key {other}"),
                }
            }
            pages.push(page);
            continue;
        }
        if turns.is_empty() {
            turns.push(WorkloadTurn::default());
        }
        if head == "turn" {
            turns.push(WorkloadTurn::default());
            continue;
        }
        let turn = turns.last_mut().unwrap();
        let rest: Vec<&str> = words.collect();
        match head {
            "demand" => turn.demands.push(Demand {
                page: id(rest[0]),
                required_repr: rest.get(1).map(|l| l.parse::<Repr>().unwrap()),
            }),
            "call" => turn.tool_calls.push(ToolCall {
                result_page: id(rest[0]),
                signature: signature(&rest[1..].join(" ")),
            }),
            "update" => turn.updates.extend(rest.iter().map(|p| id(p))),
            "event" => turn.events.push(match rest[0] {
                "compaction_soft" => LifecycleEvent::Compaction {
                    kind: CompactionKind::Soft,
                },
                "compaction_hard" => LifecycleEvent::Compaction {
                    kind: CompactionKind::Hard,
                },
                "compaction_micro" => LifecycleEvent::Compaction {
                    kind: CompactionKind::Micro,
                },
                "reset" => LifecycleEvent::Reset,
                "session_end" => LifecycleEvent::SessionEnd,
                "session_start" => LifecycleEvent::SessionStart {
                    session: SessionId::new(rest[1]).unwrap(),
                },
                other => panic!("unknown event {other}"),
            }),
            "recall" => turn.recalls.push(Recall {
                query: "q".into(),
                answer: match rest[0] {
                    "denied" => RecallAnswer::Denied {
                        reason: "acl".into(),
                    },
                    "error" => RecallAnswer::Error {
                        reason: "timeout".into(),
                    },
                    "empty" => RecallAnswer::Empty,
                    "hit" => RecallAnswer::Hit {
                        pages: rest[1..].iter().map(|p| id(p)).collect(),
                    },
                    other => panic!("unknown recall {other}"),
                },
            }),
            other => panic!("unknown line {other}"),
        }
    }
    if turns.is_empty() {
        turns.push(WorkloadTurn::default());
    }
    Workload {
        schema_version: WORKLOAD_SCHEMA_VERSION,
        id: name.into(),
        family: "fixture".into(),
        pages,
        turns,
    }
}

/// The run rendered for review: per turn the selection and every event, then the totals.
pub(crate) fn render(sim: &Simulation) -> String {
    let mut out = String::new();
    for event in &sim.trace {
        match event {
            TraceEvent::Selection {
                turn,
                budget,
                tokens_used,
                pages,
            } => {
                let sel: Vec<String> = pages
                    .iter()
                    .map(|p| format!("{}={}", p.page, p.level))
                    .collect();
                writeln!(
                    out,
                    "t{turn} select {tokens_used}/{budget}: {}",
                    sel.join(" ")
                )
                .unwrap();
            }
            TraceEvent::Hit { turn, page, reason } => {
                writeln!(out, "t{turn} hit {page} ({})", reason.code()).unwrap();
            }
            TraceEvent::Fault {
                turn,
                page,
                kind,
                reason,
            } => {
                let page = page.as_ref().map_or("-".to_owned(), ToString::to_string);
                writeln!(out, "t{turn} FAULT {kind} {page} ({})", reason.code()).unwrap();
            }
            TraceEvent::Alert {
                turn,
                page,
                kind,
                reason,
            } => writeln!(out, "t{turn} alert {kind} {page} ({})", reason.code()).unwrap(),
            TraceEvent::Pressure {
                turn,
                page,
                level,
                reason,
            } => writeln!(out, "t{turn} pressure {page}@{level} ({})", reason.code()).unwrap(),
            TraceEvent::Boundary {
                turn,
                boundary,
                committed,
                lost,
            } => writeln!(
                out,
                "t{turn} boundary {boundary} committed={committed} lost={lost}"
            )
            .unwrap(),
            TraceEvent::SessionStart { turn, session } => {
                writeln!(out, "t{turn} session_start {session}").unwrap();
            }
        }
    }
    writeln!(
        out,
        "faults={} alerts={} hits={} thrash={:.3} pressure={} fits={}",
        sim.total_faults,
        sim.duplicate_signature_alerts,
        sim.hits,
        sim.thrash,
        sim.invariant_pressure.count,
        sim.min_fidelity_fits
    )
    .unwrap();
    out
}
