//! The in-memory crowd for profilers: a server endpoint and N clients (each
//! 20 × 64 B reliable per tick at 30 Hz, ticks spread), run for a number of
//! one-millisecond rounds after a warm-up; prints the messages the server
//! received and the time its share took. Only `Crowd::serve` is the server's
//! work, so an instruction count of it divided by the messages is the
//! engine's cost per message, whatever the machine's load:
//!
//! ```sh
//! cargo build --release -p volley-bench --example crowd
//! valgrind --tool=callgrind --toggle-collect='*Crowd*serve*' \
//!     target/release/examples/crowd 1000 330
//! ```
//!
//! A third argument `lend` has the server take its messages through
//! `volley_proto::Lend` (lent from the datagrams) instead of as copies.

use volley_bench::crowd::{Crowd, Load};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let clients = args.next().map_or(Ok(1000), |a| a.parse())?;
    let rounds = args.next().map_or(Ok(330), |a| a.parse())?;
    let lend = args.next().is_some_and(|a| a == "lend");
    let mut crowd = Crowd::connected(Load { lend, ..Load::game(clients) })?;
    // One tick period of warm-up, then the measured rounds.
    crowd.run(33)?;
    let (before, time) = (crowd.delivered(), crowd.server_time());
    crowd.run(rounds)?;
    let messages = crowd.delivered() - before;
    let took = crowd.server_time() - time;
    println!(
        "{clients} clients, {rounds} rounds: {messages} messages, server {:.0} ns/message",
        took.as_nanos() as f64 / messages.max(1) as f64
    );
    Ok(())
}
