//! [`Latch`]: a value set once and awaited by any number of tasks, on any
//! thread. A child's stop report and the outcome of its first start are
//! latches.
//!
//! It is a `OnceLock`; the `tokio::sync::Notify` that wakes its waiters (its
//! bell) is passed in, so that every latch of one child, and the other
//! changes its waiters watch, share one bell. That is far smaller than a
//! `tokio::sync::watch` channel (which carries a block of eight `Notify`s),
//! which matters with one set per supervised child. A waiter woken by
//! another change on the bell checks its value and waits again.

use std::sync::OnceLock;

use tokio::sync::Notify;

#[derive(Debug)]
pub(crate) struct Latch<T> {
    value: OnceLock<T>,
}

impl<T: Clone> Latch<T> {
    pub(crate) fn new() -> Self {
        Latch {
            value: OnceLock::new(),
        }
    }

    /// Sets the value if it is not set yet, and rings `bell`; true if this
    /// call set it.
    pub(crate) fn set(&self, value: T, bell: &Notify) -> bool {
        let first = self.value.set(value).is_ok();
        if first {
            bell.notify_waiters();
        }
        first
    }

    pub(crate) fn get(&self) -> Option<&T> {
        self.value.get()
    }

    /// The value, once set (`bell` is the one `set` rings).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future loses nothing.
    pub(crate) async fn wait(&self, bell: &Notify) -> T {
        self.wait_ref(bell).await.clone()
    }

    /// The value, once set, borrowed: for a caller that copies only part of
    /// it (`bell` is the one `set` rings). Cancel-safe.
    pub(crate) async fn wait_ref(&self, bell: &Notify) -> &T {
        loop {
            let notified = bell.notified();
            tokio::pin!(notified);
            // Registered before the check: a `set` between the check and the
            // await still wakes this task.
            notified.as_mut().enable();
            if let Some(value) = self.value.get() {
                return value;
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
        let latch = Arc::new((Latch::new(), Notify::new()));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let latch = latch.clone();
                tokio::spawn(async move { latch.0.wait(&latch.1).await })
            })
            .collect();
        tokio::task::yield_now().await;
        latch.1.notify_waiters(); // another change on the bell
        tokio::task::yield_now().await;
        assert!(latch.0.set(7, &latch.1));
        assert!(!latch.0.set(8, &latch.1), "only the first value counts");
        for waiter in waiters {
            assert_eq!(waiter.await.unwrap(), 7);
        }
        assert_eq!(
            latch.0.wait(&latch.1).await,
            7,
            "a late waiter gets it at once"
        );
    }

    #[tokio::test]
    async fn a_value_set_from_another_thread_wakes_the_waiter() {
        let latch = Arc::new((Latch::new(), Notify::new()));
        let setter = latch.clone();
        std::thread::spawn(move || setter.0.set("done", &setter.1))
            .join()
            .unwrap();
        assert_eq!(latch.0.wait(&latch.1).await, "done");
    }
}
