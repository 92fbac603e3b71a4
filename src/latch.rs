//! [`Latch`]: a value set once and awaited by any number of tasks, on any
//! thread. A child's stop report and the outcome of its first start are
//! latches.
//!
//! It is a `OnceLock` beside a `tokio::sync::Notify`: far smaller than a
//! `tokio::sync::watch` channel (which carries a block of eight `Notify`s),
//! which matters with one latch pair per supervised child.

use std::sync::OnceLock;

use tokio::sync::Notify;

#[derive(Debug)]
pub(crate) struct Latch<T> {
    value: OnceLock<T>,
    set: Notify,
}

impl<T: Clone> Latch<T> {
    pub(crate) fn new() -> Self {
        Latch {
            value: OnceLock::new(),
            set: Notify::new(),
        }
    }

    /// Sets the value if it is not set yet; true if this call set it.
    pub(crate) fn set(&self, value: T) -> bool {
        let first = self.value.set(value).is_ok();
        if first {
            self.set.notify_waiters();
        }
        first
    }

    pub(crate) fn get(&self) -> Option<&T> {
        self.value.get()
    }

    /// The value, once set.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future loses nothing.
    pub(crate) async fn wait(&self) -> T {
        loop {
            let notified = self.set.notified();
            tokio::pin!(notified);
            // Registered before the check: a `set` between the check and the
            // await still wakes this task.
            notified.as_mut().enable();
            if let Some(value) = self.value.get() {
                return value.clone();
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn every_waiter_gets_the_first_value_set() {
        let latch = Arc::new(Latch::new());
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let latch = latch.clone();
                tokio::spawn(async move { latch.wait().await })
            })
            .collect();
        tokio::task::yield_now().await;
        assert!(latch.set(7));
        assert!(!latch.set(8), "only the first value counts");
        for waiter in waiters {
            assert_eq!(waiter.await.unwrap(), 7);
        }
        assert_eq!(latch.wait().await, 7, "a late waiter gets it at once");
    }

    #[tokio::test]
    async fn a_value_set_from_another_thread_wakes_the_waiter() {
        let latch = Arc::new(Latch::new());
        let setter = latch.clone();
        std::thread::spawn(move || setter.set("done"))
            .join()
            .unwrap();
        assert_eq!(latch.wait().await, "done");
    }
}
