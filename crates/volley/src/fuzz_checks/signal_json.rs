//! The `signal_json` target: Volley's JSON signalling messages, and the
//! checks every description and candidate in them meets before it reaches
//! str0m.

use crate::webrtc::signal::{Reach, check_remote_sdp, parse_candidate};
use crate::webrtc::signalling::SignalMessage;

/// Parses `data` as a signalling message. A message that parses must come
/// back the same from its own JSON; a description in it goes through the
/// remote-SDP checks (which keep only reachable candidate lines) and, if
/// they pass, str0m's SDP parser; a candidate through the candidate parser.
/// Nothing may panic.
pub fn signal_json(data: &[u8]) {
    let Ok(message) = SignalMessage::parse_bytes(data) else { return };
    let json = message.to_json();
    assert_eq!(SignalMessage::parse(&json).as_ref(), Ok(&message), "{json}");
    let reach = Reach::of(["127.0.0.1:9".parse().expect("address")]);
    match message {
        SignalMessage::Description(description) => {
            if let Ok(checked) = check_remote_sdp(&description.sdp, reach) {
                for line in checked.sdp.lines().filter(|l| l.starts_with("a=candidate:")) {
                    assert!(parse_candidate(line, reach).is_ok(), "kept only reachable: {line}");
                }
                let _ = str0m::change::SdpOffer::from_sdp_string(&checked.sdp);
                let _ = str0m::change::SdpAnswer::from_sdp_string(&checked.sdp);
            }
        }
        SignalMessage::Candidate(candidate) => {
            if let Ok(parsed) = parse_candidate(&candidate.candidate, reach) {
                assert!(parsed.addr().ip().is_loopback(), "only reachable candidates pass");
            }
        }
        _ => {}
    }
}
