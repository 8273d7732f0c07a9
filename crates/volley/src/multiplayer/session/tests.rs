//! The core driven by scripted link events, with every action it takes on
//! its links recorded: no sockets, no clock, exact bytes.

use volley_proto::TransferMode;

use super::link::{Departure, DownCause, IdClaim, Lane, LinkEvent, LinkId, LinkSendError, Links};
use super::{ClientState, Core, CoreConfig, Role, SessionOptions};
use crate::multiplayer::framing::{LinkFraming, RefuseReason, WireProfile};
use crate::multiplayer::{
    ConnectionStatus, DepartureReason, Incoming, PeerEvent, PeerId, PutPacketError, Target,
};

pub(super) fn id(raw: u32) -> PeerId {
    PeerId::try_from(raw).expect("valid test id")
}

pub(super) fn link(transport: u16, slot: u32) -> LinkId {
    LinkId { transport, slot }
}

pub(super) const RELIABLE_0: Lane = Lane::RELIABLE_0;

pub(super) fn lane(channel: u8, mode: TransferMode) -> Lane {
    Lane::User { channel, mode }
}

/// Links that record what the core asks of them.
#[derive(Debug, Default)]
pub(super) struct Recorder {
    /// The framing of each transport, by index (default: Scene).
    pub(super) framings: Vec<LinkFraming>,
    pub(super) sent: Vec<(LinkId, Lane, Vec<u8>)>,
    pub(super) accepted: Vec<(LinkId, PeerId)>,
    pub(super) refused: Vec<(LinkId, RefuseReason)>,
    pub(super) disconnected: Vec<(LinkId, Departure, u32)>,
    pub(super) recycled: Vec<(u16, Vec<u8>)>,
    /// Links that refuse sends with this error.
    pub(super) failing: Vec<(LinkId, LinkSendError)>,
    /// What `redial` answers.
    pub(super) redial_to: Option<LinkId>,
    pub(super) redials: Vec<(LinkId, PeerId)>,
}

impl Recorder {
    pub(super) fn with(framings: &[LinkFraming]) -> Self {
        Self { framings: framings.to_vec(), ..Self::default() }
    }

    /// Everything sent to `to`, in order.
    pub(super) fn sent_to(&self, to: LinkId) -> Vec<(Lane, Vec<u8>)> {
        self.sent.iter().filter(|(l, ..)| *l == to).map(|(_, lane, b)| (*lane, b.clone())).collect()
    }

    pub(super) fn forget(&mut self) {
        self.sent.clear();
        self.disconnected.clear();
        self.recycled.clear();
    }
}

impl Links for Recorder {
    fn framing(&self, link: LinkId) -> LinkFraming {
        self.framings.get(usize::from(link.transport)).copied().unwrap_or(LinkFraming::Scene)
    }

    fn send(&mut self, link: LinkId, lane: Lane, bytes: &[u8]) -> Result<(), LinkSendError> {
        if let Some((_, error)) = self.failing.iter().find(|(l, _)| *l == link) {
            return Err(*error);
        }
        self.sent.push((link, lane, bytes.to_vec()));
        Ok(())
    }

    fn accept(&mut self, link: LinkId, id: PeerId) -> bool {
        self.accepted.push((link, id));
        true
    }

    fn refuse(&mut self, link: LinkId, reason: RefuseReason) -> bool {
        self.refused.push((link, reason));
        true
    }

    fn disconnect(&mut self, link: LinkId, departure: Departure, data: u32) -> bool {
        self.disconnected.push((link, departure, data));
        true
    }

    fn redial(&mut self, link: LinkId, id: PeerId) -> Option<LinkId> {
        self.redials.push((link, id));
        self.redial_to
    }

    fn recycle(&mut self, transport: u16, buffer: Vec<u8>) {
        self.recycled.push((transport, buffer));
    }
}

pub(super) fn config(role: Role, profile: WireProfile, options: SessionOptions) -> CoreConfig {
    CoreConfig { role, profile, channels: 3, max_clients: 8, max_frame_size: 1000, options }
}

/// A server core of `profile`, seeded.
pub(super) fn server(profile: WireProfile, options: SessionOptions) -> Core {
    let mut core = Core::new(config(Role::Server, profile, options.id_seed(1)), PeerId::SERVER);
    core.status = ConnectionStatus::Connected;
    core
}

