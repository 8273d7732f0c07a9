//! What signalling carries: session descriptions and ICE candidates, checked
//! before they reach the WebRTC stack.
//!
//! Godot leaves signalling to the game: `WebRTCPeerConnection` emits
//! `session_description_created(type, sdp)` and `ice_candidate_created(mid,
//! index, name)`, and takes the other side's with `set_remote_description`
//! and `add_ice_candidate`. [`SessionDescription`] and [`IceCandidate`] are
//! those values; a custom signalling service moves them as it likes, and
//! Volley's built-in one moves them as JSON (see
//! [`signalling`](super::signalling)).
//!
//! Remote input is strict here: descriptions and candidates are bounded in
//! size, a description must offer the data-channel transport, and a
//! candidate must parse and be reachable from one of the local candidates
//! (a loopback address only from loopback, an IPv6 one only from IPv6), so a
//! peer cannot make Volley send checks to addresses it could never reach.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use str0m::Candidate;

/// Longest session description accepted, in bytes. A data-only offer from a
/// browser is about 1 KiB; each candidate adds about 100 bytes.
pub const MAX_SDP_LEN: usize = 16 * 1024;

/// Longest candidate line accepted, in bytes.
pub const MAX_CANDIDATE_LEN: usize = 512;

/// Whether a [`SessionDescription`] opens a negotiation or answers one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SdpKind {
    /// The first description of a negotiation (`"offer"`).
    Offer,
    /// The reply to an offer (`"answer"`).
    Answer,
}

impl SdpKind {
    /// The name browsers and Godot use: `"offer"` or `"answer"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Offer => "offer",
            Self::Answer => "answer",
        }
    }
}

impl fmt::Display for SdpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A session description: Godot's `(type, sdp)` pair, a browser's
/// `RTCSessionDescriptionInit`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionDescription {
    /// Offer or answer.
    pub kind: SdpKind,
    /// The SDP text.
    pub sdp: String,
}

/// An ICE candidate as signalling carries it: a browser's
/// `RTCIceCandidateInit`, Godot's `(media, index, name)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IceCandidate {
    /// The candidate attribute, `candidate:…` (an `a=` prefix is accepted).
    pub candidate: String,
    /// The media section it belongs to (`sdpMid`), if known.
    pub sdp_mid: Option<String>,
    /// The media section's index (`sdpMLineIndex`), if known.
    pub sdp_m_line_index: Option<u16>,
}

impl IceCandidate {
    /// A candidate of the first media section, Volley's only one.
    pub fn new(candidate: String) -> Self {
        Self { candidate, sdp_mid: Some("0".to_owned()), sdp_m_line_index: Some(0) }
    }
}

/// Why a description or candidate from signalling was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignalError {
    /// The text is longer than allowed ([`MAX_SDP_LEN`], [`MAX_CANDIDATE_LEN`]).
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The SDP does not parse, or the WebRTC stack refused it.
    BadSdp(String),
    /// The description has no data-channel (`m=application … webrtc-datachannel`)
    /// section, so it cannot carry Godot's channels.
    NoDataChannel,
    /// An offer came where an answer was due, or the other way round, or a
    /// description arrived after the negotiation was done.
    UnexpectedDescription {
        /// What was received.
        received: SdpKind,
    },
    /// The candidate does not parse (or names a host by mDNS, `….local`,
    /// which Volley does not resolve).
    BadCandidate(String),
    /// The candidate is valid but no local candidate can reach it (another
    /// address family, or loopback against non-loopback); it was ignored.
    UnreachableCandidate(SocketAddr),
    /// The connection already has as many remote candidates as allowed.
    TooManyCandidates {
        /// The limit.
        max: usize,
    },
    /// A candidate came before the remote description it belongs to, or
    /// for a connection that is already closed.
    NotNegotiating,
}

impl fmt::Display for SignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { len, max } => write!(f, "signal of {len} bytes is over {max}"),
            Self::BadSdp(why) => write!(f, "bad session description: {why}"),
            Self::NoDataChannel => f.write_str("session description has no data channel section"),
            Self::UnexpectedDescription { received } => write!(f, "unexpected {received}"),
            Self::BadCandidate(why) => write!(f, "bad ICE candidate: {why}"),
            Self::UnreachableCandidate(addr) => {
                write!(f, "ICE candidate {addr} is unreachable from the local candidates")
            }
            Self::TooManyCandidates { max } => write!(f, "more than {max} remote ICE candidates"),
            Self::NotNegotiating => f.write_str("no negotiation takes ICE candidates now"),
        }
    }
}

