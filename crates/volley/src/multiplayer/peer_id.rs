//! Peer identities and send targets, with Godot's integer encodings.
//!
//! Godot names peers with positive 31-bit integers (the server is always 1)
//! and addresses them with signed integers: 0 for everyone, `N` for peer `N`,
//! `-N` for everyone except `N`. [`PeerId`] and [`Target`] are those numbers
//! as types, so an invalid value cannot travel further than the conversion.

use std::fmt;
use std::num::NonZeroU32;

use rand::Rng;

/// The identity of a peer in a multiplayer session.
///
/// Valid ids are `1..=i32::MAX`: zero means "broadcast" and negative numbers
/// mean "everyone except", so neither can name a peer. The server is always
/// [`PeerId::SERVER`]; clients pick a random id with [`generate_unique_id`].
///
/// ```
/// use volley::multiplayer::PeerId;
///
/// let id = PeerId::try_from(12345_u32)?;
/// assert_eq!(u32::from(id), 12345);
/// assert!(PeerId::try_from(0_u32).is_err());
/// assert!(PeerId::try_from(-3_i32).is_err());
/// # Ok::<(), volley::multiplayer::PeerIdError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(NonZeroU32);

impl PeerId {
    /// The server's id, always 1 (Godot's `TARGET_PEER_SERVER`).
    pub const SERVER: Self = Self(NonZeroU32::MIN);

    /// The largest valid id, `i32::MAX`: ids must stay positive as `i32`.
    pub const MAX: Self = Self(NonZeroU32::MIN.saturating_add(i32::MAX.unsigned_abs() - 1));

    /// The id as an unsigned number, as it travels in ENet's CONNECT `data`
    /// and in Volley's packet headers.
    pub const fn get(self) -> u32 {
        self.0.get()
    }

    /// Whether this is [`PeerId::SERVER`].
    pub const fn is_server(self) -> bool {
        self.0.get() == Self::SERVER.0.get()
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl TryFrom<u32> for PeerId {
    type Error = PeerIdError;

    fn try_from(raw: u32) -> Result<Self, Self::Error> {
        if raw > Self::MAX.get() {
            return Err(PeerIdError::AboveMax(raw));
        }
        NonZeroU32::new(raw).map(Self).ok_or(PeerIdError::Zero)
    }
}

impl TryFrom<i32> for PeerId {
    type Error = PeerIdError;

    fn try_from(raw: i32) -> Result<Self, Self::Error> {
        if raw < 0 {
            return Err(PeerIdError::Negative(raw));
        }
        Self::try_from(raw.unsigned_abs())
    }
}

impl From<PeerId> for u32 {
    fn from(id: PeerId) -> Self {
        id.get()
    }
}

impl From<PeerId> for i32 {
    fn from(id: PeerId) -> Self {
        // Every valid id is at most i32::MAX, so the sign bit is clear.
        id.get().cast_signed()
    }
}

impl From<PeerId> for NonZeroU32 {
    fn from(id: PeerId) -> Self {
        id.0
    }
}

/// A number that is not a valid [`PeerId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerIdError {
    /// Zero is not a peer (as a target it means "broadcast").
    Zero,
    /// Negative numbers are not peers (as a target they mean "all except").
    Negative(i32),
    /// Above `i32::MAX`: the number would turn negative as a Godot `int` id.
    AboveMax(u32),
}

impl fmt::Display for PeerIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Zero => f.write_str("peer id 0 is invalid (0 means broadcast)"),
            Self::Negative(raw) => write!(f, "peer id {raw} is invalid (ids are positive)"),
            Self::AboveMax(raw) => write!(f, "peer id {raw} is invalid (ids are at most 2^31-1)"),
        }
    }
}

impl std::error::Error for PeerIdError {}

/// Picks a random client id: positive, 31-bit, never 0 or 1 (1 is the server).
///
/// A client sends this id in its CONNECT; if the server refuses it as a
/// duplicate, the client picks another one and retries.
///
/// ```
/// use rand::SeedableRng;
/// use rand::rngs::SmallRng;
/// use volley::multiplayer::{PeerId, generate_unique_id};
///
/// let id = generate_unique_id(&mut SmallRng::seed_from_u64(7));
/// assert!(id != PeerId::SERVER);
/// ```
pub fn generate_unique_id<R: Rng + ?Sized>(rng: &mut R) -> PeerId {
    // 1 + (1..i32::MAX) is uniform over 2..=i32::MAX. No rejection loop, so
    // even a degenerate generator cannot make this spin.
    PeerId(NonZeroU32::MIN.saturating_add(rng.random_range(1..PeerId::MAX.get())))
}