/// A client core of `profile` whose server link is `link(0, 0)`, up.
pub(super) fn client(profile: WireProfile, own: u32, links: &mut Recorder) -> Core {
    let options = SessionOptions::default().id_seed(2);
    let mut core = Core::new(config(Role::Client, profile, options), id(own));
    core.add_dialled(link(0, 0), PeerId::SERVER);
    core.status = ConnectionStatus::Connecting;
    core.client = Some(ClientState::new(2));
    core.handle(links, LinkEvent::Up { link: link(0, 0), assigned_id: None });
    core
}

/// Joins `raw` on `at` to a server core and brings it up.
pub(super) fn join(core: &mut Core, links: &mut Recorder, at: LinkId, raw: u32) {
    core.handle(
        links,
        LinkEvent::JoinRequest { link: at, claim: IdClaim::Offered(raw), objection: None },
    );
    core.handle(links, LinkEvent::Up { link: at, assigned_id: None });
}

pub(super) fn receive(
    core: &mut Core,
    links: &mut Recorder,
    from: LinkId,
    lane: Lane,
    bytes: &[u8],
) {
    core.handle(links, LinkEvent::Received { link: from, lane, payload: bytes.to_vec() });
}

/// Everything the application would read, in order.
pub(super) fn drain(core: &mut Core) -> Vec<Incoming> {
    std::iter::from_fn(|| core.next_incoming()).collect()
}

pub(super) fn packet(from: u32, lane: Lane, payload: &[u8]) -> Incoming {
    let Lane::User { channel, mode } = lane else { panic!("packets travel on user lanes") };
    Incoming::Packet(crate::multiplayer::Packet {
        from: id(from),
        channel,
        mode,
        payload: payload.to_vec(),
    })
}

pub(super) fn event(event: PeerEvent) -> Incoming {
    Incoming::Event(event)
}

#[test]
fn admission_checks_capacity_then_the_transport_then_the_id() {
    let mut links = Recorder::default();
    let mut core = Core::new(
        CoreConfig {
            max_clients: 2,
            ..config(Role::Server, WireProfile::Relay, Default::default())
        },
        PeerId::SERVER,
    );
    let request =
        |slot, claim, objection| LinkEvent::JoinRequest { link: link(0, slot), claim, objection };
    core.handle(&mut links, request(0, IdClaim::Offered(0), None));
    core.handle(&mut links, request(1, IdClaim::Offered(1), None));
    core.handle(&mut links, request(2, IdClaim::Offered(0x8000_0000), None));
    core.handle(&mut links, request(3, IdClaim::Chosen(PeerId::SERVER), None));
    core.handle(&mut links, request(4, IdClaim::Offered(7), Some(RefuseReason::TooFewChannels)));
    core.handle(&mut links, request(5, IdClaim::Offered(7), None));
    core.handle(&mut links, request(6, IdClaim::Chosen(id(7)), None));
    core.handle(&mut links, request(7, IdClaim::Assign, None));
    core.handle(&mut links, request(8, IdClaim::Offered(9), None));
    assert_eq!(
        links.refused,
        [
            (link(0, 0), RefuseReason::InvalidId),
            (link(0, 1), RefuseReason::InvalidId),
            (link(0, 2), RefuseReason::InvalidId),
            (link(0, 3), RefuseReason::InvalidId),
            (link(0, 4), RefuseReason::TooFewChannels),
            (link(0, 6), RefuseReason::DuplicateId),
            (link(0, 8), RefuseReason::ServerFull),
        ]
    );
    assert_eq!(links.accepted.len(), 2);
    assert_eq!(links.accepted[0], (link(0, 5), id(7)));
    let (assigned_link, assigned) = links.accepted[1];
    assert_eq!(assigned_link, link(0, 7));
    assert!(assigned.get() >= 2 && assigned != id(7), "a fresh id: {assigned}");
    assert_eq!(core.stats.connections_refused, 7);

    // Refusing connections comes before everything.
    core.refuse_new_connections = true;
    core.handle(&mut links, request(9, IdClaim::Offered(7), Some(RefuseReason::TooFewChannels)));
    assert_eq!(links.refused.last(), Some(&(link(0, 9), RefuseReason::RefusingConnections)));
}

