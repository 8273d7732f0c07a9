//! Godot 3's session framing: who sent a packet and who it is for travel in
//! front of every packet, and the server announces peers with system
//! messages.
//!
//! - [`RelayHeader`]: ENet's 8-byte `[source u32][target i32]` header;
//! - [`SystemMessage`]: ENet's channel-0 announcements;
//! - [`route_from_client`]: the server's relay decision, the same for every
//!   transport of a Godot 3 session.

mod relay_header;
mod route;
mod system_message;

pub use relay_header::{RelayHeader, RelayHeaderError};
pub use route::{DropReason, Relay, route_from_client};
pub use system_message::{SystemMessage, SystemMessageError};
