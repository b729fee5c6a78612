//! The tracing events a test thread emits, collected for assertions.

use super::*;

/// A tracing event: its name and its fields, rendered.
pub(crate) type Traced = (String, std::collections::BTreeMap<String, String>);

/// Collects the tracing events of the test thread that installed it (see [`collecting`]).
#[derive(Clone, Default)]
pub(crate) struct Events(pub(crate) std::sync::Arc<std::sync::Mutex<Vec<Traced>>>);

impl Events {
    /// The fields of every event named `name`, in order.
    pub(crate) fn named(&self, name: &str) -> Vec<std::collections::BTreeMap<String, String>> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, fields)| fields.clone())
            .collect()
    }
}

struct Fields(std::collections::BTreeMap<String, String>);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

std::thread_local! {
    static SINK: std::cell::RefCell<Option<Events>> = const { std::cell::RefCell::new(None) };
}

/// The process-wide subscriber, routing each event to its thread's [`Events`]. A global
/// subscriber, not a scoped one: tracing caches each call site's interest, and a call site
/// first reached by another test thread while no scoped subscriber exists can be cached as
/// disabled, so a scoped collector would miss events depending on test order.
struct Router;

impl tracing::Subscriber for Router {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        SINK.with(|sink| {
            if let Some(events) = &*sink.borrow() {
                let mut fields = Fields(std::collections::BTreeMap::new());
                event.record(&mut fields);
                events
                    .0
                    .lock()
                    .unwrap()
                    .push((event.metadata().name().to_owned(), fields.0));
            }
        });
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

static ROUTER: LazyLock<()> = LazyLock::new(|| {
    tracing::subscriber::set_global_default(Router).unwrap();
});

/// Runs `f` with this thread's tracing events collected into `events`.
pub(crate) fn collecting<R>(events: &Events, f: impl FnOnce() -> R) -> R {
    LazyLock::force(&ROUTER);
    SINK.with(|sink| *sink.borrow_mut() = Some(events.clone()));
    let out = f();
    SINK.with(|sink| *sink.borrow_mut() = None);
    out
}