#[test]
fn mesh_peers_take_any_id_but_their_own_and_clients_take_none() {
    let mut links = Recorder::default();
    let mut mesh = Core::new(config(Role::Mesh, WireProfile::Godot4, Default::default()), id(5));
    let request = |claim| LinkEvent::JoinRequest { link: link(0, 0), claim, objection: None };
    mesh.handle(&mut links, request(IdClaim::Offered(1)));
    mesh.handle(&mut links, request(IdClaim::Offered(5)));
    assert_eq!(links.accepted, [(link(0, 0), PeerId::SERVER)]);
    assert_eq!(links.refused, [(link(0, 0), RefuseReason::DuplicateId)]);
    let mut client = client(WireProfile::Godot4, 5, &mut links);
    client.handle(&mut links, request(IdClaim::Offered(9)));
    assert_eq!(links.refused.last(), Some(&(link(0, 0), RefuseReason::RefusingConnections)));
}

#[test]
fn a_relay_server_announces_in_each_links_framing_and_forwards_the_original_bytes() {
    let framings = [LinkFraming::EnetGodot3, LinkFraming::EnetGodot3];
    let mut links = Recorder::with(&framings);
    let mut core = server(WireProfile::Relay, SessionOptions::default());
    join(&mut core, &mut links, link(0, 0), 2);
    join(&mut core, &mut links, link(1, 4), 3);
    assert_eq!(links.sent_to(link(0, 0)), [(Lane::System, vec![0, 0, 0, 0, 3, 0, 0, 0])]);
    assert_eq!(links.sent_to(link(1, 4)), [(Lane::System, vec![0, 0, 0, 0, 2, 0, 0, 0])]);
    assert_eq!(
        drain(&mut core),
        [event(PeerEvent::Connected(id(2))), event(PeerEvent::Connected(id(3)))]
    );
    links.forget();

    // 2 broadcasts on channel 2, unreliable: 3 gets the same bytes on the
    // same lane, across transports; the server gets the user's bytes.
    let unreliable = lane(2, TransferMode::Unreliable);
    let packet_bytes = [2, 0, 0, 0, 0, 0, 0, 0, b'h', b'i'];
    receive(&mut core, &mut links, link(0, 0), unreliable, &packet_bytes);
    assert_eq!(links.sent, [(link(1, 4), unreliable, packet_bytes.to_vec())]);
    assert_eq!(drain(&mut core), [packet(2, unreliable, b"hi")]);
    assert_eq!(core.stats.packets_relayed, 1);

    // Leaving is announced to the rest.
    links.forget();
    core.handle(&mut links, LinkEvent::Down { link: link(0, 0), cause: DownCause::Remote(2) });
    assert_eq!(links.sent, [(link(1, 4), Lane::System, vec![1, 0, 0, 0, 2, 0, 0, 0])]);
    assert_eq!(drain(&mut core), [event(PeerEvent::Disconnected(id(2), DepartureReason::Closed))]);
}

#[test]
fn a_client_refused_for_its_id_redials_with_a_fresh_one() {
    let mut links = Recorder { redial_to: Some(link(0, 1)), ..Recorder::default() };
    let options = SessionOptions::default().id_seed(3);
    let mut core = Core::new(config(Role::Client, WireProfile::Relay, options), id(77));
    core.add_dialled(link(0, 0), PeerId::SERVER);
    core.status = ConnectionStatus::Connecting;
    core.client = Some(ClientState::new(1));
    let refused = DownCause::Refused(RefuseReason::DuplicateId.code());
    core.handle(&mut links, LinkEvent::Down { link: link(0, 0), cause: refused });
    assert_eq!(links.redials.len(), 1);
    let fresh = links.redials[0].1;
    assert_ne!(fresh, id(77));
    assert_eq!(core.unique_id, fresh);
    assert_eq!(core.status, ConnectionStatus::Connecting);
    assert_eq!(drain(&mut core), [], "nothing under either id yet");
    // Out of retries: the attempt ends.
    core.handle(&mut links, LinkEvent::Down { link: link(0, 1), cause: refused });
    assert_eq!(links.redials.len(), 1);
    assert_eq!(core.status, ConnectionStatus::Disconnected);
    assert_eq!(core.refusal, Some(RefuseReason::DuplicateId));
}