/// Who a packet is sent to.
///
/// Converts to and from Godot's `set_target_peer` integers:
///
/// | `i32` | `Target` |
/// |---|---|
/// | `0` (`TARGET_PEER_BROADCAST`) | [`Broadcast`](Self::Broadcast) |
/// | `1` (`TARGET_PEER_SERVER`) | `Peer(PeerId::SERVER)` |
/// | `N > 1` | `Peer(N)` |
/// | `-N` | `AllExcept(N)` |
/// | `i32::MIN` | error: `N` would be `2^31`, not a peer id |
///
/// ```
/// use volley::multiplayer::{PeerId, Target};
///
/// assert_eq!(Target::try_from(0)?, Target::Broadcast);
/// assert_eq!(Target::try_from(1)?, Target::Peer(PeerId::SERVER));
/// assert_eq!(Target::try_from(-1)?, Target::AllExcept(PeerId::SERVER));
/// assert_eq!(i32::from(Target::AllExcept(PeerId::try_from(7_u32)?)), -7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Target {
    /// Every connected peer (Godot's default target).
    #[default]
    Broadcast,
    /// One peer.
    Peer(PeerId),
    /// Every connected peer except this one.
    AllExcept(PeerId),
}

impl Target {
    /// The server alone (Godot's `TARGET_PEER_SERVER`).
    pub const SERVER: Self = Self::Peer(PeerId::SERVER);
}

impl From<PeerId> for Target {
    fn from(id: PeerId) -> Self {
        Self::Peer(id)
    }
}

impl TryFrom<i32> for Target {
    type Error = TargetError;

    fn try_from(raw: i32) -> Result<Self, Self::Error> {
        let Ok(id) = PeerId::try_from(raw.unsigned_abs()) else {
            return if raw == 0 { Ok(Self::Broadcast) } else { Err(TargetError(raw)) };
        };
        Ok(if raw > 0 { Self::Peer(id) } else { Self::AllExcept(id) })
    }
}

impl From<Target> for i32 {
    fn from(target: Target) -> Self {
        match target {
            Target::Broadcast => 0,
            Target::Peer(id) => Self::from(id),
            // A valid id is at most i32::MAX, so its negation cannot overflow.
            Target::AllExcept(id) => -Self::from(id),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Broadcast => f.write_str("everyone"),
            Self::Peer(id) => write!(f, "peer {id}"),
            Self::AllExcept(id) => write!(f, "everyone except peer {id}"),
        }
    }
}

/// An `i32` that is not a target: only `i32::MIN`, whose "all except"
/// peer would be `2^31`, outside the id range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetError(pub i32);

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "target {} names no peer (ids are 1..=2^31-1)", self.0)
    }
}

