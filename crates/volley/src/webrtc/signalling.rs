//! Volley's built-in signalling messages: small JSON objects that carry
//! WebRTC descriptions and candidates over a WebSocket, in text frames.
//!
//! The objects are the browser's own: a description is what
//! `RTCPeerConnection.localDescription` serialises to, a candidate what
//! `RTCIceCandidate.toJSON()` gives, each with a `"type"` saying which.
//! A browser page needs no more than `JSON.stringify` and `JSON.parse`.
//!
//! | `"type"` | direction | other members |
//! |---|---|---|
//! | `"offer"` | either | `"sdp"`: the offer |
//! | `"answer"` | either | `"sdp"`: the answer |
//! | `"candidate"` | either | `"candidate"` (`""` = end of candidates), `"sdpMid"`, `"sdpMLineIndex"`, `"usernameFragment"` (optional) |
//! | `"bye"` | either | none: stop negotiating |
//! | `"welcome"` | Volley → browser | `"id"`: the browser's peer id; `"channels"`: the custom channels' transfer modes as Godot numbers them (0 unreliable, 1 unreliable-ordered, 2 reliable) |
//! | `"error"` | Volley → browser | `"message"`: why the last message was refused |
//!
//! Parsing is strict: a message longer than [`MAX_MESSAGE_LEN`], with an
//! unknown type or member, or with a member of the wrong kind is an error;
//! descriptions and candidates are then checked by the connection they go
//! to ([`signal`](super::signal)).
//!
//! ```
//! use volley::webrtc::signalling::SignalMessage;
//! use volley::webrtc::SdpKind;
//!
//! let text = r#"{"type":"offer","sdp":"v=0\r\n"}"#;
//! let SignalMessage::Description(offer) = SignalMessage::parse(text)? else { unreachable!() };
//! assert_eq!(offer.kind, SdpKind::Offer);
//! assert_eq!(SignalMessage::Description(offer).to_json(), text);
//! # Ok::<(), volley::webrtc::signalling::SignalParseError>(())
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use volley_proto::TransferMode;

use super::signal::{IceCandidate, MAX_SDP_LEN, SdpKind, SessionDescription};

/// Longest signalling message accepted, in bytes: a description of
/// [`MAX_SDP_LEN`] with its JSON escapes (a CRLF is 4 bytes escaped).
pub const MAX_MESSAGE_LEN: usize = 2 * MAX_SDP_LEN;

/// One signalling message; see the [module docs](self) for the JSON.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SignalMessage {
    /// An offer or an answer.
    Description(SessionDescription),
    /// A trickled candidate.
    Candidate(IceCandidate),
    /// The sender has no more candidates (`"candidate": ""`).
    EndOfCandidates,
    /// The sender gives the negotiation up.
    Bye,
    /// Volley's greeting on its signalling path: the id the session gave
    /// this connection and the custom channels to create.
    Welcome {
        /// The browser's peer id in the session.
        id: u32,
        /// The custom channels' modes, user channel 1 first.
        channels: Vec<TransferMode>,
    },
    /// Volley refused the last message, saying why.
    Error(String),
}

/// Godot's number for a transfer mode (`MultiplayerPeer.TransferMode`).
fn godot_mode(mode: TransferMode) -> u8 {
    match mode {
        TransferMode::Unreliable => 0,
        TransferMode::UnreliableOrdered => 1,
        TransferMode::Reliable => 2,
    }
}

fn mode_of_godot(number: u8) -> Option<TransferMode> {
    Some(match number {
        0 => TransferMode::Unreliable,
        1 => TransferMode::UnreliableOrdered,
        2 => TransferMode::Reliable,
        _ => return None,
    })
}

/// The JSON shape, as serde reads and writes it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum Wire {
    Offer {
        sdp: String,
    },
    Answer {
        sdp: String,
    },
    Candidate {
        candidate: String,
        #[serde(rename = "sdpMid", default, skip_serializing_if = "Option::is_none")]
        sdp_mid: Option<String>,
        #[serde(rename = "sdpMLineIndex", default, skip_serializing_if = "Option::is_none")]
        sdp_m_line_index: Option<u16>,
        #[serde(rename = "usernameFragment", default, skip_serializing_if = "Option::is_none")]
        username_fragment: Option<String>,
    },
    Bye,
    Welcome {
        id: u32,
        channels: Vec<u8>,
    },
    Error {
        message: String,
    },
}

