//! The events of the live stream and their wire form (server-sent events).

use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A line's state changed (`running`, `stopped`, `unplanned`, `no_data`).
    LineState,
    /// A line stopped for longer than its downtime threshold in planned time.
    DowntimeStarted,
    /// A stop ended: output again, or planned time over.
    DowntimeEnded,
    /// Detections stored by an ingest, counted per minute and area class.
    Production,
    /// Shift-to-date OEE of a line.
    Kpi,
    /// An alert rule fired.
    Alert,
    /// A shift occurrence ended on a line (with its report).
    ShiftEnded,
}

impl EventKind {
    /// The SSE `event:` name.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::LineState => "line_state",
            EventKind::DowntimeStarted => "downtime_started",
            EventKind::DowntimeEnded => "downtime_ended",
            EventKind::Production => "production",
            EventKind::Kpi => "kpi",
            EventKind::Alert => "alert",
            EventKind::ShiftEnded => "shift_ended",
        }
    }
}

/// One event of a tenant, with the id every instance gives it alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveEvent {
    /// Increasing across instances (see [`super::bus`]); `Last-Event-ID` names it.
    pub id: u64,
    /// Whose it is: a stream only ever sees its caller's tenant.
    pub tenant_id: i32,
    /// What happened.
    pub kind: EventKind,
    /// The JSON payload (always an object).
    pub data: serde_json::Value,
}

impl LiveEvent {
    /// The event as one SSE frame. `data` is compact JSON, so it holds no
    /// newline that could end the frame early or forge another field.
    pub fn frame(&self) -> String {
        format!("id: {}\nevent: {}\ndata: {}\n\n", self.id, self.kind.name(), self.data)
    }
}

/// An SSE comment line: ignored by clients, keeps proxies from closing an
/// idle connection.
pub const HEARTBEAT: &str = ": keep-alive\n\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_one_event_whatever_the_payload_holds() {
        let event = LiveEvent {
            id: 42,
            tenant_id: 1,
            kind: EventKind::DowntimeStarted,
            data: serde_json::json!({"note": "two\nlines\r\n\nid: 7"}),
        };
        let frame = event.frame();
        assert_eq!(frame.matches("\n\n").count(), 1, "{frame}");
        assert!(frame.ends_with("\n\n"));
        assert!(frame.starts_with("id: 42\nevent: downtime_started\ndata: {"), "{frame}");
        assert_eq!(frame.lines().filter(|l| l.starts_with("id:")).count(), 1);
    }

    #[test]
    fn kinds_name_themselves_as_serde_does() {
        for kind in [
            EventKind::LineState,
            EventKind::DowntimeStarted,
            EventKind::DowntimeEnded,
            EventKind::Production,
            EventKind::Kpi,
            EventKind::Alert,
            EventKind::ShiftEnded,
        ] {
            assert_eq!(serde_json::to_value(kind).ok(), Some(serde_json::json!(kind.name())));
        }
    }
}
