//! The bound on concurrent detection exports: a few slots per tenant on each
//! instance (`CAMET_EXPORT_MAX_CONCURRENT`). A streamed export lives as long
//! as its client keeps reading, reading a page from the database now and
//! then; without a bound one tenant could open exports until the pools and
//! the CPU are theirs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::error::{AppError, AppResult};

/// Seconds a refused client is asked to wait: about what a small export takes.
const RETRY_AFTER_SECS: u64 = 10;

/// Export slots of every tenant seen so far (one small entry per tenant).
#[derive(Debug)]
pub struct ExportSlots {
    per_tenant: usize,
    tenants: Mutex<HashMap<i32, Arc<Semaphore>>>,
}

/// A taken slot; dropping it (when the export's body ends or its client goes
/// away) frees the slot.
#[derive(Debug)]
pub struct ExportSlot {
    _permit: OwnedSemaphorePermit,
}

impl ExportSlots {
    /// `per_tenant` concurrent exports for each tenant.
    pub fn new(per_tenant: u32) -> Self {
        Self {
            per_tenant: usize::try_from(per_tenant).unwrap_or(usize::MAX).max(1),
            tenants: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one of the tenant's slots without waiting: a client over the
    /// bound gets a 429 at once rather than a request hanging in a queue.
    pub fn try_take(&self, tenant_id: i32) -> AppResult<ExportSlot> {
        let semaphore = {
            // A panic while holding this lock cannot leave the map half
            // changed, so a poisoned lock is still usable.
            let mut tenants = self.tenants.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            tenants
                .entry(tenant_id)
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_tenant)))
                .clone()
        };
        match semaphore.try_acquire_owned() {
            Ok(permit) => Ok(ExportSlot { _permit: permit }),
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => Err(AppError::RateLimited {
                message: format!(
                    "{} exports of this tenant are running already; retry when one has finished",
                    self.per_tenant
                ),
                retry_after_secs: RETRY_AFTER_SECS,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_gets_its_slots_and_no_more_and_a_freed_slot_is_taken_again() {
        let slots = ExportSlots::new(2);
        let first = slots.try_take(1).expect("first slot");
        let _second = slots.try_take(1).expect("second slot");
        let refused = slots.try_take(1).expect_err("over the bound");
        assert_eq!(refused.status(), 429);
        // Another tenant has slots of its own.
        let _other = slots.try_take(2).expect("other tenant");
        drop(first);
        slots.try_take(1).expect("a freed slot");
    }
}