/// Why a signalling message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignalParseError {
    /// Longer than [`MAX_MESSAGE_LEN`].
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// Not valid UTF-8 (for [`SignalMessage::parse_bytes`]).
    NotText,
    /// Not JSON, or not one of the messages: what the parser said.
    Invalid(String),
}

impl fmt::Display for SignalParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { len } => {
                write!(f, "signalling message of {len} bytes is over {MAX_MESSAGE_LEN}")
            }
            Self::NotText => f.write_str("signalling message is not UTF-8 text"),
            Self::Invalid(why) => write!(f, "invalid signalling message: {why}"),
        }
    }
}

impl std::error::Error for SignalParseError {}

impl SignalMessage {
    /// Reads one message.
    ///
    /// # Errors
    ///
    /// A [`SignalParseError`].
    pub fn parse(text: &str) -> Result<Self, SignalParseError> {
        if text.len() > MAX_MESSAGE_LEN {
            return Err(SignalParseError::TooLong { len: text.len() });
        }
        let wire: Wire =
            serde_json::from_str(text).map_err(|e| SignalParseError::Invalid(e.to_string()))?;
        Ok(match wire {
            Wire::Offer { sdp } => {
                Self::Description(SessionDescription { kind: SdpKind::Offer, sdp })
            }
            Wire::Answer { sdp } => {
                Self::Description(SessionDescription { kind: SdpKind::Answer, sdp })
            }
            Wire::Candidate { candidate, .. } if candidate.is_empty() => Self::EndOfCandidates,
            Wire::Candidate { candidate, sdp_mid, sdp_m_line_index, .. } => {
                Self::Candidate(IceCandidate { candidate, sdp_mid, sdp_m_line_index })
            }
            Wire::Bye => Self::Bye,
            Wire::Welcome { id, channels } => {
                let channels = channels.into_iter().map(mode_of_godot).collect::<Option<_>>();
                let channels = channels.ok_or_else(|| {
                    SignalParseError::Invalid("a channel mode is not 0, 1 or 2".to_owned())
                })?;
                Self::Welcome { id, channels }
            }
            Wire::Error { message } => Self::Error(message),
        })
    }

    /// Reads one message from bytes that must be UTF-8.
    ///
    /// # Errors
    ///
    /// A [`SignalParseError`].
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, SignalParseError> {
        if bytes.len() > MAX_MESSAGE_LEN {
            return Err(SignalParseError::TooLong { len: bytes.len() });
        }
        Self::parse(std::str::from_utf8(bytes).map_err(|_| SignalParseError::NotText)?)
    }

