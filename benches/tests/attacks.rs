//! The attack suite's short version, with hard assertions: under every
//! attack the legitimate session survives and loses nothing, the server's
//! memory stays under a stated bound and comes back, and spoofed addresses
//! never get more than three times what they sent. No timing is asserted.
//!
//! Each attack runs against a fresh Volley echo server in its own process
//! (this crate's binary), on 127.0.0.0/8 only, bounded in datagrams and
//! time. Nothing here needs root: spoofed sources are loopback addresses
//! any user may send from. The full version, side by side with ENet's C
//! library, is `volley-bench attacks` (see `docs/security.md`).

use std::path::PathBuf;
use std::sync::Mutex;

use volley_bench::attack::{Attack, Options, Outcome, Target, run_one, summary};

/// The server's resident memory may peak at most this high (it starts near
/// 3 MiB; before these bounds existed the fragment bomb took it past 100 MiB).
const PEAK_MEMORY: u64 = 48 << 20;
/// And come back to within this of where it started.
const MEMORY_LEFT: u64 = 8 << 20;
/// Bytes a spoofed address may be sent per byte it sent (QUIC's rule).
const AMPLIFICATION: f64 = 3.0;

/// One attack at a time: they would otherwise share the two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn attack(attack: Attack) -> Outcome {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let options = Options::quick(PathBuf::from(env!("CARGO_BIN_EXE_volley-bench")));
    let outcome = run_one(attack, Target::Volley, &options).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{}: {}", attack.name(), summary(&outcome));
    assert!(outcome.error.is_none(), "{outcome:?}");
    assert!(outcome.survived, "the legitimate session died: {:?}", outcome.failure);
    assert!(outcome.sent > 0);
    assert_eq!((outcome.lost, outcome.misordered), (0, 0), "every echo, in order, once");
    assert!(outcome.memory_peak <= PEAK_MEMORY, "peak memory {} bytes", outcome.memory_peak);
    assert!(
        outcome.memory_after <= outcome.memory_before + MEMORY_LEFT,
        "memory {} bytes after the attack, {} before",
        outcome.memory_after,
        outcome.memory_before
    );
    assert_eq!(outcome.forged_connections, 0, "a spoofed address became a peer");
    if outcome.unproven {
        assert!(outcome.amplification() <= AMPLIFICATION, "{:.2}×", outcome.amplification());
        let worst = outcome.worst_address.unwrap_or(0.0);
        assert!(worst <= AMPLIFICATION, "one spoofed address got {worst:.2}× what it sent");
    }
    if let Some((ended, total, _)) = outcome.sessions_ended {
        assert_eq!(ended, total, "the server ends every attacker session by itself");
    }
    outcome
}

#[test]
fn garbage() {
    attack(Attack::Garbage);
}

#[test]
fn mutations_of_real_datagrams() {
    attack(Attack::Mutations);
}

#[test]
fn connect_flood() {
    let outcome = attack(Attack::ConnectFlood);
    let late = outcome.late_connect.expect("a client tried to connect during the flood");
    assert!(late.is_ok(), "it could not: {late:?}");
}

#[test]
fn spoofed_sessions() {
    attack(Attack::SpoofedSessions);
}

#[test]
fn fragment_bomb() {
    attack(Attack::FragmentBomb);
}

#[test]
fn never_acknowledging_peers() {
    let outcome = attack(Attack::NeverAcknowledging);
    // They ping until the server ends them, or until the scale's limit:
    // ending them is the server's doing only if it came first.
    let limit = Options::quick(PathBuf::new()).scale.silent_limit;
    assert!(outcome.duration < limit, "still connected after {:?} of pings", outcome.duration);
}

#[test]
fn forged_handshake() {
    attack(Attack::ForgedHandshake);
}
