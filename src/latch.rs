//! [`Latch`]: a value set once and awaited by any number of tasks, on any
//! thread. A child's stop report and the outcome of its first start are
//! latches.
//!
//! It is a `OnceLock` (or, for a value that is boxed anyway, a
//! [`OnceBox`]: 8 bytes instead of 16, which matters in a structure kept
//! per child); the `tokio::sync::Notify` that wakes its waiters (its bell)
//! is passed in, so that every latch of one child, and the other changes
//! its waiters watch, share one bell. That is far smaller than a
//! `tokio::sync::watch` channel (which carries a block of eight `Notify`s),
//! which matters with one set per supervised child. A waiter woken by
//! another change on the bell checks its value and waits again.

use std::sync::OnceLock;

use once_cell::race::OnceBox;
use tokio::sync::Notify;

/// Where a latch keeps its value: set at most once, read by reference.
pub(crate) trait Slot: Default {
    /// What is read.
    type Value;
    /// What is put in: the value, or its box.
    type Input;
    /// Puts `value` in if the slot is empty; true if this call did.
    fn put(&self, value: Self::Input) -> bool;
    fn get(&self) -> Option<&Self::Value>;
}

impl<T> Slot for OnceLock<T> {
    type Value = T;
    type Input = T;
    fn put(&self, value: T) -> bool {
        self.set(value).is_ok()
    }
    fn get(&self) -> Option<&T> {
        OnceLock::get(self)
    }
}

impl<T> Slot for OnceBox<T> {
    type Value = T;
    type Input = Box<T>;
    fn put(&self, value: Box<T>) -> bool {
        self.set(value).is_ok()
    }
    fn get(&self) -> Option<&T> {
        OnceBox::get(self)
    }
}

/// A value set once, kept in a `OnceLock`.
pub(crate) type Latch<T> = SlotLatch<OnceLock<T>>;

/// A boxed value set once, kept as one pointer.
pub(crate) type BoxLatch<T> = SlotLatch<OnceBox<T>>;

#[derive(Debug, Default)]
pub(crate) struct SlotLatch<S> {
    value: S,
}

impl<S: Slot> SlotLatch<S> {
    pub(crate) fn new() -> Self {
        SlotLatch {
            value: S::default(),
        }
    }

    /// Sets the value if it is not set yet, and rings `bell`; true if this
    /// call set it.
    pub(crate) fn set(&self, value: S::Input, bell: &Notify) -> bool {
        let first = self.value.put(value);
        if first {
            bell.notify_waiters();
        }
        first
    }

    pub(crate) fn get(&self) -> Option<&S::Value> {
        self.value.get()
    }

    /// The value, once set (`bell` is the one `set` rings).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future loses nothing.
    pub(crate) async fn wait(&self, bell: &Notify) -> S::Value
    where
        S::Value: Clone,
    {
        self.wait_ref(bell).await.clone()
    }

    /// The value, once set, borrowed: for a caller that copies only part of
    /// it (`bell` is the one `set` rings). Cancel-safe.
    pub(crate) async fn wait_ref(&self, bell: &Notify) -> &S::Value {
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

    #[tokio::test]
    async fn a_boxed_value_is_kept_in_one_pointer_and_set_once() {
        assert_eq!(
            std::mem::size_of::<BoxLatch<u64>>(),
            std::mem::size_of::<usize>()
        );
        let latch = Arc::new((BoxLatch::new(), Notify::new()));
        let waiter = {
            let latch = latch.clone();
            tokio::spawn(async move { latch.0.wait(&latch.1).await })
        };
        tokio::task::yield_now().await;
        assert!(latch.0.set(Box::new(3_u64), &latch.1));
        assert!(
            !latch.0.set(Box::new(4), &latch.1),
            "only the first value counts"
        );
        assert_eq!(waiter.await.unwrap(), 3);
        assert_eq!(latch.0.get(), Some(&3));
    }
}
