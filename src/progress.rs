//! Progress of long operations (`camet generate`, `camet demo`). Domain code
//! reports steps through [`Progress`]; it never draws anything. The command
//! line draws a bar when stderr is a terminal (`cli`), everything else passes
//! [`Silent`].

/// Receives the progress of one long operation.
pub trait Progress: Send + Sync {
    /// The operation has `total` steps (`unit` names them: "days", "rows").
    fn start(&self, total: u64, unit: &'static str);
    /// `steps` more steps are done.
    fn advance(&self, steps: u64);
}

/// Reports nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _total: u64, _unit: &'static str) {}
    fn advance(&self, _steps: u64) {}
}
