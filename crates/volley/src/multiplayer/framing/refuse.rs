//! Why a Volley server turned a client away, as carried in ENet's DISCONNECT.

use std::fmt;

/// Why a server refused a connection.
///
/// A Volley server does not let a refused client connect and then time out
/// (Godot's behaviour): it answers the CONNECT at once with an ENet
/// DISCONNECT whose 32-bit `data` is [`code`](Self::code). Any ENet client,
/// Godot's included, then sees the connection fail immediately; a Volley
/// client also learns why, and retries with a fresh id when
/// [`retry_with_new_id`](Self::retry_with_new_id) says so.
///
/// Every code has the top bit set. Other DISCONNECT data never does: it is
/// 0 or the sender's own id (Godot 4 sends 0 on close, Godot 3 its id), and
/// an id is at most `i32::MAX`. So a code cannot be mistaken for an id.
///
/// | reason | code |
/// |---|---|
/// | [`InvalidId`](Self::InvalidId) | `0x8000_0001` |
/// | [`DuplicateId`](Self::DuplicateId) | `0x8000_0002` |
/// | [`RefusingConnections`](Self::RefusingConnections) | `0x8000_0003` |
/// | [`ServerFull`](Self::ServerFull) | `0x8000_0004` |
/// | [`TooFewChannels`](Self::TooFewChannels) | `0x8000_0005` |
/// | [`AuthenticationFailed`](Self::AuthenticationFailed) | `0x8000_0006` |
///
/// ```
/// use volley::multiplayer::framing::RefuseReason;
///
/// assert_eq!(RefuseReason::DuplicateId.code(), 0x8000_0002);
/// assert_eq!(RefuseReason::from_code(0x8000_0002), Some(RefuseReason::DuplicateId));
/// assert_eq!(RefuseReason::from_code(0), None); // Godot 4's ordinary close
/// assert_eq!(RefuseReason::from_code(12345), None); // Godot 3's close from peer 12345
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefuseReason {
    /// The CONNECT's `data` is not a client id (0, 1, or above `i32::MAX`).
    InvalidId,
    /// Another connected client already has this id.
    DuplicateId,
    /// The server is refusing new connections
    /// (`set_refuse_new_connections(true)`).
    RefusingConnections,
    /// Every client slot is taken.
    ServerFull,
    /// The CONNECT asked for fewer ENet channels than the server's wire
    /// profile reserves (3 for relay, 2 for godot4).
    TooFewChannels,
    /// The peer did not complete Godot 4's authentication in time; sent in
    /// the DISCONNECT that drops it (after the handshake, unlike the
    /// others).
    AuthenticationFailed,
}

impl RefuseReason {
    /// The bit every refusal code has and no peer id has.
    pub const CODE_FLAG: u32 = 0x8000_0000;

    /// The value sent as the DISCONNECT's `data`.
    pub const fn code(self) -> u32 {
        Self::CODE_FLAG
            | match self {
                Self::InvalidId => 1,
                Self::DuplicateId => 2,
                Self::RefusingConnections => 3,
                Self::ServerFull => 4,
                Self::TooFewChannels => 5,
                Self::AuthenticationFailed => 6,
            }
    }

    /// The reason a DISCONNECT's `data` names, or `None` if it names none
    /// this version knows (see [`is_refusal_code`](Self::is_refusal_code)).
    pub const fn from_code(code: u32) -> Option<Self> {
        match code ^ Self::CODE_FLAG {
            1 => Some(Self::InvalidId),
            2 => Some(Self::DuplicateId),
            3 => Some(Self::RefusingConnections),
            4 => Some(Self::ServerFull),
            5 => Some(Self::TooFewChannels),
            6 => Some(Self::AuthenticationFailed),
            _ => None,
        }
    }

    /// Whether a DISCONNECT's `data` is a refusal at all, including codes
    /// added by newer Volley versions that [`from_code`](Self::from_code)
    /// does not know.
    pub const fn is_refusal_code(code: u32) -> bool {
        code & Self::CODE_FLAG != 0
    }

    /// Whether the client should connect again with a freshly generated id:
    /// true for the id problems, false when the server is closed to it.
    pub const fn retry_with_new_id(self) -> bool {
        matches!(self, Self::InvalidId | Self::DuplicateId)
    }
}

impl fmt::Display for RefuseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidId => "refused: the client id is invalid",
            Self::DuplicateId => "refused: the client id is already in use",
            Self::RefusingConnections => "refused: the server is not accepting new connections",
            Self::ServerFull => "refused: the server is full",
            Self::TooFewChannels => "refused: too few channels for the server's wire profile",
            Self::AuthenticationFailed => "refused: authentication did not complete in time",
        })
    }
}

impl std::error::Error for RefuseReason {}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [RefuseReason; 6] = [
        RefuseReason::InvalidId,
        RefuseReason::DuplicateId,
        RefuseReason::RefusingConnections,
        RefuseReason::ServerFull,
        RefuseReason::TooFewChannels,
        RefuseReason::AuthenticationFailed,
    ];

    #[test]
    fn codes_are_the_documented_values() {
        let codes = ALL.map(RefuseReason::code);
        assert_eq!(
            codes,
            [0x8000_0001, 0x8000_0002, 0x8000_0003, 0x8000_0004, 0x8000_0005, 0x8000_0006]
        );
    }

    #[test]
    fn every_code_round_trips_and_is_a_refusal() {
        for reason in ALL {
            assert_eq!(RefuseReason::from_code(reason.code()), Some(reason));
            assert!(RefuseReason::is_refusal_code(reason.code()));
        }
    }

    #[test]
    fn ids_and_zero_are_never_refusals() {
        for data in [0, 1, 2, 5, 12345, 0x7FFF_FFFF] {
            assert_eq!(RefuseReason::from_code(data), None, "{data:#x}");
            assert!(!RefuseReason::is_refusal_code(data), "{data:#x}");
        }
    }

    #[test]
    fn unknown_flagged_codes_are_refusals_without_a_reason() {
        for code in [0x8000_0000, 0x8000_0007, u32::MAX] {
            assert_eq!(RefuseReason::from_code(code), None, "{code:#x}");
            assert!(RefuseReason::is_refusal_code(code), "{code:#x}");
        }
    }

    #[test]
    fn only_id_problems_are_retried_with_a_new_id() {
        let retried = ALL.map(RefuseReason::retry_with_new_id);
        assert_eq!(retried, [true, true, false, false, false, false]);
    }

    #[test]
    fn reasons_display_distinctly() {
        let texts = ALL.map(|reason| reason.to_string());
        for (i, text) in texts.iter().enumerate() {
            assert!(text.starts_with("refused: "), "{text}");
            assert!(!texts[..i].contains(text), "{text}");
        }
    }
}
