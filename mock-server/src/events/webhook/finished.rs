//! The finished deliveries in the book, in the order the cap of
//! [`super::MAX_DELIVERIES`] removes them: delivered and failed ones
//! first, oldest first, and only then dropped ones. A dropped delivery
//! was never sent, so its record is the only trace of it in the log: it
//! outlives the records of deliveries that ran their course. Kept as an
//! index so that finding the oldest costs a logarithm, not a walk past
//! every unfinished delivery under the book's lock.

use std::collections::BTreeSet;

use super::DeliveryStatus;

#[derive(Debug, Default)]
pub(super) struct Finished {
    /// Delivered or failed, by id (so oldest first).
    settled: BTreeSet<u64>,
    /// Dropped past `--webhook-max-pending`, by id.
    dropped: BTreeSet<u64>,
}

impl Finished {
    /// Delivery `id` has `status` now: indexed when it is finished, out of
    /// the index when it is not (a redelivery).
    pub(super) fn note(&mut self, id: u64, status: DeliveryStatus) {
        self.remove(id);
        match status {
            DeliveryStatus::Delivered | DeliveryStatus::Failed => {
                self.settled.insert(id);
            }
            DeliveryStatus::Dropped => {
                self.dropped.insert(id);
            }
            DeliveryStatus::Pending | DeliveryStatus::InFlight => {}
        }
    }

    /// Delivery `id` left the book (or is unfinished again).
    pub(super) fn remove(&mut self, id: u64) {
        self.settled.remove(&id);
        self.dropped.remove(&id);
    }

    /// Takes the `n` finished deliveries to remove first out of the index:
    /// the oldest delivered or failed ones, then the oldest dropped ones.
    pub(super) fn take_prunable(&mut self, n: usize) -> Vec<u64> {
        let mut out = Vec::with_capacity(n.min(self.settled.len() + self.dropped.len()));
        for set in [&mut self.settled, &mut self.dropped] {
            while out.len() < n
                && let Some(id) = set.pop_first()
            {
                out.push(id);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_and_failed_go_before_dropped_and_a_redelivery_leaves_the_index() {
        let mut f = Finished::default();
        f.note(1, DeliveryStatus::Dropped);
        f.note(2, DeliveryStatus::Delivered);
        f.note(3, DeliveryStatus::Failed);
        f.note(4, DeliveryStatus::Dropped);
        f.note(5, DeliveryStatus::Delivered);
        f.note(5, DeliveryStatus::Pending);
        assert_eq!(f.take_prunable(3), [2, 3, 1]);
        assert_eq!(f.take_prunable(5), [4], "5 is unfinished again");
        assert!(f.take_prunable(1).is_empty());
    }
}