    /// The message as JSON text.
    pub fn to_json(&self) -> String {
        let wire = match self.clone() {
            Self::Description(SessionDescription { kind: SdpKind::Offer, sdp }) => {
                Wire::Offer { sdp }
            }
            Self::Description(SessionDescription { kind: SdpKind::Answer, sdp }) => {
                Wire::Answer { sdp }
            }
            Self::Candidate(IceCandidate { candidate, sdp_mid, sdp_m_line_index }) => {
                Wire::Candidate { candidate, sdp_mid, sdp_m_line_index, username_fragment: None }
            }
            Self::EndOfCandidates => Wire::Candidate {
                candidate: String::new(),
                sdp_mid: None,
                sdp_m_line_index: None,
                username_fragment: None,
            },
            Self::Bye => Wire::Bye,
            Self::Welcome { id, channels } => {
                Wire::Welcome { id, channels: channels.into_iter().map(godot_mode).collect() }
            }
            Self::Error(message) => Wire::Error { message },
        };
        // Strings and integers only: serialising cannot fail.
        serde_json::to_string(&wire).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SignalMessage, SignalParseError> {
        SignalMessage::parse(text)
    }

    #[test]
    fn browser_shapes_parse() {
        let candidate = r#"{"type":"candidate","candidate":"candidate:1 1 udp 2113937151 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}"#;
        assert_eq!(
            parse(candidate),
            Ok(SignalMessage::Candidate(IceCandidate {
                candidate: "candidate:1 1 udp 2113937151 127.0.0.1 5000 typ host".to_owned(),
                sdp_mid: Some("0".to_owned()),
                sdp_m_line_index: Some(0),
            }))
        );
        let bare = r#"{"type":"candidate","candidate":"candidate:x","sdpMid":null}"#;
        assert!(matches!(parse(bare), Ok(SignalMessage::Candidate(c)) if c.sdp_mid.is_none()));
        assert_eq!(
            parse(r#"{"type":"candidate","candidate":""}"#),
            Ok(SignalMessage::EndOfCandidates)
        );
        assert_eq!(parse(r#"{"type":"bye"}"#), Ok(SignalMessage::Bye));
        assert_eq!(
            parse(r#"{"sdp":"x","type":"answer"}"#),
            Ok(SignalMessage::Description(SessionDescription {
                kind: SdpKind::Answer,
                sdp: "x".to_owned()
            }))
        );
        assert_eq!(
            parse(r#"{"type":"error","message":"no"}"#),
            Ok(SignalMessage::Error("no".to_owned()))
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "{}",
            "[]",
            "null",
            r#"{"type":"offer"}"#,
            r#"{"type":"offer","sdp":7}"#,
            r#"{"type":"offer","sdp":"x","extra":1}"#,
            r#"{"type":"hello"}"#,
            r#"{"type":"candidate","candidate":"c","sdpMLineIndex":-1}"#,
            r#"{"type":"candidate","candidate":"c","sdpMLineIndex":70000}"#,
            r#"{"type":"bye"} trailing"#,
            r#"{"type":"Offer","sdp":"x"}"#,
            r#"{"type":"welcome","id":5,"channels":[3]}"#,
            r#"{"type":"welcome","id":-5,"channels":[]}"#,
        ] {
            assert!(matches!(parse(bad), Err(SignalParseError::Invalid(_))), "{bad:?}");
        }
        let long = format!(r#"{{"type":"offer","sdp":"{}"}}"#, "a".repeat(MAX_MESSAGE_LEN));
        assert!(matches!(parse(&long), Err(SignalParseError::TooLong { .. })));
        assert_eq!(SignalMessage::parse_bytes(&[0xff, 0xfe]), Err(SignalParseError::NotText));
    }

    #[test]
    fn every_message_round_trips() {
        let messages = [
            SignalMessage::Description(SessionDescription {
                kind: SdpKind::Offer,
                sdp: "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n".to_owned(),
            }),
            SignalMessage::Candidate(IceCandidate::new(
                "candidate:1 1 udp 1 127.0.0.1 9 typ host".to_owned(),
            )),
            SignalMessage::EndOfCandidates,
            SignalMessage::Bye,
            SignalMessage::Error("quote \" and \\ survive".to_owned()),
            SignalMessage::Welcome {
                id: 77,
                channels: vec![TransferMode::Unreliable, TransferMode::Reliable],
            },
        ];
        for message in messages {
            assert_eq!(parse(&message.to_json()), Ok(message.clone()), "{}", message.to_json());
        }
        assert_eq!(SignalMessage::Bye.to_json(), r#"{"type":"bye"}"#);
        let welcome =
            SignalMessage::Welcome { id: 9, channels: vec![TransferMode::UnreliableOrdered] };
        assert_eq!(welcome.to_json(), r#"{"type":"welcome","id":9,"channels":[1]}"#);
        assert_eq!(
            SignalMessage::EndOfCandidates.to_json(),
            r#"{"type":"candidate","candidate":""}"#
        );
    }

    #[test]
    fn errors_explain_themselves() {
        assert_eq!(
            SignalParseError::TooLong { len: 70000 }.to_string(),
            format!("signalling message of 70000 bytes is over {MAX_MESSAGE_LEN}")
        );
        assert_eq!(SignalParseError::NotText.to_string(), "signalling message is not UTF-8 text");
    }
}