impl std::error::Error for TargetError {}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn id(raw: u32) -> PeerId {
        PeerId::try_from(raw).expect("valid test id")
    }

    #[test]
    fn server_is_one_and_max_is_i32_max() {
        assert_eq!(PeerId::SERVER.get(), 1);
        assert!(PeerId::SERVER.is_server());
        assert!(!id(2).is_server());
        assert_eq!(PeerId::MAX.get(), 0x7FFF_FFFF);
        assert_eq!(i32::from(PeerId::MAX), i32::MAX);
    }

    #[test]
    fn peer_id_from_u32_accepts_exactly_1_to_i32_max() {
        assert_eq!(PeerId::try_from(0_u32), Err(PeerIdError::Zero));
        assert_eq!(PeerId::try_from(1_u32), Ok(PeerId::SERVER));
        assert_eq!(PeerId::try_from(0x7FFF_FFFF_u32), Ok(PeerId::MAX));
        assert_eq!(PeerId::try_from(0x8000_0000_u32), Err(PeerIdError::AboveMax(0x8000_0000)));
        assert_eq!(PeerId::try_from(u32::MAX), Err(PeerIdError::AboveMax(u32::MAX)));
    }

    #[test]
    fn peer_id_from_i32_rejects_zero_and_negatives() {
        assert_eq!(PeerId::try_from(0_i32), Err(PeerIdError::Zero));
        assert_eq!(PeerId::try_from(-1_i32), Err(PeerIdError::Negative(-1)));
        assert_eq!(PeerId::try_from(i32::MIN), Err(PeerIdError::Negative(i32::MIN)));
        assert_eq!(PeerId::try_from(42_i32), Ok(id(42)));
        assert_eq!(PeerId::try_from(i32::MAX), Ok(PeerId::MAX));
    }

    #[test]
    fn peer_id_converts_back_losslessly() {
        let peer = id(12345);
        assert_eq!(u32::from(peer), 12345);
        assert_eq!(i32::from(peer), 12345);
        assert_eq!(NonZeroU32::from(peer).get(), 12345);
        assert_eq!(peer.to_string(), "12345");
    }

    #[test]
    fn peer_id_error_messages_name_the_value() {
        assert!(PeerIdError::Zero.to_string().contains("0"));
        assert!(PeerIdError::Negative(-9).to_string().contains("-9"));
        assert!(PeerIdError::AboveMax(u32::MAX).to_string().contains("4294967295"));
    }

    #[test]
    fn generated_ids_are_never_0_or_1_and_fit_31_bits() {
        let mut rng = SmallRng::seed_from_u64(0x5EED);
        let mut seen_high = false;
        for _ in 0..100_000 {
            let raw = generate_unique_id(&mut rng).get();
            assert!((2..=0x7FFF_FFFF).contains(&raw), "{raw}");
            seen_high |= raw > 0x4000_0000;
        }
        assert!(seen_high, "ids must use the full 31-bit range");
    }

    #[test]
    fn generated_ids_are_reproducible_from_a_seed() {
        let a = generate_unique_id(&mut SmallRng::seed_from_u64(99));
        let b = generate_unique_id(&mut SmallRng::seed_from_u64(99));
        let c = generate_unique_id(&mut SmallRng::seed_from_u64(100));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    /// An RNG stuck at one extreme must still yield a valid id.
    struct Constant(u64);

    impl rand::RngCore for Constant {
        fn next_u32(&mut self) -> u32 {
            self.0 as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            dst.fill(self.0 as u8);
        }
    }

    #[test]
    fn generation_terminates_with_degenerate_rng() {
        for stuck in [0, u64::MAX] {
            let raw = generate_unique_id(&mut Constant(stuck)).get();
            assert!((2..=0x7FFF_FFFF).contains(&raw), "{stuck}: {raw}");
        }
    }

    #[test]
    fn target_from_godot_integers() {
        assert_eq!(Target::try_from(0), Ok(Target::Broadcast));
        assert_eq!(Target::try_from(1), Ok(Target::SERVER));
        assert_eq!(Target::try_from(2), Ok(Target::Peer(id(2))));
        assert_eq!(Target::try_from(i32::MAX), Ok(Target::Peer(PeerId::MAX)));
        assert_eq!(Target::try_from(-1), Ok(Target::AllExcept(PeerId::SERVER)));
        assert_eq!(Target::try_from(-77), Ok(Target::AllExcept(id(77))));
        assert_eq!(Target::try_from(-i32::MAX), Ok(Target::AllExcept(PeerId::MAX)));
        assert_eq!(Target::try_from(i32::MIN), Err(TargetError(i32::MIN)));
    }

    #[test]
    fn target_round_trips_through_i32() {
        for raw in [0, 1, 2, 77, i32::MAX, -1, -2, -77, -i32::MAX] {
            let target = Target::try_from(raw).expect("valid target");
            assert_eq!(i32::from(target), raw);
        }
    }

    #[test]
    fn target_defaults_to_broadcast_and_displays() {
        assert_eq!(Target::default(), Target::Broadcast);
        assert_eq!(Target::from(id(5)), Target::Peer(id(5)));
        assert_eq!(Target::Broadcast.to_string(), "everyone");
        assert_eq!(Target::SERVER.to_string(), "peer 1");
        assert_eq!(Target::AllExcept(id(3)).to_string(), "everyone except peer 3");
        assert!(TargetError(i32::MIN).to_string().contains("-2147483648"));
    }
}
