//! A TCP proxy on loopback in front of the test server, so a test can take
//! "the server" down (refuse new connections, cut open ones) and bring it
//! back on the same port, without touching the real server.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Proxy {
    target: (String, u16),
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    pub async fn start() -> Proxy {
        let config =
            tokio_postgres::Config::from_str(&super::common::url()).expect("the URL parses");
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "127.0.0.1".to_owned(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("bound");
        let mut p = Proxy {
            target: (host, port),
            addr,
            accept: None,
            links: Arc::default(),
        };
        p.serve(listener);
        p
    }

    /// The test server's URL, pointed at the proxy.
    pub fn url(&self) -> String {
        let config = tokio_postgres::Config::from_str(&super::common::url()).expect("parses");
        let user = config.get_user().unwrap_or("postgres");
        let db = config.get_dbname().unwrap_or("test");
        format!(
            "postgres://{user}@127.0.0.1:{}/{db}?sslmode=disable",
            self.addr.port()
        )
    }

    fn serve(&mut self, listener: TcpListener) {
        let target = self.target.clone();
        let links = Arc::clone(&self.links);
        self.accept = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) =
                        TcpStream::connect((target.0.as_str(), target.1)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                links.lock().unwrap().push(link);
            }
        }));
    }

    /// Refuses new connections and cuts every open one.
    pub fn stop(&mut self) {
        if let Some(a) = self.accept.take() {
            a.abort();
        }
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn resume(&mut self) {
        for _ in 0..50 {
            if let Ok(listener) = TcpListener::bind(self.addr).await {
                self.serve(listener);
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("cannot listen on {} again", self.addr);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}