#[test]
fn recycled_buffers_go_back_to_the_transport_that_lent_most() {
    let mut links = Recorder::default();
    let mut core = server(WireProfile::Godot4, SessionOptions::default().server_relay(false));
    join(&mut core, &mut links, link(0, 0), 2);
    join(&mut core, &mut links, link(1, 0), 3);
    drain(&mut core);
    for from in [link(1, 0), link(1, 0), link(0, 0)] {
        receive(&mut core, &mut links, from, RELIABLE_0, b"x");
    }
    let taken = drain(&mut core);
    assert_eq!(taken.len(), 3);
    for _ in 0..3 {
        core.recycle(&mut links, Vec::new());
    }
    let mut owners: Vec<u16> = links.recycled.iter().map(|(t, _)| *t).collect();
    assert_eq!(owners[0], 1, "transport 1 lent most");
    owners.sort_unstable();
    assert_eq!(owners, [0, 1, 1], "two back to transport 1, one to 0");
}

#[test]
fn a_broadcast_fans_out_and_counts_links_that_refuse_a_copy() {
    let framings = [LinkFraming::EnetGodot3];
    let mut links = Recorder::with(&framings);
    let mut core = server(WireProfile::Relay, SessionOptions::default());
    for (slot, raw) in [(0, 2), (1, 3), (2, 4)] {
        join(&mut core, &mut links, link(0, slot), raw);
    }
    links.forget();
    links.failing = vec![(link(0, 1), LinkSendError::QueueFull)];
    core.target = Target::Broadcast;
    core.put(&mut links, b"all").expect("broadcast");
    let expected = [1, 0, 0, 0, 0, 0, 0, 0, b'a', b'l', b'l'].to_vec();
    let reliable = lane(0, TransferMode::Reliable);
    assert_eq!(
        links.sent,
        [(link(0, 0), reliable, expected.clone()), (link(0, 2), reliable, expected)]
    );
    assert_eq!(core.stats.copies_failed, 1);
    core.target = Target::Peer(id(3));
    assert_eq!(core.put(&mut links, b"one"), Err(PutPacketError::QueueFull(id(3))));
    links.failing = vec![(link(0, 1), LinkSendError::Channel { highest: Some(0) })];
    core.transfer_channel = 2;
    assert!(matches!(core.put(&mut links, b"one"), Err(PutPacketError::Channel(_))));
}

// ---------------------------------------------------------------- Godot 4

fn godot4_server(options: SessionOptions) -> (Core, Recorder) {
    let mut links = Recorder::default();
    let mut core = server(WireProfile::Godot4, options);
    for (slot, raw) in [(0, 0x2B), (1, 0x5C), (2, 0x77)] {
        join(&mut core, &mut links, link(0, slot), raw);
    }
    drain(&mut core);
    links.forget();
    (core, links)
}

#[test]
fn a_godot4_server_announces_each_client_once_both_ways() {
    let mut links = Recorder::default();
    let mut core = server(WireProfile::Godot4, SessionOptions::default());
    join(&mut core, &mut links, link(0, 0), 0x2B);
    assert_eq!(links.sent, [], "nobody to tell yet; never ADD(1) or ADD(self)");
    join(&mut core, &mut links, link(0, 1), 0x5C);
    assert_eq!(
        links.sent,
        [
            (link(0, 1), RELIABLE_0, vec![0x07, 0x01, 0x2B, 0, 0, 0]),
            (link(0, 0), RELIABLE_0, vec![0x07, 0x01, 0x5C, 0, 0, 0]),
        ]
    );
    links.forget();
    core.handle(&mut links, LinkEvent::Down { link: link(0, 0), cause: DownCause::Remote(0) });
    assert_eq!(links.sent, [(link(0, 1), RELIABLE_0, vec![0x07, 0x02, 0x2B, 0, 0, 0])]);
}

