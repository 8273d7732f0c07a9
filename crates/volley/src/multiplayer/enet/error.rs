//! Why an ENet-backed peer could not dial a mesh peer.

use std::fmt;

use crate::HostError;
use crate::multiplayer::PeerId;

/// Why [`EnetMultiplayerPeer::add_mesh_peer`](super::EnetMultiplayerPeer::add_mesh_peer)
/// did not start a connection.
#[derive(Debug)]
#[non_exhaustive]
pub enum AddMeshPeerError {
    /// The peer was created as a server or a client; only a mesh peer dials
    /// other peers.
    NotMesh,
    /// The peer was closed.
    Closed,
    /// The id is this peer's own, or a connection with it exists or is
    /// being set up. Connect each pair of mesh peers once, from one side.
    DuplicateId(PeerId),
    /// The host could not start the connection (no free peer slot).
    Host(HostError),
}

impl fmt::Display for AddMeshPeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotMesh => f.write_str("cannot add a mesh peer: not in mesh mode"),
            Self::Closed => f.write_str("cannot add a mesh peer: the peer is closed"),
            Self::DuplicateId(id) => {
                write!(f, "cannot add mesh peer {id}: the id is taken")
            }
            Self::Host(e) => write!(f, "cannot add a mesh peer: {e}"),
        }
    }
}

impl std::error::Error for AddMeshPeerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Host(e) => Some(e),
            _ => None,
        }
    }
}

impl From<HostError> for AddMeshPeerError {
    fn from(e: HostError) -> Self {
        Self::Host(e)
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;
    use std::io;

    use super::*;

    #[test]
    fn errors_explain_themselves() {
        let id = PeerId::try_from(5_u32).expect("valid");
        assert_eq!(
            AddMeshPeerError::DuplicateId(id).to_string(),
            "cannot add mesh peer 5: the id is taken"
        );
        assert_eq!(
            AddMeshPeerError::NotMesh.to_string(),
            "cannot add a mesh peer: not in mesh mode"
        );
        assert_eq!(
            AddMeshPeerError::Closed.to_string(),
            "cannot add a mesh peer: the peer is closed"
        );
        let host = AddMeshPeerError::from(HostError::Io(io::Error::other("full")));
        assert!(host.source().is_some());
        assert!(AddMeshPeerError::Closed.source().is_none());
    }
}
