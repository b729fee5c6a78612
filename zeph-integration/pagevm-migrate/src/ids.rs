//! The Zeph id scheme: pages, sessions and sources named after Zeph's own rows, so a session
//! migrated by this crate and the same session continued live by pagevm-zeph name every
//! message the same way, and a restart finds the same pages.

/// The session of a Zeph conversation: `zeph-conversation-<id>`.
#[must_use]
pub fn session(conversation: i64) -> String {
    format!("{}{conversation}", crate::SESSION_PREFIX)
}

/// The page of a message's text: `zeph-c<conversation>-m<messages.id>`.
#[must_use]
pub fn message_page(conversation: i64, message: i64) -> String {
    format!("zeph-c{conversation}-m{message}")
}

/// The page of the `k`-th tool call of a message (its use and its result; counted over the
/// message's matched tool uses and legacy tool outputs, in part order):
/// `zeph-c<conversation>-m<messages.id>-t<k>`.
#[must_use]
pub fn tool_page(conversation: i64, message: i64, k: usize) -> String {
    tool_page_of(&message_page(conversation, message), k)
}

/// The page of the `k`-th tool call of the message whose text page is `message_page`
/// (durable or provisional): `<message_page>-t<k>`.
#[must_use]
pub fn tool_page_of(message_page: &str, k: usize) -> String {
    format!("{message_page}-t{k}")
}

/// The page of a message Zeph has not given a `messages.id` yet (it saves a text message after
/// the request that carries it; an agent without a database never does):
/// `zeph-c<conversation>-d<digest>-<occurrence>`, by a digest of its content and how many
/// earlier messages of the history have the same content. No position: a restarted agent
/// reloads the history numbered and shortened, and finds the page again by content.
#[must_use]
pub fn provisional_message_page(conversation: i64, digest: &str, occurrence: usize) -> String {
    format!("zeph-c{conversation}-d{digest}-{occurrence}")
}

/// The page of a row of `summaries`: `zeph-c<conversation>-s<summaries.id>`.
#[must_use]
pub fn summary_page(conversation: i64, summary: i64) -> String {
    format!("zeph-c{conversation}-s{summary}")
}

/// The page of a `tool_overflow` row: `zeph-c<conversation>-o<uuid>`.
#[must_use]
pub fn overflow_page(conversation: i64, overflow: &str) -> String {
    format!("zeph-c{conversation}-o{overflow}")
}

/// Where a message came from, as pages record it: `zeph:conversation/<c>/message/<m>`.
#[must_use]
pub fn message_source(conversation: i64, message: i64) -> String {
    format!("zeph:conversation/{conversation}/message/{message}")
}