#[test]
fn a_godot4_server_rewrites_relays_in_place_and_keeps_their_lane() {
    let (mut core, mut links) = godot4_server(SessionOptions::default());
    let unreliable = lane(0, TransferMode::Unreliable);
    // §1.5: 0x2B to 0x5C.
    receive(&mut core, &mut links, link(0, 0), unreliable, &[7, 3, 0x5C, 0, 0, 0, 3, b'h', b'i']);
    assert_eq!(links.sent, [(link(0, 1), unreliable, vec![7, 3, 0x2B, 0, 0, 0, 3, b'h', b'i'])]);
    assert_eq!(drain(&mut core), []);
    assert_eq!(links.recycled.len(), 1, "the buffer goes back to its transport");
    // Every destination kind: who gets a copy, whether the server keeps it.
    let cases: [(i32, &[LinkId], bool); 5] = [
        (0, &[link(0, 1), link(0, 2)], true),
        (-1, &[link(0, 1), link(0, 2)], false),
        (-0x5C, &[link(0, 2)], true),
        (-0x2B, &[link(0, 1), link(0, 2)], true),
        (0x2B, &[link(0, 0)], false),
    ];
    for (destination, copies, consumed) in cases {
        links.forget();
        let mut relay = [7, 3, 0, 0, 0, 0, 3, b'x'];
        relay[2..6].copy_from_slice(&destination.to_le_bytes());
        receive(&mut core, &mut links, link(0, 0), RELIABLE_0, &relay);
        let rewritten = vec![7, 3, 0x2B, 0, 0, 0, 3, b'x'];
        let expected: Vec<_> =
            copies.iter().map(|&to| (to, RELIABLE_0, rewritten.clone())).collect();
        assert_eq!(links.sent, expected, "{destination}");
        let delivered = drain(&mut core);
        let expected = if consumed { vec![packet(0x2B, RELIABLE_0, &[3, b'x'])] } else { vec![] };
        assert_eq!(delivered, expected, "{destination}");
    }
    // Gone, the server, and -2^31: dropped and counted.
    links.forget();
    for destination in [0x99, 1, i32::MIN] {
        let mut packet = [7, 3, 0, 0, 0, 0, 3];
        packet[2..6].copy_from_slice(&destination.to_le_bytes());
        receive(&mut core, &mut links, link(0, 0), RELIABLE_0, &packet);
    }
    assert_eq!(links.sent, []);
    assert_eq!(core.stats.dropped_unroutable, 3);
}

#[test]
fn godot4_raw_packets_are_framed_and_unframed() {
    let (mut core, mut links) = godot4_server(SessionOptions::default().raw_packets(true));
    core.target = Target::Peer(id(0x5C));
    core.put(&mut links, &[7, 1]).expect("with RAW any first byte goes");
    assert_eq!(links.sent, [(link(0, 1), RELIABLE_0, vec![3, 7, 1])]);
    receive(&mut core, &mut links, link(0, 0), RELIABLE_0, &[3, b'h', b'i']);
    receive(&mut core, &mut links, link(0, 0), RELIABLE_0, &[0, 1, 2]); // an RPC
    receive(&mut core, &mut links, link(0, 0), RELIABLE_0, &[3]); // RAW without data
    assert_eq!(drain(&mut core), [packet(0x2B, RELIABLE_0, b"hi")]);
    assert_eq!(core.stats.dropped_not_raw, 2);
    assert_eq!(core.max_packet_size, 999, "one byte for the 03");
}

#[test]
fn a_godot4_client_wraps_what_is_not_for_the_server() {
    let mut links = Recorder::default();
    let mut core = client(WireProfile::Godot4, 0x2B, &mut links);
    assert_eq!(drain(&mut core), [event(PeerEvent::Connected(PeerId::SERVER))]);
    assert_eq!(core.max_packet_size, 994, "room for the relay header");
    receive(&mut core, &mut links, link(0, 0), RELIABLE_0, &[7, 1, 0x5C, 0, 0, 0]);
    assert_eq!(drain(&mut core), [event(PeerEvent::Connected(id(0x5C)))]);
    let sends: [(Target, &[u8]); 4] = [
        (Target::Peer(id(0x5C)), &[7, 3, 0x5C, 0, 0, 0, 3, b'x']),
        (Target::Broadcast, &[7, 3, 0, 0, 0, 0, 3, b'x']),
        (Target::AllExcept(PeerId::SERVER), &[7, 3, 0xFF, 0xFF, 0xFF, 0xFF, 3, b'x']),
        (Target::SERVER, &[3, b'x']),
    ];
    for (target, bytes) in sends {
        links.forget();
        core.target = target;
        core.put(&mut links, &[3, b'x']).expect("sent");
        assert_eq!(links.sent, [(link(0, 0), RELIABLE_0, bytes.to_vec())], "{target}");
    }
    core.target = Target::Peer(id(0x99));
    assert_eq!(core.put(&mut links, b"x"), Err(PutPacketError::UnknownTarget(id(0x99))));
    core.target = Target::SERVER;
    assert_eq!(core.put(&mut links, &[7, 0]), Err(PutPacketError::ReservedCommand(7)));
    assert_eq!(core.put(&mut links, &[]), Err(PutPacketError::EmptyPayload));
    // Relayed packets come out from their source; DEL removes it.
    receive(&mut core, &mut links, link(0, 0), RELIABLE_0, &[7, 3, 0x5C, 0, 0, 0, 3, b'y']);
    receive(&mut core, &mut links, link(0, 0), RELIABLE_0, &[7, 2, 0x5C, 0, 0, 0]);
    assert_eq!(
        drain(&mut core),
        [
            packet(0x5C, RELIABLE_0, &[3, b'y']),
            event(PeerEvent::Disconnected(id(0x5C), DepartureReason::Announced))
        ]
    );
}

