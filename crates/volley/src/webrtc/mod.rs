//! WebRTC data channels in Godot's layout, on str0m: the transport that
//! gives browsers all three transfer modes.
//!
//! - [`ChannelLayout`] is Godot's channel table: which SCTP stream carries
//!   which user channel and mode.
//! - [`RtcLink`] is one connection, sans-IO: a str0m `Rtc` with those
//!   channels, fed datagrams and time by its owner.
//! - [`RtcEndpoint`] is many links on one UDP socket: demultiplexing,
//!   the cap on negotiations, and counters of what it dropped.
//! - [`signal`] holds what signalling carries ([`SessionDescription`],
//!   [`IceCandidate`]) and how remote input is checked; [`signalling`] is
//!   Volley's JSON format for it over a WebSocket.
//!
//! str0m runs with its pure-Rust crypto backend (`rust-crypto`): DTLS,
//! SRTP and STUN integrity need no system library.

mod endpoint;
mod layout;
mod link;
pub mod signal;
pub mod signalling;

pub use endpoint::{
    EndpointConfig, EndpointError, EndpointStats, LinkId, OpenLinkError, RtcEndpoint,
};
pub use layout::{
    ChannelLayout, LayoutError, MAX_CUSTOM_CHANNELS, PartialReliability, RESERVED_STREAMS,
};
pub use link::{
    CloseReason, LinkConfig, LinkEvent, LinkPacket, LinkSendError, LinkState, LinkStats,
    MAX_MESSAGE_SIZE, RtcLink,
};
pub use signal::{IceCandidate, SdpKind, SessionDescription, SignalError};
