//! Live monitoring (issue 15): each line's state now, the event stream
//! every client may hold (`/api/v1/stream`), alert rules and their firings,
//! and what is delivered when something happens.
//!
//! - [`event`]: the events and their server-sent-event frames.
//! - [`bus`]: publishing, fan-out across instances (Redis pub/sub or one
//!   process), the backlog behind `Last-Event-ID`, bounded client queues.
//! - [`classify`]: pure: a line's state from its plan and last output;
//!   shift to date; shift ends.
//! - [`state`]: observing lines, storing and diffing their states.
//! - [`alerts`]: rules (CRUD) and firings (fire once, clear, acknowledge).
//! - [`evaluator`]: the leased periodic work that publishes changes.
//! - [`deliveries`]: what each event becomes outside (webhooks, e-mail).
//!
//! Takes connections, the configuration cache and the bus, never the
//! application state or the web framework.

pub mod alerts;
pub mod bus;
pub mod classify;
pub mod deliveries;
pub mod evaluator;
pub mod event;
pub mod state;