#[test]
fn godot4_authentication_admits_when_both_sides_completed_and_times_out_otherwise() {
    let mut links = Recorder::default();
    let options = SessionOptions::default().authentication(true);
    let mut core = server(WireProfile::Godot4, options);
    join(&mut core, &mut links, link(0, 0), 0x2B);
    join(&mut core, &mut links, link(0, 1), 0x5C);
    assert_eq!(
        drain(&mut core),
        [event(PeerEvent::Authenticating(id(0x2B))), event(PeerEvent::Authenticating(id(0x5C)))]
    );
    assert_eq!(links.sent, [], "no announcement while pending");
    receive(&mut core, &mut links, link(0, 0), RELIABLE_0, &[7, 0, b'p', b'w']);
    receive(&mut core, &mut links, link(0, 0), RELIABLE_0, &[3, b'x']); // not auth
    let message = core.next_auth_message().expect("queued");
    assert_eq!((message.from, message.data), (id(0x2B), b"pw".to_vec()));
    assert_eq!(core.stats.dropped_pending, 1);
    core.send_auth(&mut links, id(0x2B), b"ok").expect("pending");
    core.complete_auth(&mut links, id(0x2B)).expect("pending");
    assert_eq!(
        links.sent,
        [(link(0, 0), RELIABLE_0, vec![7, 0, b'o', b'k']), (link(0, 0), RELIABLE_0, vec![7, 0])]
    );
    assert_eq!(drain(&mut core), [], "the remote has not completed");
    receive(&mut core, &mut links, link(0, 0), RELIABLE_0, &[7, 0]);
    assert_eq!(drain(&mut core), [event(PeerEvent::Connected(id(0x2B)))]);
    // 0x5C never completes: dropped with the refusal code, and failed once
    // its link is down.
    links.forget();
    let later = std::time::Instant::now() + std::time::Duration::from_secs(4);
    assert!(core.next_deadline().is_some_and(|at| at < later));
    core.run_timers(&mut links, later);
    let code = RefuseReason::AuthenticationFailed.code();
    assert_eq!(links.disconnected, [(link(0, 1), Departure::Graceful, code)]);
    core.handle(&mut links, LinkEvent::Down { link: link(0, 1), cause: DownCause::Local });
    assert_eq!(drain(&mut core), [event(PeerEvent::AuthenticationFailed(id(0x5C)))]);
    assert_eq!(links.sent, [], "never announced");
}

// ------------------------------------------------------------ robustness

/// Random bytes with a bias towards what the framings read: SYS prefixes,
/// Godot 3 headers with known ids, short packets.
fn random_packet(rng: &mut impl rand::Rng, ids: &[u32]) -> Vec<u8> {
    let len = rng.random_range(0..12);
    let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
    let id = ids[rng.random_range(0..ids.len())];
    match rng.random_range(0..6) {
        0 => {
            let sub = rng.random_range(0..5);
            let peer: i32 = if rng.random() { id as i32 } else { -(id as i32) };
            bytes.splice(0..0, [7, sub].into_iter().chain(peer.to_le_bytes()));
        }
        1 => bytes.splice(0..0, [7, 0]).for_each(drop),
        2 => {
            let target: i32 = rng.random_range(-3..3) * id as i32;
            bytes.splice(0..0, id.to_le_bytes().into_iter().chain(target.to_le_bytes()));
        }
        3 => bytes.splice(0..0, [rng.random_range(0..2), 0, 0, 0]).for_each(drop),
        _ => {}
    }
    bytes
}

