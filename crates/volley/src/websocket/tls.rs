//! `wss://`: TLS with rustls (ring provider) under the WebSocket, on the
//! same non-blocking TCP stream (feature `tls`).
//!
//! A server needs its certificate chain and private key, from PEM files
//! ([`server_config_from_pem_files`]); a client needs the certificates it
//! trusts ([`client_config_from_ca_pem_file`]), or any
//! `rustls::ClientConfig` the application builds (with a system or webpki
//! root store, say).
//!
//! ```no_run
//! use volley::websocket::tls;
//!
//! let server = tls::server_config_from_pem_files("cert.pem", "key.pem")?;
//! let client = tls::client_config_from_ca_pem_file("ca.pem")?;
//! # Ok::<(), volley::websocket::tls::TlsConfigError>(())
//! ```

use std::fmt;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use mio::net::TcpStream;
pub use rustls::pki_types::ServerName;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig};
use rustls::{ServerConnection, crypto};

/// Why a TLS configuration could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// A PEM file could not be read or parsed.
    Pem(pem::Error),
    /// The PEM input held no certificate.
    NoCertificates,
    /// rustls refused the certificates or key (mismatched key, unsupported
    /// algorithm, a CA certificate that is not one).
    Rustls(rustls::Error),
}

impl fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pem(e) => write!(f, "cannot read PEM: {e}"),
            Self::NoCertificates => f.write_str("the PEM input holds no certificate"),
            Self::Rustls(e) => write!(f, "TLS configuration refused: {e}"),
        }
    }
}

impl std::error::Error for TlsConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Pem(e) => Some(e),
            Self::Rustls(e) => Some(e),
            Self::NoCertificates => None,
        }
    }
}

impl From<pem::Error> for TlsConfigError {
    fn from(e: pem::Error) -> Self {
        Self::Pem(e)
    }
}

impl From<rustls::Error> for TlsConfigError {
    fn from(e: rustls::Error) -> Self {
        Self::Rustls(e)
    }
}

/// A server configuration presenting the certificate chain in `cert_chain`
/// (leaf first) with the private key in `key` (PKCS#8, PKCS#1 or SEC1),
/// both PEM files; TLS 1.2 and 1.3, no client certificates.
pub fn server_config_from_pem_files(
    cert_chain: impl AsRef<Path>,
    key: impl AsRef<Path>,
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let certs = CertificateDer::pem_file_iter(cert_chain)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key)?;
    server_config(certs, key)
}

/// [`server_config_from_pem_files`] from PEM bytes in memory.
pub fn server_config_from_pem(
    cert_chain: &[u8],
    key: &[u8],
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let certs = CertificateDer::pem_slice_iter(cert_chain).collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_slice(key)?;
    server_config(certs, key)
}

fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    if certs.is_empty() {
        return Err(TlsConfigError::NoCertificates);
    }
    let config = ServerConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(Arc::new(config))
}

/// A client configuration trusting exactly the certificates in the PEM file
/// `ca` (a private CA, or a self-signed server certificate).
pub fn client_config_from_ca_pem_file(
    ca: impl AsRef<Path>,
) -> Result<Arc<ClientConfig>, TlsConfigError> {
    let certs = CertificateDer::pem_file_iter(ca)?.collect::<Result<Vec<_>, _>>()?;
    client_config(certs)
}

/// [`client_config_from_ca_pem_file`] from PEM bytes in memory.
pub fn client_config_from_ca_pem(ca: &[u8]) -> Result<Arc<ClientConfig>, TlsConfigError> {
    let certs = CertificateDer::pem_slice_iter(ca).collect::<Result<Vec<_>, _>>()?;
    client_config(certs)
}

fn client_config(certs: Vec<CertificateDer<'static>>) -> Result<Arc<ClientConfig>, TlsConfigError> {
    if certs.is_empty() {
        return Err(TlsConfigError::NoCertificates);
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert)?;
    }
    let config = ClientConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// TLS over a non-blocking TCP stream, as `Read + Write` for tungstenite.
///
/// Reading pulls TLS records from the socket until plaintext is there (or
/// the socket would block); writing hands plaintext to rustls and pushes
/// what rustls has to send. The handshake runs inside the first reads and
/// writes, so the WebSocket handshake drives it without knowing.
pub(crate) struct TlsStream {
    tcp: TcpStream,
    tls: Connection,
}

impl fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream").field("tcp", &self.tcp).finish_non_exhaustive()
    }
}

impl TlsStream {
    /// The server side of an accepted connection.
    pub(crate) fn server(tcp: TcpStream, config: Arc<ServerConfig>) -> Result<Self, rustls::Error> {
        Ok(Self { tcp, tls: ServerConnection::new(config)?.into() })
    }

    /// The client side of a dialled connection to `name`.
    pub(crate) fn client(
        tcp: TcpStream,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> Result<Self, rustls::Error> {
        Ok(Self { tcp, tls: ClientConnection::new(config, name)?.into() })
    }

    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    pub(crate) fn tcp_mut(&mut self) -> &mut TcpStream {
        &mut self.tcp
    }

    /// Moves what rustls has to send to the socket, until it is all out or
    /// the socket would block.
    fn send_tls(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            self.tls.write_tls(&mut self.tcp)?;
        }
        Ok(())
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // Plaintext, a clean end (close_notify), or an unclean one.
                done => return done,
            }
            if self.tls.read_tls(&mut self.tcp)? == 0 {
                // TCP ended: the reader now reports how (never WouldBlock).
                continue;
            }
            let processed = self.tls.process_new_packets();
            // Handshake replies, or the alert telling the peer what failed.
            match self.send_tls() {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                _ => {}
            }
            processed.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut taken = self.tls.writer().write(buf)?;
        if taken == 0 && !buf.is_empty() {
            // rustls' buffer is full: make room, then try once more. Never
            // report 0 bytes written, which means "closed" to a writer.
            self.send_tls()?;
            taken = self.tls.writer().write(buf)?;
            if taken == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
        }
        match self.send_tls() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(taken),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_tls()
    }
}