impl std::error::Error for SignalError {}

/// The address scopes the local candidates cover, to judge which remote
/// candidates could ever be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Reach {
    loopback_v4: bool,
    loopback_v6: bool,
    other_v4: bool,
    other_v6: bool,
}

impl Reach {
    /// The scopes of these local addresses.
    pub(crate) fn of(locals: impl IntoIterator<Item = SocketAddr>) -> Self {
        let mut reach = Self::default();
        for local in locals {
            let ip = local.ip().to_canonical();
            match (ip.is_ipv4(), ip.is_loopback()) {
                (true, true) => reach.loopback_v4 = true,
                (false, true) => reach.loopback_v6 = true,
                (true, false) => reach.other_v4 = true,
                (false, false) => reach.other_v6 = true,
            }
        }
        reach
    }

    /// Whether a local candidate could exchange datagrams with `remote`.
    pub(crate) fn reaches(self, remote: SocketAddr) -> bool {
        let ip = remote.ip().to_canonical();
        if remote.port() == 0 || ip.is_unspecified() || ip.is_multicast() {
            return false;
        }
        match (ip.is_ipv4(), ip.is_loopback()) {
            (true, true) => self.loopback_v4,
            (false, true) => self.loopback_v6,
            (true, false) => self.other_v4 && !is_broadcast(ip),
            (false, false) => self.other_v6,
        }
    }
}

fn is_broadcast(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.is_broadcast())
}

/// Parses one remote candidate and checks it against `reach`.
pub(crate) fn parse_candidate(text: &str, reach: Reach) -> Result<Candidate, SignalError> {
    if text.len() > MAX_CANDIDATE_LEN {
        return Err(SignalError::TooLong { len: text.len(), max: MAX_CANDIDATE_LEN });
    }
    let text = text.trim();
    let text = text.strip_prefix("a=").unwrap_or(text);
    let candidate =
        Candidate::from_sdp_string(text).map_err(|e| SignalError::BadCandidate(e.to_string()))?;
    let addr = candidate.addr();
    if !reach.reaches(addr) {
        return Err(SignalError::UnreachableCandidate(addr));
    }
    Ok(candidate)
}

/// A remote description made safe for the WebRTC stack: size checked, the
/// data-channel section present, and candidate lines that do not parse or
/// cannot be reached removed (counted in `ignored_candidates`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct CheckedSdp {
    pub(crate) sdp: String,
    pub(crate) candidates: usize,
    pub(crate) ignored_candidates: usize,
}

