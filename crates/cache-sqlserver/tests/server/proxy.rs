//! A TCP proxy on loopback in front of the test server, so a test can take
//! "the server" down and bring it back on the same address without touching
//! the real one.

use std::net::SocketAddr;

use cache_sqlserver::ConnectionString;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Proxy {
    cs: String,
    target: (String, u16),
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    pub async fn start(cs: &str) -> Proxy {
        let parsed = ConnectionString::parse(cs).expect("CACHE_TEST_SQLSERVER parses");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("bound");
        let mut p = Proxy {
            cs: cs.to_owned(),
            target: (parsed.host().to_owned(), parsed.port()),
            addr,
            accept: None,
            conns: Default::default(),
        };
        p.serve(listener);
        p
    }

    /// The test server's connection settings, pointed at the proxy. The
    /// certificate is still checked against the real host name.
    pub fn connection(&self) -> ConnectionString {
        ConnectionString::parse(&self.cs)
            .expect("parses")
            .with_address("127.0.0.1", self.addr.port())
    }

    fn serve(&mut self, listener: TcpListener) {
        let target = self.target.clone();
        let conns = std::sync::Arc::clone(&self.conns);
        self.accept = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) =
                        TcpStream::connect((target.0.as_str(), target.1)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns.lock().unwrap().push(task);
            }
        }));
    }

    /// Refuses new connections and cuts every open one.
    pub fn stop(&mut self) {
        if let Some(a) = self.accept.take() {
            a.abort();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn resume(&mut self) {
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot listen on {} again: {e}", self.addr),
            }
        };
        self.serve(listener);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}
