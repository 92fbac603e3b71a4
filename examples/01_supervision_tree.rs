//! The main example: a small supervision tree doing real work. A word counter
//! and a checksummer process chunks of this file's own source while a sampler
//! reads the process's memory; the checksummer crashes on a corrupt chunk, the
//! chunks sent while it waits out its backoff are handled by its next
//! incarnation, the tree is printed before and after, and a graceful stop
//! drains every mailbox and prints its report.
//!
//! Run it with `cargo run --example 01_supervision_tree`.

#[path = "common/logging.rs"]
mod logging;

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use actix_supervisor::prelude::*;

/// Counts words across every chunk it is sent.
#[derive(Default)]
struct WordCounter {
    counts: HashMap<String, u64>,
}

impl Actor for WordCounter {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(WordCounter);

/// A chunk of text; answers the number of distinct words seen so far.
#[derive(Message)]
#[rtype(result = "usize")]
struct CountWords(String);

impl Handler<CountWords> for WordCounter {
    type Result = usize;
    fn handle(&mut self, msg: CountWords, _: &mut Context<Self>) -> usize {
        for word in msg
            .0
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            *self.counts.entry(word.to_lowercase()).or_default() += 1;
        }
        self.counts.len()
    }
}

/// Answers the most frequent words.
#[derive(Message)]
#[rtype(result = "Vec<(String, u64)>")]
struct TopWords(usize);

impl Handler<TopWords> for WordCounter {
    type Result = MessageResult<TopWords>;
    fn handle(&mut self, msg: TopWords, _: &mut Context<Self>) -> Self::Result {
        let mut words: Vec<_> = self.counts.iter().map(|(w, n)| (w.clone(), *n)).collect();
        words.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        words.truncate(msg.0);
        MessageResult(words)
    }
}

/// Computes an Adler-32 checksum per chunk; a chunk marked corrupt crashes it.
#[derive(Default)]
struct Checksummer {
    chunks: u64,
}

impl Actor for Checksummer {
    type Context = Context<Self>;
}
actix_supervisor::supervised!(Checksummer);

#[derive(Message)]
#[rtype(result = "(u64, u32)")]
struct Checksum(Vec<u8>);

impl Handler<Checksum> for Checksummer {
    type Result = MessageResult<Checksum>;
    fn handle(&mut self, msg: Checksum, _: &mut Context<Self>) -> Self::Result {
        if msg.0.starts_with(b"CORRUPT") {
            panic!("corrupt chunk of {} bytes", msg.0.len());
        }
        self.chunks += 1;
        let (mut a, mut b) = (1u32, 0u32);
        for byte in &msg.0 {
            a = (a + u32::from(*byte)) % 65521;
            b = (b + a) % 65521;
        }
        MessageResult((self.chunks, (b << 16) | a))
    }
}

/// Samples the process's resident memory every 50 ms.
#[derive(Default)]
struct Sampler {
    samples: Vec<u64>,
}

impl Actor for Sampler {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(Duration::from_millis(50), |this, _| {
            if let Some(kib) = resident_kib() {
                this.samples.push(kib);
            }
        });
    }
}
actix_supervisor::supervised!(Sampler);

#[derive(Message)]
#[rtype(result = "Option<(usize, u64)>")]
struct LatestSample;

impl Handler<LatestSample> for Sampler {
    type Result = Option<(usize, u64)>;
    fn handle(&mut self, _: LatestSample, _: &mut Context<Self>) -> Self::Result {
        self.samples.last().map(|kib| (self.samples.len(), *kib))
    }
}

fn resident_kib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4)
}

#[actix::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    logging::init("actix_supervisor=warn");
    // The panic is logged by the supervisor with the node's path; keep the
    // default hook's extra report out of the output.
    std::panic::set_hook(Box::new(|_| {}));

    let words = ChildSpec::new("words", WordCounter::default);
    let checksums = ChildSpec::new("checksums", Checksummer::default)
        .restart(RestartPolicy::OnFailure)
        .backoff(Backoff::new(Duration::from_millis(200), Duration::from_secs(5)).seed(1));
    let sampler = ChildSpec::new("sampler", Sampler::default).restart(RestartPolicy::Always);
    let (words_addr, checksums_addr, sampler_addr) =
        (words.address(), checksums.address(), sampler.address());
    // A handle is the address plus stop-aware, counted sends.
    let words_handle = words.handle();
    let app = SupervisorActor::builder("app")
        .child(words)
        .child(checksums)
        .child(sampler)
        .start()?;
    println!("started:\n{}", app.send(Inspect).await?);

    let source = include_str!("01_supervision_tree.rs");
    let chunks: Vec<&str> = source.split("\n\n").collect();
    for chunk in &chunks[..chunks.len() / 2] {
        words_addr.send(CountWords(chunk.to_string())).await?;
        checksums_addr
            .send(Checksum(chunk.as_bytes().to_vec()))
            .await?;
    }

    println!("sending a corrupt chunk to /app/checksums ...");
    let crashed = checksums_addr.send(Checksum(b"CORRUPT!".to_vec())).await;
    println!("  the sender got: {crashed:?}");
    println!(
        "while it waits out its backoff:\n{}",
        app.send(Inspect).await?
    );

    // Sent during the backoff through the same address: they wait in the
    // mailbox and the next incarnation, built fresh by the factory, handles them.
    let pending: Vec<_> = chunks[chunks.len() / 2..]
        .iter()
        .map(|chunk| checksums_addr.send(Checksum(chunk.as_bytes().to_vec())))
        .collect();
    for chunk in &chunks[chunks.len() / 2..] {
        words_addr.send(CountWords(chunk.to_string())).await?;
    }
    let mut last = (0, 0);
    for reply in pending {
        last = reply.await?;
    }
    println!(
        "the new incarnation checksummed {} chunks, the last one {:08x}",
        last.0, last.1
    );

    let top = words_addr.send(TopWords(5)).await?;
    println!("most frequent words in this example's source: {top:?}");
    if let Some((samples, kib)) = sampler_addr.send(LatestSample).await? {
        println!("memory sampled {samples} times, now {kib} KiB resident");
    }

    println!("\nthe tree now:\n{}", app.send(Inspect).await?);

    // A graceful stop: each child drains its mailbox (children that do not
    // depend on each other in parallel), and the report says what each did.
    let report = app.send(Stop).await?;
    println!("stopped:\n{report}");
    let refused = words_handle.do_send(CountWords("too late".into()));
    println!("a message sent after the stop: {}", refused.unwrap_err());
    Ok(())
}