/// Thousands of random link events, sends and calls into cores of every
/// role and option: nothing panics, every peer's events pair up, and the
/// application never sees a packet from a peer before that peer's
/// `Connected` (or after it left).
#[test]
fn random_input_never_panics_or_breaks_event_order() {
    use rand::{Rng, SeedableRng};
    let ids = [1, 2, 0x2B, 0x5C, 0x77];
    for seed in 0..48_u64 {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let profile = if seed % 2 == 0 { WireProfile::Relay } else { WireProfile::Godot4 };
        let role = [Role::Server, Role::Client, Role::Mesh][(seed / 2 % 3) as usize];
        let godot4 = profile == WireProfile::Godot4;
        let options = SessionOptions::default()
            .server_relay(seed % 5 != 0)
            .raw_packets(godot4 && seed % 3 == 0)
            .authentication(godot4 && seed % 4 == 1)
            .id_seed(seed);
        let framings = [if godot4 { LinkFraming::Scene } else { LinkFraming::EnetGodot3 }; 2];
        let mut links = Recorder { redial_to: Some(link(0, 7)), ..Recorder::with(&framings) };
        let mut core = Core::new(config(role, profile, options), id(0x2B));
        core.status = ConnectionStatus::Connected;
        if role == Role::Client {
            core.status = ConnectionStatus::Connecting;
            core.add_dialled(link(0, 0), PeerId::SERVER);
            core.client = Some(ClientState::new(2));
        }
        let mut now = std::time::Instant::now();
        let mut present: std::collections::HashSet<PeerId> = std::collections::HashSet::new();
        for _ in 0..4000 {
            let at = link(rng.random_range(0..2), rng.random_range(0..4));
            let id_raw = ids[rng.random_range(0..ids.len())];
            match rng.random_range(0..12) {
                0 => {
                    let claim = match rng.random_range(0..3) {
                        0 => IdClaim::Offered(id_raw),
                        1 => IdClaim::Assign,
                        _ => IdClaim::Chosen(id(id_raw)),
                    };
                    let event = LinkEvent::JoinRequest { link: at, claim, objection: None };
                    core.handle(&mut links, event);
                }
                1 => core.handle(&mut links, LinkEvent::Up { link: at, assigned_id: None }),
                2 => {
                    let cause = [DownCause::Remote(0), DownCause::TimedOut, DownCause::Local]
                        [rng.random_range(0..3)];
                    core.handle(&mut links, LinkEvent::Down { link: at, cause });
                }
                3..=7 => {
                    let lane = if rng.random_range(0..4) == 0 {
                        Lane::System
                    } else {
                        lane(rng.random_range(0..3), TransferMode::Reliable)
                    };
                    let payload = random_packet(&mut rng, &ids);
                    core.handle(&mut links, LinkEvent::Received { link: at, lane, payload });
                }
                8 => {
                    core.target = match rng.random_range(0..3) {
                        0 => Target::Broadcast,
                        1 => Target::Peer(id(id_raw)),
                        _ => Target::AllExcept(id(id_raw)),
                    };
                    core.transfer_channel = rng.random_range(0..4);
                    let _ = core.put(&mut links, &random_packet(&mut rng, &ids));
                }
                9 => {
                    let force = rng.random();
                    match core.disconnect_peer(&mut links, id(id_raw), force) {
                        // A forced disconnect is silent.
                        Ok(close) if force => {
                            present.remove(&id(id_raw));
                            if close {
                                core.close(&mut links);
                                present.clear();
                            }
                        }
                        _ => {}
                    }
                }
                10 => {
                    let _ = core.send_auth(&mut links, id(id_raw), b"x");
                    let _ = core.complete_auth(&mut links, id(id_raw));
                    while let Some(message) = core.next_auth_message() {
                        core.recycle(&mut links, message.data);
                    }
                }
                _ => {
                    now += std::time::Duration::from_secs(1);
                    core.run_timers(&mut links, now);
                }
            }
            links.sent.clear();
            links.recycled.clear();
            while let Some(item) = core.next_incoming() {
                match item {
                    Incoming::Event(PeerEvent::Connected(peer)) => {
                        assert!(present.insert(peer), "seed {seed}: {peer} connected twice");
                    }
                    Incoming::Event(PeerEvent::Disconnected(peer, _)) => {
                        assert!(present.remove(&peer), "seed {seed}: {peer} left unseen");
                    }
                    Incoming::Packet(packet) => {
                        assert!(present.contains(&packet.from), "seed {seed}: {}", packet.from);
                        core.recycle(&mut links, packet.payload);
                    }
                    Incoming::Event(_) => {}
                }
            }
        }
    }
}
