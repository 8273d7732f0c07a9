//! A chat room for desktop (ENet) and browser (WebSocket) clients at once,
//! on a Volley server session in Godot 3's framing (the relay profile).
//!
//! ```text
//! cargo run -p volley --example chat -- server 127.0.0.1:7777 --web 127.0.0.1:7778
//! cargo run -p volley --example chat -- client 127.0.0.1:7777 alice
//! cargo run -p volley --example chat -- client ws://127.0.0.1:7778/ bob
//! ```
//!
//! and open `crates/volley/examples/chat.html` in a browser: it joins the
//! same room over WebSocket. Every line typed is sent to everyone; `/msg ID
//! text` sends to one peer (through the server, for clients), `/who` lists
//! who is here, `/quit` leaves. Joins and leaves are printed as they happen.

use std::collections::BTreeSet;
use std::io::BufRead;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use volley::multiplayer::enet::{EnetListener, EnetMultiplayerPeer, EnetPeerOptions};
use volley::multiplayer::framing::{RefuseReason, WireProfile};
use volley::multiplayer::session::ServerSession;
use volley::multiplayer::websocket::{WebSocketMultiplayerPeer, WsClientOptions, WsListener};
use volley::multiplayer::{
    ConnectionStatus, Incoming, MultiplayerPeer, PeerEvent, PeerId, PutPacketError, Target,
};

/// A peer of the chat: a server session, or a client of either transport.
trait ChatPeer: MultiplayerPeer {
    /// Why the server turned this client away, if it said.
    fn refusal(&self) -> Option<RefuseReason> {
        None
    }
}

impl ChatPeer for ServerSession {}

impl ChatPeer for EnetMultiplayerPeer {
    fn refusal(&self) -> Option<RefuseReason> {
        Self::refusal(self)
    }
}

impl ChatPeer for WebSocketMultiplayerPeer {
    fn refusal(&self) -> Option<RefuseReason> {
        Self::refusal(self)
    }
}