/// Checks a remote description; see [`CheckedSdp`].
pub(crate) fn check_remote_sdp(sdp: &str, reach: Reach) -> Result<CheckedSdp, SignalError> {
    if sdp.len() > MAX_SDP_LEN {
        return Err(SignalError::TooLong { len: sdp.len(), max: MAX_SDP_LEN });
    }
    let has_data_channel = sdp.lines().any(|line| {
        let line = line.trim_end();
        line.starts_with("m=application ") && line.contains("webrtc-datachannel")
    });
    if !has_data_channel {
        return Err(SignalError::NoDataChannel);
    }
    let mut checked = CheckedSdp { sdp: String::with_capacity(sdp.len()), ..Default::default() };
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(candidate) = line.strip_prefix("a=")
            && candidate.starts_with("candidate:")
        {
            if parse_candidate(candidate, reach).is_err() {
                checked.ignored_candidates += 1;
                continue;
            }
            checked.candidates += 1;
        }
        checked.sdp.push_str(line);
        checked.sdp.push_str("\r\n");
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("test address")
    }

    const LOOPBACK_OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        a=group:BUNDLE 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
        c=IN IP4 0.0.0.0\r\na=candidate:1 1 udp 2113937151 127.0.0.1 50000 typ host\r\n\
        a=candidate:2 1 udp 2113937151 192.0.2.2 50001 typ host\r\n\
        a=candidate:3 1 udp 2113937151 8a1c1e2f-0000.local 50002 typ host\r\n\
        a=mid:0\r\na=sctp-port:5000\r\n";

    #[test]
    fn loopback_reaches_loopback_only() {
        let reach = Reach::of([addr("127.0.0.1:9000")]);
        assert!(reach.reaches(addr("127.0.0.1:1")));
        assert!(reach.reaches(addr("127.9.8.7:1")));
        assert!(!reach.reaches(addr("192.0.2.2:1")));
        assert!(!reach.reaches(addr("[::1]:1")));
        assert!(!reach.reaches(addr("127.0.0.1:0")));
        let public = Reach::of([addr("192.0.2.1:9000"), addr("[2001:db8::1]:9000")]);
        assert!(public.reaches(addr("198.51.100.7:4000")));
        assert!(public.reaches(addr("[2001:db8::2]:4000")));
        assert!(!public.reaches(addr("127.0.0.1:4000")));
        assert!(!public.reaches(addr("255.255.255.255:4000")));
        assert!(!public.reaches(addr("224.0.0.1:4000")));
        assert!(!public.reaches(addr("0.0.0.0:4000")));
        let mapped = Reach::of([addr("[::ffff:127.0.0.1]:9000")]);
        assert!(mapped.reaches(addr("127.0.0.1:5")), "v4-mapped counts as IPv4");
    }

    #[test]
    fn candidates_parse_strictly() {
        let reach = Reach::of([addr("127.0.0.1:9000")]);
        let line = "candidate:1 1 udp 2113937151 127.0.0.1 50000 typ host";
        let parsed = parse_candidate(line, reach).expect("valid");
        assert_eq!(parsed.addr(), addr("127.0.0.1:50000"));
        assert!(parse_candidate(&format!("a={line}"), reach).is_ok(), "a= prefix");
        assert!(matches!(
            parse_candidate("candidate:1 1 udp 2113937151 192.0.2.2 5 typ host", reach),
            Err(SignalError::UnreachableCandidate(_))
        ));
        for bad in ["", "candidate:", "candidate:1 1 udp x 127.0.0.1 5 typ host", "hello"] {
            assert!(
                matches!(parse_candidate(bad, reach), Err(SignalError::BadCandidate(_))),
                "{bad:?}"
            );
        }
        let mdns = "candidate:3 1 udp 2113937151 8a1c1e2f-0000.local 50002 typ host";
        assert!(matches!(parse_candidate(mdns, reach), Err(SignalError::BadCandidate(_))));
        let long = "x".repeat(MAX_CANDIDATE_LEN + 1);
        assert_eq!(
            parse_candidate(&long, reach).map(|_| ()),
            Err(SignalError::TooLong { len: MAX_CANDIDATE_LEN + 1, max: MAX_CANDIDATE_LEN })
        );
    }

    #[test]
    fn remote_sdp_keeps_reachable_candidates_only() {
        let reach = Reach::of([addr("127.0.0.1:9000")]);
        let checked = check_remote_sdp(LOOPBACK_OFFER, reach).expect("valid offer");
        assert_eq!((checked.candidates, checked.ignored_candidates), (1, 2));
        assert!(checked.sdp.contains("127.0.0.1 50000"));
        assert!(!checked.sdp.contains("192.0.2.2"));
        assert!(!checked.sdp.contains(".local"));
        assert!(checked.sdp.contains("a=sctp-port:5000\r\n"));
    }

    #[test]
    fn remote_sdp_needs_a_data_channel_and_a_bound() {
        let reach = Reach::of([addr("127.0.0.1:9000")]);
        let audio_only = LOOPBACK_OFFER.replace("m=application 9 UDP/DTLS/SCTP", "m=audio 9 RTP");
        assert_eq!(check_remote_sdp(&audio_only, reach), Err(SignalError::NoDataChannel));
        let huge = format!("{LOOPBACK_OFFER}{}", "a=x\r\n".repeat(MAX_SDP_LEN));
        assert!(matches!(check_remote_sdp(&huge, reach), Err(SignalError::TooLong { .. })));
    }

    #[test]
    fn errors_explain_themselves() {
        let cases = [
            (SignalError::TooLong { len: 9, max: 4 }, "signal of 9 bytes is over 4"),
            (SignalError::NoDataChannel, "session description has no data channel section"),
            (SignalError::UnexpectedDescription { received: SdpKind::Answer }, "unexpected answer"),
            (SignalError::TooManyCandidates { max: 3 }, "more than 3 remote ICE candidates"),
            (SignalError::NotNegotiating, "no negotiation takes ICE candidates now"),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
        assert_eq!(SdpKind::Offer.to_string(), "offer");
    }
}
