//! A minimal HTTP/1.1 server on 127.0.0.1 for browser tests: serves one
//! page at `/` and hands every other request to the test, which answers it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread;
use std::time::Duration;

/// A request the test answers: its path, its body, and where the reply goes.
pub(crate) struct Request {
    pub(crate) path: String,
    pub(crate) body: String,
    pub(crate) reply: Sender<String>,
}

/// Starts the server; returns its address and the requests for the test.
pub(crate) fn serve(page: &'static str) -> (SocketAddr, Receiver<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the test HTTP server");
    let addr = listener.local_addr().expect("bound");
    let (requests, received) = channel();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let requests = requests.clone();
            thread::spawn(move || {
                let _ = handle(stream, page, &requests);
            });
        }
    });
    (addr, received)
}

fn handle(stream: TcpStream, page: &str, requests: &Sender<Request>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let (content_type, reply) = if path == "/" || path.starts_with("/?") {
        ("text/html; charset=utf-8", page.to_owned())
    } else if path == "/favicon.ico" {
        ("text/plain", String::new())
    } else {
        let (reply, answer) = channel();
        let body = String::from_utf8_lossy(&body).into_owned();
        let _ = requests.send(Request { path, body, reply });
        (
            "text/plain; charset=utf-8",
            answer.recv_timeout(Duration::from_secs(30)).unwrap_or_default(),
        )
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{reply}",
        reply.len()
    )?;
    stream.flush()
}