const USAGE: &str = "usage: chat server ADDR [--web WS_ADDR] | chat client ADDR NAME | chat client ws://WS_ADDR/ NAME";
/// How long a frame of the loop waits for the network.
const FRAME: Duration = Duration::from_millis(50);
/// How long leaving waits for the server to acknowledge.
const GOODBYE: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (peer, name) = match start(&args) {
        Ok(started) => started,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(peer, &name, stdin_lines()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Creates the peer the command line asks for, and the name to chat under.
fn start(args: &[String]) -> Result<(Box<dyn ChatPeer>, String), String> {
    let parse = |addr: &str| addr.parse::<SocketAddr>().map_err(|e| format!("{addr}: {e}"));
    let profile = WireProfile::Relay;
    match args {
        [role, addr, rest @ ..] if role == "server" => {
            let mut builder = ServerSession::builder(profile)
                .max_clients(32)
                .enet(EnetListener::new(parse(addr)?));
            match rest {
                [] => {}
                [flag, web] if flag == "--web" => {
                    builder = builder.websocket(WsListener::new(parse(web)?));
                }
                _ => return Err(USAGE.to_owned()),
            }
            let session = builder.build().map_err(|e| e.to_string())?;
            for index in 0..session.listener_count() {
                if let Some(bound) = session.local_addr(index) {
                    let kind = if index == 0 { "ENet (UDP)" } else { "WebSocket (TCP)" };
                    println!("serving {kind} on {bound}");
                }
            }
            Ok((Box::new(session), "server".to_owned()))
        }
        [role, url, name] if role == "client" && url.starts_with("ws") => {
            let options = WsClientOptions::default();
            let peer = WebSocketMultiplayerPeer::create_client(url, profile, options)
                .map_err(|e| e.to_string())?;
            println!("connecting to {url}...");
            Ok((Box::new(peer), name.clone()))
        }
        [role, addr, name] if role == "client" => {
            let options = EnetPeerOptions::default();
            let peer = EnetMultiplayerPeer::create_client(parse(addr)?, 1, profile, options)
                .map_err(|e| e.to_string())?;
            println!("connecting to {addr}...");
            Ok((Box::new(peer), name.clone()))
        }
        _ => Err(USAGE.to_owned()),
    }
}

/// Lines from standard input, read on their own thread so the network loop
/// never blocks on the keyboard.
fn stdin_lines() -> Receiver<String> {
    let (lines, receiver) = mpsc::channel();
    thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

fn run(mut peer: Box<dyn ChatPeer>, name: &str, input: Receiver<String>) -> Result<(), String> {
    let mut present = BTreeSet::new();
    let mut was_connected = false;
    loop {
        peer.poll_timeout(FRAME).map_err(|e| e.to_string())?;
        while let Some(incoming) = peer.next_incoming() {
            show(&mut *peer, incoming, &mut present);
        }
        match peer.connection_status() {
            ConnectionStatus::Connected if !was_connected => {
                was_connected = true;
                println!(
                    "you are peer {}; type to chat, /msg ID text, /who, /quit",
                    peer.unique_id()
                );
            }
            ConnectionStatus::Disconnected => {
                return Err(match peer.refusal() {
                    Some(reason) => format!("could not join: {reason}"),
                    None if was_connected => "the server is gone".to_owned(),
                    None => "could not reach the server".to_owned(),
                });
            }
            _ => {}
        }
        let line = match input.try_recv() {
            Ok(line) => line,
            Err(TryRecvError::Empty) => continue,
            Err(TryRecvError::Disconnected) => "/quit".to_owned(),
        };
        let command = command(&line);
        if let Command::Quit = command {
            leave(&mut *peer);
            return Ok(());
        }
        if !was_connected {
            println!("(not connected yet)");
            continue;
        }
        match command {
            Command::Quit | Command::Nothing => {}
            Command::Who => {
                let ids: Vec<String> = present.iter().map(PeerId::to_string).collect();
                println!("here: you ({}), {}", peer.unique_id(), ids.join(", "));
            }
            Command::Say(text) => say(&mut *peer, Target::Broadcast, &format!("{name}: {text}")),
            Command::Whisper(to, text) => {
                say(&mut *peer, Target::Peer(to), &format!("{name} (to you): {text}"));
            }
            Command::Invalid(why) => println!("{why}"),
        }
    }
}

fn show(peer: &mut dyn ChatPeer, incoming: Incoming, present: &mut BTreeSet<PeerId>) {
    match incoming {
        Incoming::Packet(packet) => {
            println!("[{}] {}", packet.from, String::from_utf8_lossy(&packet.payload));
            peer.recycle(packet.payload);
        }
        Incoming::Event(PeerEvent::Connected(id)) => {
            present.insert(id);
            println!("* peer {id} joined");
        }
        Incoming::Event(PeerEvent::Disconnected(id, reason)) => {
            present.remove(&id);
            println!("* peer {id} left ({reason})");
        }
        Incoming::Event(_) => {}
    }
}

fn say(peer: &mut dyn ChatPeer, target: Target, text: &str) {
    peer.set_target_peer(target);
    match peer.put_packet(text.as_bytes()) {
        Ok(()) => {}
        Err(PutPacketError::UnknownTarget(id)) => println!("nobody here is peer {id}"),
        Err(e) => println!("not sent: {e}"),
    }
}

/// Leaves politely: a client waits (briefly) for the server to acknowledge.
fn leave(peer: &mut dyn ChatPeer) {
    if peer.is_server() || peer.disconnect_peer(PeerId::SERVER, false).is_err() {
        peer.close();
        return;
    }
    let end = Instant::now() + GOODBYE;
    while peer.connection_status() != ConnectionStatus::Disconnected && Instant::now() < end {
        if peer.poll_timeout(FRAME).is_err() {
            break;
        }
    }
    peer.close();
}

enum Command<'a> {
    Nothing,
    Say(&'a str),
    Whisper(PeerId, &'a str),
    Who,
    Quit,
    Invalid(&'static str),
}

fn command(line: &str) -> Command<'_> {
    let line = line.trim();
    if line.is_empty() {
        return Command::Nothing;
    }
    if line == "/quit" {
        return Command::Quit;
    }
    if line == "/who" {
        return Command::Who;
    }
    let Some(rest) = line.strip_prefix("/msg ") else {
        return if line.starts_with('/') {
            Command::Invalid("commands: /msg ID text, /who, /quit")
        } else {
            Command::Say(line)
        };
    };
    let (id, text) = rest.trim_start().split_once(' ').unwrap_or((rest, ""));
    match id.parse::<u32>().ok().and_then(|id| PeerId::try_from(id).ok()) {
        Some(id) if !text.trim().is_empty() => Command::Whisper(id, text.trim()),
        Some(_) => Command::Invalid("usage: /msg ID text"),
        None => Command::Invalid("usage: /msg ID text (ID is a peer id, 1 is the server)"),
    }
}
